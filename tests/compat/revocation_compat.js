#!/usr/bin/env node
// Revocation on every device transport through the official SDKs (revocation_compat_test.cc
// judges the output): a device app (azure-iot-device over Mqtt, MqttWs, Amqp, AmqpWs or Http)
// receives a C2D message, then the back-end (azure-iothub's Registry) deletes the device, deletes
// and creates it again, disables it, or gives it new keys. The case records what the device app
// saw (its and its transport's 'disconnect' and 'error' events, with how long after the registry
// answered the change), the C2D messages it
// received (one more, sent after the change, must never arrive), what a telemetry send after the
// change gave, and what the service's send after the change gave. Usage:
//   NODE_EXTRA_CA_CERTS=<data dir>/tls/ca.pem node revocation_compat.js config.json
// config.json: {"owner": <iothubowner connection string>, "service": <service connection string>}
'use strict';

const crypto = require('crypto');
const fs = require('fs');
const { Registry, Client, ConnectionString } = require('azure-iothub');
const { Message, NoRetry } = require('azure-iot-common');
const { Client: DeviceClient, SharedAccessKeyAuthenticationProvider } =
  require('azure-iot-device');
const { Mqtt, MqttWs } = require('azure-iot-device-mqtt');
const { Amqp, AmqpWs } = require('azure-iot-device-amqp');
const { Http } = require('azure-iot-device-http');
const { describeError, stepRecorder, printResults } = require('./common');

const config = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const results = {};
const step = stepRecorder(results);
const hostName = ConnectionString.parse(config.owner).HostName;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

const transports = { Mqtt, MqttWs, Amqp, AmqpWs, Http };
const changes = ['delete', 'recreate', 'disable', 'rekey'];

// Resolves once `check()` holds (polled every 50 ms); rejects after `ms` with `what`.
async function waitFor(check, ms, what) {
  const until = Date.now() + ms;
  while (!check()) {
    if (Date.now() > until) throw new Error('timed out waiting for ' + what);
    await sleep(50);
  }
}

// `promise`, or {ok: false, error: "Timeout"} after `ms` (a send the SDK keeps retrying).
function within(promise, ms) {
  return Promise.race([promise, sleep(ms).then(() => ({ ok: false, error: 'Timeout' }))]);
}

function newKey() {
  return crypto.randomBytes(32).toString('base64');
}

function connectionStringOf(device) {
  return `HostName=${hostName};DeviceId=${device.deviceId};SharedAccessKey=` +
    device.authentication.symmetricKey.primaryKey;
}

async function applyChange(registry, change, id) {
  switch (change) {
    case 'delete':
      await registry.delete(id);
      return {};
    case 'recreate': {
      await registry.delete(id);
      const created = (await registry.create({ deviceId: id })).responseBody;
      return { generationId: created.generationId };
    }
    case 'disable': {
      const device = (await registry.get(id)).responseBody;
      device.status = 'disabled';
      await registry.update(device);
      return {};
    }
    case 'rekey': {
      const device = (await registry.get(id)).responseBody;
      device.authentication.symmetricKey = { primaryKey: newKey(), secondaryKey: newKey() };
      await registry.update(device);
      return {};
    }
  }
  throw new Error('unknown change ' + change);
}

async function revocationCase(registry, service, transportName, change) {
  const id = `rv-${transportName.toLowerCase()}-${change}`;
  const device = (await registry.create({ deviceId: id })).responseBody;
  // The transport made here rather than by fromConnectionString, so that its own 'disconnect'
  // event (the connection's end, before the client decides whether to reconnect) is seen too.
  const transport = new transports[transportName](
    SharedAccessKeyAuthenticationProvider.fromConnectionString(connectionStringOf(device)));
  const client = new DeviceClient(transport);
  const events = [];
  transport.on('disconnect', (err) => events.push(Object.assign(
    { event: 'transport disconnect', at: Date.now() }, err ? describeError(err) : {})));
  const received = [];
  client.on('message', (msg) => {
    received.push(msg.messageId);
    client.complete(msg, () => {});
  });
  client.on('error', (err) => events.push(Object.assign({ event: 'error', at: Date.now() },
                                                        describeError(err))));
  client.on('disconnect', (err) => events.push(Object.assign({ event: 'disconnect',
                                                               at: Date.now() },
                                                             err ? describeError(err) : {})));
  await client.open();
  const before = new Message('before');
  before.messageId = 'before';
  await service.send(id, before);
  await waitFor(() => received.includes('before'), 20000, 'the first C2D message');

  const changed = await applyChange(registry, change, id);
  // Event times count from the registry's answer (an event may come before it: negative).
  const changedAt = Date.now();
  // How the app learns that its connection ended (an HTTP device only on its next request).
  await waitFor(() => events.length > 0, 10000, 'a disconnect or error event').catch(() => {});

  const after = new Message('after');
  after.messageId = 'after';
  let sentAfter;
  try {
    sentAfter = { ok: true, result: (await service.send(id, after)).result.constructor.name };
  } catch (err) {
    sentAfter = describeError(err);
  }
  let telemetry;
  try {
    telemetry = await within(client.sendEvent(new Message('after the change'))
      .then((r) => ({ ok: true, result: r && r.constructor ? r.constructor.name : null })), 15000);
  } catch (err) {
    telemetry = describeError(err);
  }
  await sleep(3000);  // a C2D message that reached the old connection late would show up here
  await within(client.close().catch(() => {}), 5000);
  return {
    changed,
    events: events.map((e) => Object.assign({}, e, { ms: e.at - changedAt, at: undefined })),
    received,
    sentAfter,
    telemetry,
  };
}

async function main() {
  const registry = Registry.fromConnectionString(config.owner);
  const service = Client.fromConnectionString(config.service);
  service.setRetryPolicy(new NoRetry());
  await step('open', async () => {
    await service.open();
    return {};
  });
  if (!results.open.ok) return;
  const cases = [];
  for (const transportName of Object.keys(transports)) {
    for (const change of changes) {
      cases.push(step(`${transportName}-${change}`,
                      () => revocationCase(registry, service, transportName, change)));
    }
  }
  await Promise.all(cases);
  await service.close();
  // A closed device client may leave a timer of its transport behind: the results are printed
  // right after this resolves, and the process need not wait for it.
  setTimeout(() => process.exit(), 1000).unref();
}

printResults(main, results);
