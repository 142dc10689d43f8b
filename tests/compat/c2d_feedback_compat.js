#!/usr/bin/env node
// Every C2D feedback outcome and send error through the official SDKs (c2d_feedback_compat_test.cc
// judges the output): azure-iothub's Client over AMQP sends and receives the feedback,
// azure-iot-device over Amqp settles. Usage:
//   NODE_EXTRA_CA_CERTS=<data dir>/tls/ca.pem node c2d_feedback_compat.js config.json
// config.json: {"owner": <iothubowner connection string>, "service": <service connection string>}
// The hub runs with the settings below (c2d_feedback_compat_test.cc passes them as flags).
//
// The hub runs with a short default TTL (kDefaultTtlSeconds) so that a message sent without an
// expiry runs out within seconds; every other message carries an explicit expiryTimeUtc 10 minutes
// ahead. Each case has a device of its own and the cases run concurrently; one feedback receiver
// collects every record of the hub (feedback is hub-wide) and each case waits for its device's.
// At the end, after a quiet wait of several batch intervals, every record received is printed per
// device, so the test can check that no case produced more than it asked for.
'use strict';

const fs = require('fs');
const { Registry, Client, ConnectionString } = require('azure-iothub');
const { RestApiClient } = require('azure-iothub/dist/common-http/rest_api_client');
const { SharedAccessSignature } = require('azure-iothub/dist/common-core/shared_access_signature');
const iothub = require('azure-iothub');
const { Message, NoRetry } = require('azure-iot-common');
const { Client: DeviceClient } = require('azure-iot-device');
const { Amqp } = require('azure-iot-device-amqp');
const { describeError, stepRecorder, printResults } = require('./common');

// --c2d-default-ttl and --feedback-batch-interval-ms of the hub.
const kDefaultTtlSeconds = 3;
const kBatchIntervalMs = 300;

const config = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const results = {};
const step = stepRecorder(results);
const hostName = ConnectionString.parse(config.owner).HostName;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// Every feedback record received, in order, and the waiters for more.
const records = [];
let waiters = [];
function recordsOf(deviceId) {
  return records.filter((r) => r.deviceId === deviceId);
}
// Resolves with the records of `deviceId` once there are `count` of them (rejects after `ms`).
function waitForRecords(deviceId, count, ms) {
  return new Promise((resolve, reject) => {
    const waiter = () => {
      if (recordsOf(deviceId).length < count) return false;
      clearTimeout(timer);
      resolve(recordsOf(deviceId));
      return true;
    };
    const timer = setTimeout(() => {
      waiters = waiters.filter((w) => w !== waiter);
      reject(new Error(`${count} feedback record(s) for ${deviceId} expected, got ` +
                       JSON.stringify(recordsOf(deviceId))));
    }, ms);
    if (!waiter()) waiters.push(waiter);
  });
}

function message(id, ack, options = {}) {
  const msg = new Message(options.body || 'body of ' + id);
  msg.messageId = id;
  msg.ack = ack;
  // In ms since the epoch: rhea cannot encode a Date here (amqp-research.md, section 3).
  if (!options.defaultTtl) msg.expiryTimeUtc = Date.now() + (options.ttlMs || 10 * 60 * 1000);
  for (const [key, value] of Object.entries(options.properties || {})) {
    msg.properties.add(key, value);
  }
  return msg;
}

async function createDevice(registry, deviceId) {
  const device = (await registry.create({ deviceId })).responseBody;
  return {
    generationId: device.generationId,
    connectionString: `HostName=${hostName};DeviceId=${deviceId};SharedAccessKey=` +
      device.authentication.symmetricKey.primaryKey,
  };
}

// An Amqp device client that hands each C2D message to `settle(client, msg)` and logs what it
// received in `log`. Messages are settled one at a time, each in a later tick: rhea merges the
// dispositions of consecutive deliveries settled in the same tick into one range carrying the
// first one's outcome (amqp-research.md, section 5), which would turn a reject into a complete.
async function openDevice(connectionString, log, settle) {
  const client = DeviceClient.fromConnectionString(connectionString, Amqp);
  await client.open();
  let previous = Promise.resolve();
  client.on('message', (msg) => {
    const entry = { messageId: msg.messageId };
    log.push(entry);
    previous = previous.then(async () => {
      await sleep(10);
      try {
        entry.settled = (await settle(client, msg)).constructor.name;
      } catch (err) {
        entry.settled = describeError(err);
      }
    });
  });
  client.on('error', (err) => log.push({ clientError: describeError(err) }));
  return client;
}

// DELETE /devices/{id}/commands (purge): the SDK has no call for it; its RestApiClient sends it.
function purge(deviceId) {
  const cn = ConnectionString.parse(config.service);
  const client = new RestApiClient({
    host: cn.HostName,
    sharedAccessSignature: SharedAccessSignature.create(
      cn.HostName, cn.SharedAccessKeyName, cn.SharedAccessKey, Date.now()),
  }, 'c2d_feedback_compat');
  return new Promise((resolve, reject) => {
    client.executeApiCall('DELETE', `/devices/${encodeURIComponent(deviceId)}/commands` +
      iothub.versionQueryString(), {}, null, (err, result, response) => {
      if (err) reject(err);
      else resolve({ result, status: response.statusCode });
    });
  });
}

async function main() {
  const registry = Registry.fromConnectionString(config.owner);
  const service = Client.fromConnectionString(config.service);
  service.setRetryPolicy(new NoRetry());
    const devices = {};
  const opened = [];

  await step('open', async () => {
    for (const id of ['fb-reject', 'fb-abandon', 'fb-expired', 'fb-purge', 'fb-depth', 'fb-ack',
      'fb-short']) {
      devices[id] = await createDevice(registry, id);
    }
    await service.open();
    const receiver = (await service.getFeedbackReceiver()).result;
    receiver.on('message', (msg) => {
      let batch;
      try {
        batch = JSON.parse(msg.getData().toString('utf-8'));
      } catch (err) {
        batch = [{ unparsable: msg.getData().toString('utf-8') }];
      }
      for (const r of Array.isArray(batch) ? batch : [batch]) records.push(r);
      waiters = waiters.filter((w) => !w());
      // No complete(): the service SDK accepts each feedback message as it arrives.
    });
    return { generationIds: Object.fromEntries(
      Object.entries(devices).map(([id, d]) => [id, d.generationId])) };
  });
  if (!results.open.ok) return;

  const send = async (deviceId, msg) => (await service.send(deviceId, msg)).result.constructor.name;

  const cases = [
    // A device that rejects: Rejected.
    step('reject', async () => {
      const log = [];
      opened.push(await openDevice(devices['fb-reject'].connectionString, log,
        (client, msg) => client.reject(msg)));
      const sent = await send('fb-reject', message('reject-1', 'full'));
      const got = await waitForRecords('fb-reject', 1, 20000);
      return { sent, deliveries: log, record: got[0] };
    }),
    // A device that abandons every delivery: DeliveryCountExceeded once the count passes the max.
    step('abandon', async () => {
      const log = [];
      opened.push(await openDevice(devices['fb-abandon'].connectionString, log,
        (client, msg) => client.abandon(msg)));
      const sent = await send('fb-abandon', message('abandon-1', 'full'));
      const got = await waitForRecords('fb-abandon', 1, 20000);
      await sleep(500);  // a delivery after the dead-lettering would show up here
      return { sent, deliveries: log, record: got[0] };
    }),
    // No expiry given: the hub's default TTL (seconds) runs out before the device connects. A
    // second message with its own expiry (10 minutes) outlives it and is delivered.
    step('expired', async () => {
      const sentAt = Date.now();
      const sent = [
        await send('fb-expired', message('expired-1', 'full', { defaultTtl: true })),
        await send('fb-expired', message('expiry-explicit', 'full')),
      ];
      const got = await waitForRecords('fb-expired', 1, kDefaultTtlSeconds * 1000 + 15000);
      const expiredAfterMs = Date.now() - sentAt;
      const log = [];
      opened.push(await openDevice(devices['fb-expired'].connectionString, log,
        (client, msg) => client.complete(msg)));
      const all = await waitForRecords('fb-expired', 2, 15000);
      await sleep(1000);  // an expired message must not be delivered late either
      return { sent, expiredAfterMs, deliveries: log, record: got[0], records: all };
    }),
    // Two messages queued for an offline device, then purged: two Purged records.
    step('purge', async () => {
      const sent = [await send('fb-purge', message('purge-1', 'full')),
        await send('fb-purge', message('purge-2', 'full'))];
      const purged = await purge('fb-purge');
      const got = await waitForRecords('fb-purge', 2, 20000);
      return { sent, purged, records: got };
    }),
    // 50 messages fill an offline device's queue; the 51st fails.
    step('queueDepth', async () => {
      const sent = [];
      for (let i = 1; i <= 50; ++i) {
        sent.push(await send('fb-depth', message('depth-' + i, 'none')));
      }
      let fiftyFirst;
      try {
        fiftyFirst = { ok: true, result: await send('fb-depth', message('depth-51', 'none')) };
      } catch (err) {
        fiftyFirst = describeError(err);
      }
      return { accepted: sent.filter((s) => s === 'MessageEnqueued').length, sent51: fiftyFirst };
    }),
    step('unknownDevice', async () => ({ result: await send('no-such-device',
      message('unknown-1', 'full')) })),
    // A sender's own expiry under the hub's minimum default TTL (a minute), as Azure's samples
    // send it: now + 10 s, and now + 60 s (which arrives a few ms under a minute). Both are
    // accepted and delivered.
    step('shortExpiry', async () => {
      const sent = [
        await send('fb-short', message('short-10s', 'full', { ttlMs: 10000 })),
        await send('fb-short', message('short-60s', 'full', { ttlMs: 60000 })),
      ];
      const log = [];
      opened.push(await openDevice(devices['fb-short'].connectionString, log,
        (client, msg) => client.complete(msg)));
      const got = await waitForRecords('fb-short', 2, 20000);
      return { sent, deliveries: log, records: got };
    }),
    // Each ack mode, completed and rejected: only positive+complete, negative+reject and full
    // (both) produce records.
    step('ackModes', async () => {
      const log = [];
      opened.push(await openDevice(devices['fb-ack'].connectionString, log,
        (client, msg) => {
          const action = msg.properties.getValue('action');
          return action === 'reject' ? client.reject(msg) : client.complete(msg);
        }));
      const sent = [];
      for (const ack of ['none', 'positive', 'negative', 'full']) {
        for (const action of ['complete', 'reject']) {
          sent.push(await send('fb-ack', message(`ack-${ack}-${action}`, ack,
            { properties: { action } })));
        }
      }
      const got = await waitForRecords('fb-ack', 4, 20000);
      return { sent, deliveries: log, records: got };
    }),
  ];
  await Promise.all(cases);

  // Quiet wait: any extra record would be batched within a few intervals.
  await sleep(Math.max(4 * kBatchIntervalMs, 1500));
  await step('allRecords', async () => {
    const byDevice = {};
    for (const r of records) (byDevice[r.deviceId] = byDevice[r.deviceId] || []).push(r);
    return { byDevice };
  });

  await Promise.all(opened.map((c) => c.close().catch(() => {})));
  await service.close();
}

printResults(main, results);
