#!/usr/bin/env node
// Drives a running iothubd with the official device SDK over HTTPS (azure-iot-device Client +
// azure-iot-device-http Http, pinned in package.json), for device_http_compat_test.cc. Usage:
//   NODE_EXTRA_CA_CERTS=<data dir>/tls/ca.pem node device_http_compat.js <config.json>
// config.json: {"owner": "<iothubowner connection string>",
//               "device": "<device policy connection string>",
//               "service": "<service policy connection string>"}
//
// The device side is the SDK exactly as an application uses it: sendEvent, sendEventBatch, the
// 'message' event (the Http transport then polls GET .../devicebound every second and drains the
// queue), complete / reject / abandon. The service side that Azure offers only over AMQP (sending
// C2D, reading telemetry and feedback) is this hub's REST extension (docs/rest.md), called with
// Node's https and a service token from azure-iothub's SharedAccessSignature. The device is
// created with azure-iothub's Registry.
//
// stdout gets one JSON object {"<step>": {...}, ...}: what the SDK and the hub handed back (values,
// or for a failure the error's class name and HTTP status). This script asserts nothing; the C++
// test judges the output.
'use strict';

const fs = require('fs');
const https = require('https');
const { Client, Message } = require('azure-iot-device');
const { Http } = require('azure-iot-device-http');
const iothub = require('azure-iothub');
const { SharedAccessSignature } = require('azure-iothub/dist/common-core/shared_access_signature');
const { describeError, printResults, stepRecorder } = require('./common');

const config = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const owner = iothub.ConnectionString.parse(config.owner);
const host = owner.HostName;
const results = {};

const DEVICE = 'http-dev-1';
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// `await step(name, fn)`: runs one step and records its outcome under `name` (common.js).
const step = stepRecorder(results);

// One REST call with the iothubowner policy: {status, headers, text, json}.
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

function deviceConnectionString(id, key) {
  return 'HostName=' + host + ';DeviceId=' + id + ';SharedAccessKey=' + key;
}

function sdkMessageSummary(msg) {
  const properties = {};
  for (let i = 0; i < msg.properties.count(); ++i) {
    const p = msg.properties.getItem(i);
    properties[p.key] = p.value;
  }
  const data = msg.data === undefined || msg.data === null ? '' : String(msg.data);
  return {
    messageId: msg.messageId === undefined ? null : msg.messageId,
    correlationId: msg.correlationId === undefined ? null : msg.correlationId,
    to: msg.to === undefined ? null : msg.to,
    expiryTimeUtc: msg.expiryTimeUtc === undefined ? null : msg.expiryTimeUtc,
    expiryMs: msg.expiryTimeUtc ? Date.parse(msg.expiryTimeUtc) : null,
    lockToken: msg.lockToken === undefined ? null : msg.lockToken,
    data,
    properties,
  };
}

// Sends one C2D message through the REST extension: {status, body}.
async function sendC2d(id, body, headers) {
  const r = await rest('POST', '/devices/' + encodeURIComponent(id) + '/messages/deviceBound',
    headers, body);
  return { status: r.status, body: r.json === null ? r.text : r.json };
}

// Every telemetry event of `deviceId`, in (partition, offset) order, or the failing status.
async function readTelemetry(deviceId) {
  const info = await rest('GET', '/messages/events/partitions');
  if (info.status !== 200 || !info.json) return { ok: false, status: info.status, body: info.text };
  const events = [];
  for (const p of info.json.partitions) {
    const r = await rest('GET', '/messages/events/partitions/' + p.partition + '?from=start&max=1000');
    if (r.status !== 200 || !r.json) return { ok: false, status: r.status, body: r.text };
    for (const e of r.json.events) if (e.deviceId === deviceId) events.push(e);
  }
  events.sort((a, b) => (a.partition - b.partition) || (a.offset - b.offset));
  return { status: 200, partitionCount: info.json.partitionCount, events };
}

// Takes feedback batches until `wanted` original message ids have a record or `limitMs` passes;
// completes every batch it reads. Returns {records: [...], batches: [...]}.
async function collectFeedback(wanted, limitMs) {
  const records = [];
  const batches = [];
  const deadline = Date.now() + limitMs;
  while (Date.now() < deadline) {
    const r = await rest('GET', '/messages/serviceBound/feedback');
    if (r.status === 204) {
      if (wanted.every((id) => records.some((rec) => rec.originalMessageId === id))) break;
      await sleep(200);
      continue;
    }
    if (r.status !== 200) return { ok: false, status: r.status, body: r.text, records };
    const lock = String(r.headers.etag || '').replace(/"/g, '');
    const done = await rest('DELETE', '/messages/serviceBound/feedback/' + lock);
    batches.push({ contentType: r.headers['content-type'], userId: r.headers['iothub-userid'],
      completeStatus: done.status, count: Array.isArray(r.json) ? r.json.length : null });
    if (Array.isArray(r.json)) records.push(...r.json);
  }
  return { records, batches };
}

async function telemetrySteps(client) {
  await step('sendEvent', async () => {
    const m = new Message('{"temperature":21.5}');
    m.messageId = 'evt-1';
    m.correlationId = 'corr-1';
    m.contentType = 'application/json';
    m.contentEncoding = 'utf-8';
    m.properties.add('color', 'red');
    m.properties.add('level', '3');
    const r = await client.sendEvent(m);
    return { result: r.constructor.name, status: r.transportObj ? r.transportObj.statusCode : null };
  });
  await step('sendEventEmpty', async () => {
    const m = new Message('');
    m.messageId = 'evt-empty';
    const r = await client.sendEvent(m);
    return { result: r.constructor.name, status: r.transportObj ? r.transportObj.statusCode : null };
  });
  await step('sendEventBatch', async () => {
    const a = new Message('batch-1');
    a.properties.add('seq', '1');
    const b = new Message('batch-2');
    const c = new Message('batch-3');
    c.properties.add('seq', '3');
    c.properties.add('kind', 'batch');
    const r = await client.sendEventBatch([a, b, c]);
    return { result: r.constructor.name, status: r.transportObj ? r.transportObj.statusCode : null };
  });
  await step('sendEventTooLarge', async () => {
    await client.sendEvent(new Message(Buffer.alloc(256 * 1024 + 1, 0x61)));
    return {};
  });
  await step('telemetry', async () => readTelemetry(DEVICE));
}

async function c2dSteps(client) {
  const expiry = new Date(Date.now() + 3600 * 1000);
  expiry.setMilliseconds(0);
  results.c2dExpirySentMs = expiry.getTime();
  await step('c2dSendComplete', async () => sendC2d(DEVICE, 'to-complete', {
    'IoTHub-MessageId': 'c2d-1', 'IoTHub-CorrelationId': 'corr-c2d-1', 'IoTHub-Ack': 'full',
    'IoTHub-Expiry': expiry.toISOString(), 'iothub-app-color': 'blue', 'iothub-app-n': '7',
  }));
  await step('c2dSendReject', async () => sendC2d(DEVICE, 'to-reject', {
    'IoTHub-MessageId': 'c2d-2', 'IoTHub-Ack': 'full',
  }));
  await step('c2dSendAbandon', async () => sendC2d(DEVICE, 'to-abandon', {
    'IoTHub-MessageId': 'c2d-3', 'IoTHub-Ack': 'full',
  }));
  await step('c2dSendEmpty', async () => sendC2d(DEVICE, '', { 'IoTHub-MessageId': 'c2d-4' }));
  await step('c2dSendUnknownDevice', async () => sendC2d('no-such-device', 'x', {}));

  if (results.c2dSendComplete.status !== 201) {
    results.receive = { ok: false, skipped: 'the hub did not take the C2D messages' };
    return;
  }
  // Every delivery in arrival order, and what settling it returned.
  const deliveries = [];
  const firstDelivery = {};
  const seen = {};
  let settled = 0;
  const expected = 5;  // c2d-1, c2d-2, c2d-3 twice, c2d-4
  let allSettled;
  const finished = new Promise((resolve) => { allSettled = resolve; });
  const settle = async (entry, action, msg) => {
    try {
      const r = await client[action](msg);
      entry.settle = { action, ok: true, result: r.constructor.name };
    } catch (err) {
      entry.settle = Object.assign({ action }, describeError(err));
    }
    if (++settled >= expected) allSettled();
  };
  const receiveStart = Date.now();
  client.on('message', (msg) => {
    const entry = sdkMessageSummary(msg);
    deliveries.push(entry);
    const id = entry.messageId;
    seen[id] = (seen[id] || 0) + 1;
    if (!firstDelivery[id]) firstDelivery[id] = msg;
    if (id === 'c2d-2') settle(entry, 'reject', msg);
    else if (id === 'c2d-3' && seen[id] === 1) settle(entry, 'abandon', msg);
    else settle(entry, 'complete', msg);
  });
  let guard;
  const timedOut = await Promise.race([
    finished.then(() => false),
    new Promise((resolve) => { guard = setTimeout(() => resolve(true), 20000); }),
  ]);
  clearTimeout(guard);  // a pending timer would keep node running
  // Stop polling before the stale-lock checks, so that nothing else arrives meanwhile.
  client.removeAllListeners('message');
  await new Promise((resolve) => client._transport.disableC2D(resolve));
  results.receive = { ok: !timedOut, timedOut, deliveries, ms: Date.now() - receiveStart };

  await step('completeStaleLock', async () => {
    if (!firstDelivery['c2d-1']) throw new Error('c2d-1 never arrived');
    const r = await client.complete(firstDelivery['c2d-1']);
    return { result: r.constructor.name };
  });
  await step('abandonStaleLock', async () => {
    if (!firstDelivery['c2d-3']) throw new Error('c2d-3 never arrived');
    const r = await client.abandon(firstDelivery['c2d-3']);
    return { result: r.constructor.name };
  });
  await step('rejectStaleLock', async () => {
    if (!firstDelivery['c2d-2']) throw new Error('c2d-2 never arrived');
    const r = await client.reject(firstDelivery['c2d-2']);
    return { result: r.constructor.name };
  });
  await step('queueEmptyAfter', async () => {
    // The iothubowner policy has DeviceConnect: it may poll for the device.
    const r = await rest('GET', '/devices/' + DEVICE + '/messages/devicebound');
    return { status: r.status };
  });
  await step('feedback', async () => collectFeedback(['c2d-1', 'c2d-2', 'c2d-3'], 15000));
  // The SDK shows only some headers; the raw answer shows that nothing but what the sender set
  // comes back (no iothub-ack for ack none, no hub-internal properties).
  await step('rawDevicebound', async () => {
    const sent = await sendC2d(DEVICE, 'raw', { 'IoTHub-MessageId': 'c2d-raw', 'iothub-app-k': 'v' });
    const r = await rest('GET', '/devices/' + DEVICE + '/messages/devicebound');
    const iothubHeaders = Object.keys(r.headers).filter((h) => h.startsWith('iothub-')).sort();
    const lock = String(r.headers.etag || '').replace(/"/g, '');
    const done = await rest('DELETE', '/devices/' + DEVICE + '/messages/devicebound/' + lock);
    return { sendStatus: sent.status, status: r.status, etag: r.headers.etag || null,
      iothubHeaders, app: r.headers['iothub-app-k'] || null, body: r.text,
      completeStatus: done.status };
  });
}

// Sends one event with `connectionString`: the SDK's result or error.
async function sendWith(connectionString) {
  const client = Client.fromConnectionString(connectionString, Http);
  try {
    const r = await client.sendEvent(new Message('auth probe'));
    return { result: r.constructor.name };
  } finally {
    await client.close();
  }
}

async function authSteps(primaryKey) {
  // A valid key of the right length that is not the device's.
  const wrongKey = Buffer.from(primaryKey, 'base64').map((b) => b ^ 0x5a).toString('base64');
  await step('wrongKey', async () => sendWith(deviceConnectionString(DEVICE, wrongKey)));
  await step('unknownDevice', async () => sendWith(deviceConnectionString('no-such-device', primaryKey)));
  await step('wrongKeyReceive', async () => {
    // The Http transport reports receive failures as 'error' events on the transport only.
    const client = Client.fromConnectionString(deviceConnectionString(DEVICE, wrongKey), Http);
    await client.open();
    let guard;
    const error = await new Promise((resolve) => {
      client._transport.once('error', resolve);
      client._transport.once('message', () => resolve(null));
      client._transport.receive();
      guard = setTimeout(() => resolve(new Error('no answer')), 10000);
    });
    clearTimeout(guard);
    await client.close();
    if (!error) return { received: true };
    return { ok: false, status: error.response ? error.response.statusCode : null,
      message: error.message };
  });
  if (config.device) {
    // A device token signed by a policy with DeviceConnect (skn=device), as the SDK builds it
    // from a connection string that names the policy.
    const policy = iothub.ConnectionString.parse(config.device);
    await step('policyDeviceConnect', async () => sendWith('HostName=' + host + ';DeviceId=' +
      DEVICE + ';SharedAccessKeyName=' + policy.SharedAccessKeyName + ';SharedAccessKey=' +
      policy.SharedAccessKey));
  }
  if (config.service) {
    const policy = iothub.ConnectionString.parse(config.service);
    await step('policyWithoutDeviceConnect', async () => sendWith('HostName=' + host +
      ';DeviceId=' + DEVICE + ';SharedAccessKeyName=' + policy.SharedAccessKeyName +
      ';SharedAccessKey=' + policy.SharedAccessKey));
  }
}

async function main() {
  const registry = iothub.Registry.fromConnectionString(config.owner);
  const created = (await registry.create({ deviceId: DEVICE })).responseBody;
  const primaryKey = created.authentication.symmetricKey.primaryKey;
  results.created = { ok: true, deviceId: created.deviceId };

  const client = Client.fromConnectionString(deviceConnectionString(DEVICE, primaryKey), Http);
  await client.open();
  await telemetrySteps(client);
  await c2dSteps(client);
  await client.close();
  await authSteps(primaryKey);

}

printResults(main, results);
