#!/usr/bin/env node
// The back-end app of the cloud-to-device tutorial (docs/tutorial.md): connects to the hub with the
// official azure-iothub SDK (AMQP over TLS, port 5671), listens for delivery feedback, sends
// messages to a device with a message id, a correlation id, a custom property and ack = 'full'
// (feedback whatever happens to them), prints the feedback records the hub returns and exits once
// every message it sent has one.
//
// Usage:
//   node SendCloudToDeviceMessage.js [SERVICE_CONNECTION_STRING] [DEVICE_ID] [--count N]
//                                    [--timeout SECONDS]
// or set IOTHUB_CONNECTION_STRING (a policy with ServiceConnect, e.g. 'service' or 'iothubowner')
// and IOTHUB_DEVICE_ID. Message i (from 0) has id message_i, correlation id correlation_i and the
// custom property Property=PropMsg_i. Exit code 0 when every message got a feedback record
// (whatever its status) within --timeout seconds (default 120), 1 otherwise.
// The hub's certificate is issued by its own CA: trust it with
//   NODE_EXTRA_CA_CERTS=<hub data dir>/tls/ca.pem
'use strict';

const { Client } = require('azure-iothub');
const { Message } = require('azure-iot-common');

const positional = [];
const options = { count: 1, timeout: 120 };
for (let i = 2; i < process.argv.length; ++i) {
  const arg = process.argv[i];
  if (arg === '--count' || arg === '--timeout') {
    options[arg.slice(2)] = Number(process.argv[++i]);
  } else {
    positional.push(arg);
  }
}
const connectionString = positional[0] || process.env.IOTHUB_CONNECTION_STRING;
const targetDevice = positional[1] || process.env.IOTHUB_DEVICE_ID;

if (!connectionString || !targetDevice || !(options.count >= 1) || !(options.timeout > 0)) {
  console.error('Usage: node SendCloudToDeviceMessage.js SERVICE_CONNECTION_STRING DEVICE_ID ' +
                '[--count N] [--timeout SECONDS]');
  console.error('  (or set IOTHUB_CONNECTION_STRING and IOTHUB_DEVICE_ID)');
  process.exit(2);
}

const serviceClient = Client.fromConnectionString(connectionString);
// Ids of the messages sent that still wait for their feedback record.
const waiting = new Set();
let allSent = false;
let allAnswered;
const answered = new Promise((resolve) => { allAnswered = resolve; });

// A feedback message holds a batch of records (JSON), possibly for several messages and devices.
function onFeedback(msg) {
  const text = msg.getData().toString('utf-8');
  console.log('Feedback received: ' + text);
  let records = [];
  try {
    records = JSON.parse(text);
  } catch (err) {
    console.log('  (not JSON: ' + err.message + ')');
  }
  for (const record of Array.isArray(records) ? records : []) {
    if (record.deviceId === targetDevice && waiting.delete(record.originalMessageId)) {
      console.log('  message ' + record.originalMessageId + ': ' + record.statusCode +
                  ' (' + record.description + ')');
    }
  }
  // Nothing to settle: the SDK accepts each feedback message as it arrives, which removes it from
  // the hub.
  if (allSent && waiting.size === 0) allAnswered();
}

async function main() {
  await serviceClient.open();  // the SDK retries a failed connection: --timeout bounds that too
  console.log('Service client connected');
  const { result: receiver } = await serviceClient.getFeedbackReceiver();
  receiver.on('message', onFeedback);
  receiver.on('error', (err) => console.log('Feedback receiver error: ' + err));
  console.log('Listening for delivery feedback');

  for (let i = 0; i < options.count; ++i) {
    const message = new Message(JSON.stringify({ message: 'Cloud to device message ' + i }));
    message.messageId = 'message_' + i;
    message.correlationId = 'correlation_' + i;
    message.contentType = 'application/json';
    message.contentEncoding = 'utf-8';
    message.properties.add('Property', 'PropMsg_' + i);
    message.ack = 'full';
    waiting.add(message.messageId);
    console.log('Sending message ' + message.messageId + ': ' + message.getData());
    const { result } = await serviceClient.send(targetDevice, message);
    console.log('Send status: ' + result.constructor.name);
  }

  allSent = true;
  if (waiting.size === 0) allAnswered();
  await answered;
  console.log('Every message has its feedback');
  await serviceClient.close();
}

// The whole run (connecting, sending, waiting for feedback) gets --timeout seconds.
const deadline = setTimeout(() => {
  console.log('Gave up after ' + options.timeout + ' s; no feedback yet for: ' +
              ([...waiting].join(', ') || '(nothing sent)'));
  process.exit(1);
}, options.timeout * 1000);

main().then(() => clearTimeout(deadline), async (err) => {
  clearTimeout(deadline);
  console.error('Error: ' + (err.constructor ? err.constructor.name + ': ' : '') + err.message);
  process.exitCode = 1;
  try {
    await serviceClient.close();
  } catch (closeErr) {
    // Already closed or never opened: nothing to do.
  }
});
