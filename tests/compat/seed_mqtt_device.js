#!/usr/bin/env node
// The device of issue 4's "Done means" walk-through (seed_mqtt_test.cc): an application using the
// official azure-iot-device Client over azure-iot-device-mqtt (MQTT over TLS, port 8883) prints
// each cloud-to-device message's data and custom properties and completes it. Usage:
//   NODE_EXTRA_CA_CERTS=<data dir>/tls/ca.pem \
//     node seed_mqtt_device.js <device connection string> <message count> <timeout ms>
//
// Prints one JSON object per line: {"event":"opened"} once connected and listening, then
// {"event":"message","messageId","data","properties":{...},"completed"} per message, and finally
// {"event":"done","received":n} (or {"event":"error",...}). Asserts nothing.
'use strict';

const { Client } = require('azure-iot-device');
const { Mqtt } = require('azure-iot-device-mqtt');
const { describeError } = require('./common');

const [connectionString, countArg, timeoutArg] = process.argv.slice(2);
const count = Number(countArg || 1);
const timeoutMs = Number(timeoutArg || 60000);

function print(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

async function main() {
  const client = Client.fromConnectionString(connectionString, Mqtt);
  await client.open();
  let received = 0;
  let finish;
  const finished = new Promise((resolve) => { finish = resolve; });
  client.on('message', async (msg) => {
    const properties = {};
    for (let i = 0; i < msg.properties.count(); ++i) {
      const p = msg.properties.getItem(i);
      properties[p.key] = p.value;
    }
    const line = { event: 'message', messageId: msg.messageId === undefined ? null : msg.messageId,
      data: msg.data === undefined || msg.data === null ? '' : String(msg.data), properties };
    try {
      line.completed = (await client.complete(msg)).constructor.name;
    } catch (err) {
      line.completed = describeError(err);
    }
    print(line);
    if (++received >= count) finish();
  });
  // The 'message' listener subscribes asynchronously; give the SUBSCRIBE a moment on the wire.
  await new Promise((resolve) => setTimeout(resolve, 500));
  print({ event: 'opened' });
  let timer;
  await Promise.race([finished, new Promise((resolve) => { timer = setTimeout(resolve, timeoutMs); })]);
  clearTimeout(timer);
  await client.close();
  print({ event: 'done', received });
}

main().catch((err) => {
  print(Object.assign({ event: 'error' }, describeError(err)));
  process.exitCode = 1;
});
