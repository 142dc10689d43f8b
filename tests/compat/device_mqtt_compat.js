#!/usr/bin/env node
// Drives a running iothubd with the official device SDK over MQTT (azure-iot-device Client +
// azure-iot-device-mqtt `Mqtt` on 8883 and `MqttWs` on wss://<host>:443/$iothub/websocket, pinned
// in package.json), for device_mqtt_compat_test.cc. Usage:
//   NODE_EXTRA_CA_CERTS=<data dir>/tls/ca.pem node device_mqtt_compat.js <config.json>
// config.json: {"owner": "<iothubowner connection string>", "cli": "<iothub CLI path>",
//               "dataDir": "<the hub's data dir>"}
//
// For each transport, on a device of its own: open; sendEvent with system properties and custom
// properties holding `= & / space + %` (read back through the telemetry REST extension); a C2D
// message sent with `iothub c2d send ... --ack full --wait-feedback` (the CLI, as an operator
// would) received through the 'message' event with every property, then completed (a PUBACK on
// MQTT) — the CLI's output says which feedback it saw. Then the token-renewal reconnect (Mqtt, a
// token valid 8 s renewed 4 s before expiry: the SDK reconnects with CONNECT and no SUBSCRIBE):
// C2D sent after renewals still arrives. And the SDK's view of refusals (wrong key).
//
// stdout gets one JSON object {"<step>": {...}, ...}; this script asserts nothing.
'use strict';

const fs = require('fs');
const https = require('https');
const { execFile } = require('child_process');
const { Client, Message, SharedAccessKeyAuthenticationProvider } = require('azure-iot-device');
const { Mqtt, MqttWs } = require('azure-iot-device-mqtt');
const iothub = require('azure-iothub');
const { SharedAccessSignature } = require('azure-iothub/dist/common-core/shared_access_signature');
const { describeError, printResults, stepRecorder } = require('./common');

const config = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const owner = iothub.ConnectionString.parse(config.owner);
const host = owner.HostName;
const results = {};
const step = stepRecorder(results);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// The C2D properties every transport must deliver intact.
const C2D_PROPERTIES = { k: 'a=b&c/d e', plus: 'a+b%', path: '/x/y' };

function rest(method, path, headers, body) {
  const token = SharedAccessSignature.create(host, owner.SharedAccessKeyName,
    owner.SharedAccessKey, Math.ceil(Date.now() / 1000 + 3600)).toString();
  const sep = path.includes('?') ? '&' : '?';
  return new Promise((resolve, reject) => {
    const req = https.request({
      host, port: 443, method, path: path + sep + 'api-version=2021-04-12',
      headers: Object.assign({ Authorization: token }, headers || {}),
    }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json = null;
        try { json = text ? JSON.parse(text) : null; } catch (e) { json = null; }
        resolve({ status: res.statusCode, headers: res.headers, text, json });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    if (body !== undefined && body !== null) req.write(body);
    req.end();
  });
}

// Every telemetry event of `deviceId`, polled until `count` are there or 10 s passed.
async function readTelemetry(deviceId, count) {
  const deadline = Date.now() + 10000;
  let events = [];
  while (Date.now() < deadline) {
    events = [];
    const info = await rest('GET', '/messages/events/partitions');
    if (info.status !== 200 || !info.json) return { ok: false, status: info.status, body: info.text };
    for (const p of info.json.partitions) {
      const r = await rest('GET', '/messages/events/partitions/' + p.partition +
        '?from=start&max=1000&deviceId=' + encodeURIComponent(deviceId));
      if (r.status !== 200 || !r.json) return { ok: false, status: r.status, body: r.text };
      events.push(...r.json.events);
    }
    if (events.length >= count) break;
    await sleep(200);
  }
  return { events };
}

// `iothub --data-dir <dir> args...` in the background: a promise of {exit, stdout, stderr}.
function cli(args) {
  return new Promise((resolve) => {
    execFile(config.cli, ['--data-dir', config.dataDir].concat(args), { timeout: 90000 },
      (err, stdout, stderr) => {
        resolve({ exit: err ? (typeof err.code === 'number' ? err.code : String(err.code)) : 0,
          stdout, stderr });
      });
  });
}

// `c2d send` with the test's properties, asking for full feedback and waiting for it.
function sendC2dWithCli(deviceId, body, messageId) {
  const args = ['--json', 'c2d', 'send', deviceId, body, '--message-id', messageId,
    '--correlation-id', 'corr ' + messageId, '--content-type', 'application/json',
    '--content-encoding', 'utf-8', '--ttl', '3600', '--ack', 'full', '--wait-feedback',
    '--timeout', '60'];
  for (const [k, v] of Object.entries(C2D_PROPERTIES)) args.push('--property', k + '=' + v);
  return cli(args).then((r) => {
    let json = null;
    try { json = JSON.parse(r.stdout); } catch (e) { json = null; }
    return Object.assign(r, { json });
  });
}

function summary(msg) {
  const properties = {};
  for (let i = 0; i < msg.properties.count(); ++i) {
    const p = msg.properties.getItem(i);
    properties[p.key] = p.value;
  }
  return {
    messageId: msg.messageId === undefined ? null : msg.messageId,
    correlationId: msg.correlationId === undefined ? null : msg.correlationId,
    to: msg.to === undefined ? null : msg.to,
    expiryTimeUtc: msg.expiryTimeUtc === undefined ? null : msg.expiryTimeUtc,
    contentType: msg.contentType === undefined ? null : msg.contentType,
    contentEncoding: msg.contentEncoding === undefined ? null : msg.contentEncoding,
    data: msg.data === undefined || msg.data === null ? '' : String(msg.data),
    properties,
  };
}

// One 'message' listener for the client's whole life (removing the last listener would make the
// SDK unsubscribe): next(id, ms) resolves with the message whose messageId is `id`, or null.
function inbox(client) {
  const arrived = [];
  const waiters = [];
  client.on('message', (msg) => {
    arrived.push(msg);
    for (const w of waiters.splice(0)) w();
  });
  return {
    next(id, ms) {
      return new Promise((resolve) => {
        const deadline = Date.now() + ms;
        const check = () => {
          const msg = arrived.find((m) => m.messageId === id);
          if (msg) return resolve(msg);
          if (Date.now() >= deadline) return resolve(null);
          waiters.push(check);
          setTimeout(check, Math.min(500, Math.max(0, deadline - Date.now())));
        };
        check();
      });
    },
  };
}

async function createDevice(registry, id) {
  const created = (await registry.create({ deviceId: id })).responseBody;
  return created.authentication.symmetricKey.primaryKey;
}

function deviceConnectionString(id, key) {
  return 'HostName=' + host + ';DeviceId=' + id + ';SharedAccessKey=' + key;
}

async function transportSteps(name, Transport, deviceId, key) {
  const client = Client.fromConnectionString(deviceConnectionString(deviceId, key), Transport);
  await step(name + '.open', async () => {
    const r = await client.open();
    return { result: r.constructor.name };
  });
  if (!results[name + '.open'].ok) return;
  await step(name + '.sendEvent', async () => {
    const m = new Message('{"via":"' + name + '"}');
    m.messageId = name + ' evt/1=';
    m.correlationId = 'corr&1';
    m.userId = 'user-1';
    m.contentType = 'application/json';
    m.contentEncoding = 'utf-8';
    m.properties.add('k y', 'a=b&c/d e+f%');
    m.properties.add('color', 'red');
    const r = await client.sendEvent(m);
    return { result: r.constructor.name };
  });
  await step(name + '.sendEventPlain', async () => {
    const r = await client.sendEvent(new Message('plain'));
    return { result: r.constructor.name };
  });
  await step(name + '.telemetry', async () => readTelemetry(deviceId, 2));

  await step(name + '.c2d', async () => {
    const id = name + '-c2d-1';
    const arrival = inbox(client).next(id, 30000);  // the listener subscribes (enableC2D)
    const sender = sendC2dWithCli(deviceId, '{"hello":"' + name + '"}', id);
    const msg = await arrival;
    const out = { received: msg ? summary(msg) : null };
    if (msg) {
      try {
        out.complete = (await client.complete(msg)).constructor.name;
      } catch (err) {
        out.complete = describeError(err);
      }
    }
    out.cli = await sender;
    return out;
  });
  await step(name + '.close', async () => {
    const r = await client.close();
    return { result: r.constructor.name };
  });
}

async function renewalSteps(deviceId, key) {
  const provider = SharedAccessKeyAuthenticationProvider.fromConnectionString(
    deviceConnectionString(deviceId, key));
  const client = Client.fromAuthenticationProvider(provider, Mqtt);
  let renewals = 0;
  const disconnects = [];
  provider.on('newTokenAvailable', () => { renewals += 1; });
  client.on('disconnect', (r) => disconnects.push(r && r.reason ? String(r.reason) : String(r)));
  client.on('error', (e) => disconnects.push('error: ' + (e && e.message)));
  await step('renewal.setOptions', async () => {
    await client.setOptions({ tokenRenewal: { tokenValidTimeInSeconds: 8,
      tokenRenewalMarginInSeconds: 4 } });
    return {};
  });
  await step('renewal.open', async () => ({ result: (await client.open()).constructor.name }));
  if (!results['renewal.open'].ok) return;
  const box = inbox(client);
  await step('renewal.before', async () => {
    const arrival = box.next('renew-before', 30000);
    const sender = sendC2dWithCli(deviceId, 'before', 'renew-before');
    const msg = await arrival;
    if (msg) await client.complete(msg);
    return { received: msg ? summary(msg) : null, renewals, cli: await sender };
  });
  await step('renewal.after', async () => {
    // Wait for two renewal reconnects (CONNECT with the new token, no SUBSCRIBE) after the
    // subscription, then one more second.
    const start = renewals;
    const deadline = Date.now() + 20000;
    while (renewals < start + 2 && Date.now() < deadline) await sleep(100);
    await sleep(1000);
    const renewalsBeforeSend = renewals;
    const arrival = box.next('renew-after', 30000);
    const sender = sendC2dWithCli(deviceId, 'after', 'renew-after');
    const msg = await arrival;
    if (msg) await client.complete(msg);
    let sent = null;
    try {
      sent = (await client.sendEvent(new Message('after renewal'))).constructor.name;
    } catch (err) {
      sent = describeError(err);
    }
    return { received: msg ? summary(msg) : null, renewalsBeforeSend, renewals,
      disconnects: disconnects.slice(), sendEventAfter: sent, cli: await sender };
  });
  await step('renewal.close', async () => ({ result: (await client.close()).constructor.name }));
}

async function refusalSteps(deviceId, key) {
  const wrongKey = Buffer.from(key, 'base64').map((b) => b ^ 0x5a).toString('base64');
  for (const [name, Transport] of [['wrongKey.Mqtt', Mqtt], ['wrongKey.MqttWs', MqttWs]]) {
    await step(name, async () => {
      const client = Client.fromConnectionString(deviceConnectionString(deviceId, wrongKey),
        Transport);
      try {
        const r = await client.open();
        return { result: r.constructor.name };
      } finally {
        await client.close().catch(() => {});
      }
    });
  }
  await step('unknownDevice.Mqtt', async () => {
    const client = Client.fromConnectionString(deviceConnectionString('no-such-device', key), Mqtt);
    try {
      return { result: (await client.open()).constructor.name };
    } finally {
      await client.close().catch(() => {});
    }
  });
}

async function main() {
  const registry = iothub.Registry.fromConnectionString(config.owner);
  const keys = {};
  for (const id of ['mqtt-dev-1', 'mqttws-dev-1', 'mqtt-renew-1']) {
    keys[id] = await createDevice(registry, id);
  }
  await transportSteps('Mqtt', Mqtt, 'mqtt-dev-1', keys['mqtt-dev-1']);
  await transportSteps('MqttWs', MqttWs, 'mqttws-dev-1', keys['mqttws-dev-1']);
  await renewalSteps('mqtt-renew-1', keys['mqtt-renew-1']);
  await refusalSteps('mqtt-dev-1', keys['mqtt-dev-1']);
}

printResults(main, results);
