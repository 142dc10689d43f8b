#!/usr/bin/env node
// Registers a device identity with the official azure-iothub SDK's Registry (over HTTPS, port
// 443) and prints the device's connection string, made of the hub's host name, the device id and
// the primary key the hub generated. An existing device is read instead of created again.
//
// Usage:
//   node CreateDeviceIdentity.js [CONNECTION_STRING] [DEVICE_ID]
// or set IOTHUB_CONNECTION_STRING (a policy with RegistryWrite, e.g. 'iothubowner') and
// IOTHUB_DEVICE_ID (default myFirstNodeDevice).
// The hub's certificate is issued by its own CA: trust it with
//   NODE_EXTRA_CA_CERTS=<hub data dir>/tls/ca.pem
'use strict';

const { Registry, ConnectionString } = require('azure-iothub');

const connectionString = process.argv[2] || process.env.IOTHUB_CONNECTION_STRING;
const deviceId = process.argv[3] || process.env.IOTHUB_DEVICE_ID || 'myFirstNodeDevice';

if (!connectionString) {
  console.error('Usage: node CreateDeviceIdentity.js CONNECTION_STRING [DEVICE_ID]');
  console.error('  (or set IOTHUB_CONNECTION_STRING and IOTHUB_DEVICE_ID)');
  process.exit(2);
}

async function main() {
  const registry = Registry.fromConnectionString(connectionString);
  let device;
  try {
    device = (await registry.create({ deviceId })).responseBody;
    console.log('Created device ' + deviceId);
  } catch (err) {
    if (err.constructor.name !== 'DeviceAlreadyExistsError') throw err;
    device = (await registry.get(deviceId)).responseBody;
    console.log('Device ' + deviceId + ' already exists');
  }
  const hostName = ConnectionString.parse(connectionString).HostName;
  console.log('Generation id: ' + device.generationId);
  console.log('Primary key: ' + device.authentication.symmetricKey.primaryKey);
  console.log('Device connection string: HostName=' + hostName + ';DeviceId=' + deviceId +
              ';SharedAccessKey=' + device.authentication.symmetricKey.primaryKey);
}

main().catch((err) => {
  console.error('Error: ' + (err.constructor ? err.constructor.name + ': ' : '') + err.message);
  process.exit(1);
});
