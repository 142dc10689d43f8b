#!/usr/bin/env node
// The device app of the cloud-to-device tutorial (docs/tutorial.md): connects to the hub with the
// official azure-iot-device SDK, prints every cloud-to-device message it receives (its data, system
// properties and custom properties) and completes it, which tells the hub it was delivered (the
// sender gets a Success feedback record when it asked for one). Runs until Ctrl-C.
//
// Usage:
//   node SimulatedDevice.js [DEVICE_CONNECTION_STRING] [Mqtt|MqttWs|Amqp|AmqpWs]
// or set IOTHUB_DEVICE_CONNECTION_STRING and IOTHUB_DEVICE_TRANSPORT (default Mqtt: MQTT over
// TLS on port 8883; MqttWs and AmqpWs go through port 443, Amqp uses 5671).
// The hub's certificate is issued by its own CA: trust it with
//   NODE_EXTRA_CA_CERTS=<hub data dir>/tls/ca.pem
'use strict';

const { Client } = require('azure-iot-device');
const { Mqtt, MqttWs } = require('azure-iot-device-mqtt');
const { Amqp, AmqpWs } = require('azure-iot-device-amqp');

const transports = { Mqtt, MqttWs, Amqp, AmqpWs };

const connectionString = process.argv[2] || process.env.IOTHUB_DEVICE_CONNECTION_STRING;
const transportName = process.argv[3] || process.env.IOTHUB_DEVICE_TRANSPORT || 'Mqtt';

if (!connectionString || !transports[transportName]) {
  console.error('Usage: node SimulatedDevice.js DEVICE_CONNECTION_STRING ' +
                '[Mqtt|MqttWs|Amqp|AmqpWs]');
  console.error('  (or set IOTHUB_DEVICE_CONNECTION_STRING and IOTHUB_DEVICE_TRANSPORT)');
  process.exit(2);
}

const client = Client.fromConnectionString(connectionString, transports[transportName]);
let received = 0;

// One line per message, its fields as JSON, so that it reads well and scripts can parse it.
async function onMessage(msg) {
  received += 1;
  const properties = {};
  for (let i = 0; i < msg.properties.count(); ++i) {
    const property = msg.properties.getItem(i);
    properties[property.key] = property.value;
  }
  // System properties the sender did not set are left out (the SDK leaves some empty, some
  // undefined, depending on the transport).
  const summary = {};
  for (const key of ['messageId', 'correlationId', 'contentType', 'contentEncoding']) {
    if (msg[key] !== undefined && msg[key] !== null && msg[key] !== '') summary[key] = msg[key];
  }
  summary.data = msg.data === undefined || msg.data === null ? '' : msg.data.toString();
  summary.properties = properties;
  console.log('Message received: ' + JSON.stringify(summary));
  try {
    await client.complete(msg);
    console.log('Completed message ' + msg.messageId + ' (' + received + ' received so far)');
  } catch (err) {
    console.log('Could not complete message ' + msg.messageId + ': ' + err);
  }
}

client.on('error', (err) => console.error('Client error: ' + err));

async function main() {
  await client.open();
  // Listening for 'message' subscribes to the device's cloud-to-device queue (in the background:
  // messages sent before that wait in the queue).
  client.on('message', onMessage);
  console.log('Connected over ' + transportName + ': waiting for cloud-to-device messages ' +
              '(Ctrl-C to exit)');
}

async function stop() {
  try {
    await client.close();
    console.log('Disconnected after ' + received + ' message(s)');
  } catch (err) {
    console.error('Could not close the client: ' + err);
    process.exitCode = 1;
  }
  process.exit();
}

process.on('SIGINT', stop);
process.on('SIGTERM', stop);

main().catch((err) => {
  console.error('Could not connect: ' + (err.constructor ? err.constructor.name + ': ' : '') +
                err.message);
  process.exit(1);
});
