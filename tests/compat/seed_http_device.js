#!/usr/bin/env node
// The device of the "Done means" walk-through (seed_http_test.cc): the official azure-iot-device
// Client over azure-iot-device-http receives one cloud-to-device message and settles it. Usage:
//   NODE_EXTRA_CA_CERTS=<data dir>/tls/ca.pem \
//     node seed_http_device.js <device connection string> <complete|reject> <timeout ms>
//
// Exactly what an application does: Client.fromConnectionString(cs, Http), open, a 'message'
// handler (the transport then polls GET .../devicebound every second), then complete or reject.
// Prints one JSON object: the message as the SDK saw it and the settlement's result, or
// {"ok":false,...} when nothing arrived in time or the SDK failed. Asserts nothing.
'use strict';

const { Client } = require('azure-iot-device');
const { Http } = require('azure-iot-device-http');
const { describeError } = require('./common');

const [connectionString, action, timeoutArg] = process.argv.slice(2);
const timeoutMs = Number(timeoutArg || 30000);


async function main() {
  if (action !== 'complete' && action !== 'reject') throw new Error('action: complete|reject');
  const client = Client.fromConnectionString(connectionString, Http);
  await client.open();
  const msg = await new Promise((resolve) => {
    const timer = setTimeout(() => resolve(null), timeoutMs);
    client.once('message', (m) => {
      clearTimeout(timer);
      resolve(m);
    });
  });
  client.removeAllListeners('message');
  if (!msg) {
    await client.close();
    return { ok: false, error: 'no message within ' + timeoutMs + ' ms' };
  }
  const out = {
    ok: true,
    messageId: msg.messageId === undefined ? null : msg.messageId,
    data: msg.data === undefined || msg.data === null ? '' : String(msg.data),
  };
  try {
    const r = await client[action](msg);
    out.result = r.constructor.name;
  } catch (err) {
    Object.assign(out, describeError(err));
  }
  await client.close();
  return out;
}

main().then((out) => {
  process.stdout.write(JSON.stringify(out) + '\n');
}, (err) => {
  process.stdout.write(JSON.stringify(describeError(err)) + '\n');
  process.exitCode = 1;
});
