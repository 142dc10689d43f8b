#!/usr/bin/env node
// Drives a running iothubd with the official azure-iothub Registry (HTTPS on port 443), for
// registry_compat_test.cc. Usage:
//   NODE_EXTRA_CA_CERTS=<data dir>/tls/ca.pem node registry_compat.js <config.json>
// config.json: {"owner": "<iothubowner connection string>",
//               "reader": "<registryRead connection string>"}
//
// Every step calls the SDK the way an application would (promise form of the Registry methods) and
// records what the SDK handed back: values, or for a failure the error's class name (the SDK maps
// HTTP status + Azure error code to DeviceNotFoundError, DeviceAlreadyExistsError, ...) and the
// HTTP status. stdout gets one JSON object {"<step>": {...}, ...}; the C++ test judges it, this
// script asserts nothing. A few calls have no Registry method (the PUT with a stale If-Match, the
// service statistics, a 101-device bulk the SDK would refuse before sending): they go through the
// SDK's own RestApiClient with the same credentials, so the answer still passes the SDK's parsing
// and error translation.
'use strict';

const fs = require('fs');
const iothub = require('azure-iothub');
const { RestApiClient } = require('azure-iothub/dist/common-http/rest_api_client');
const { SharedAccessSignature } = require('azure-iothub/dist/common-core/shared_access_signature');
const { ConnectionString } = require('azure-iothub');
const { printResults, stepRecorder } = require('./common');

const config = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const results = {};

// `await step(name, fn)`: runs one step and records its outcome under `name` (common.js).
const step = stepRecorder(results);

// The SDK's REST client with the credentials Registry.fromConnectionString would use.
function restClient(connectionString) {
  const cn = ConnectionString.parse(connectionString);
  return new RestApiClient(
    {
      host: cn.HostName,
      sharedAccessSignature: SharedAccessSignature.create(
        cn.HostName, cn.SharedAccessKeyName, cn.SharedAccessKey, Date.now()),
    },
    'registry_compat');
}

function call(client, method, path, headers, body) {
  return new Promise((resolve, reject) => {
    client.executeApiCall(method, path + iothub.versionQueryString(), headers, body,
      (err, result, response) => {
        if (err) reject(err);
        else resolve({ result, status: response.statusCode });
      });
  });
}

function deviceSummary(d) {
  return {
    deviceId: d.deviceId,
    etag: d.etag,
    generationId: d.generationId,
    status: d.status,
    primaryKey: d.authentication && d.authentication.symmetricKey
      ? d.authentication.symmetricKey.primaryKey : null,
    secondaryKey: d.authentication && d.authentication.symmetricKey
      ? d.authentication.symmetricKey.secondaryKey : null,
    capabilities: d.capabilities,
    deviceScope: d.deviceScope === undefined ? null : d.deviceScope,
    parentScopes: d.parentScopes === undefined ? null : d.parentScopes,
    connectionState: d.connectionState,
  };
}

// A bulk call's answer: the BulkRegistryOperationResult and the HTTP status.
function bulkSummary(r) {
  return {
    status: r.httpResponse.statusCode,
    isSuccessful: r.responseBody.isSuccessful,
    errors: r.responseBody.errors,
    warnings: r.responseBody.warnings,
  };
}

async function main() {
  const registry = iothub.Registry.fromConnectionString(config.owner);
  const rest = restClient(config.owner);

  // --- single-device CRUD ---
  await step('create', async () => {
    const r = await registry.create({ deviceId: 'compat-1' });
    return Object.assign(deviceSummary(r.responseBody), { status_code: r.httpResponse.statusCode });
  });
  await step('get', async () => deviceSummary((await registry.get('compat-1')).responseBody));
  await step('createExisting', async () => deviceSummary(
    (await registry.create({ deviceId: 'compat-1' })).responseBody));
  await step('getUnknown', async () => deviceSummary(
    (await registry.get('no-such-device')).responseBody));
  await step('update', async () => {
    const current = (await registry.get('compat-1')).responseBody;
    current.status = 'disabled';
    current.statusReason = 'compat';
    return deviceSummary((await registry.update(current)).responseBody);
  });
  // Registry.update always sends If-Match "*": a stale etag goes through the SDK's REST client.
  await step('updateStaleEtag', async () => {
    const stale = results.create.etag;
    const r = await call(rest, 'PUT', '/devices/compat-1',
      { 'Content-Type': 'application/json; charset=utf-8', 'If-Match': '"' + stale + '"' },
      { deviceId: 'compat-1', status: 'enabled' });
    return { status: r.status };
  });
  await step('afterStaleUpdate', async () => deviceSummary(
    (await registry.get('compat-1')).responseBody));
  await step('list', async () => {
    const r = await registry.list();
    return { deviceIds: r.responseBody.map((d) => d.deviceId) };
  });

  // --- bulk ---
  await step('addDevices', async () => bulkSummary(await registry.addDevices([
    { deviceId: 'bulk-1' },
    { deviceId: 'bulk-2', status: 'disabled' },
    { deviceId: 'bulk-3' },
  ])));
  await step('bulkGet', async () => {
    const out = {};
    for (const id of ['bulk-1', 'bulk-2', 'bulk-3']) {
      out[id] = deviceSummary((await registry.get(id)).responseBody);
    }
    return { devices: out };
  });
  await step('addDevicesExisting', async () => bulkSummary(await registry.addDevices([
    { deviceId: 'bulk-4' },
    { deviceId: 'bulk-1' },
  ])));
  await step('updateDevicesForce', async () => bulkSummary(await registry.updateDevices([
    { deviceId: 'bulk-1', status: 'disabled', statusReason: 'bulk' },
    { deviceId: 'no-such-device' },
  ], true)));
  await step('updateDevicesEtag', async () => {
    const fresh = (await registry.get('bulk-2')).responseBody;
    fresh.status = 'enabled';
    const stale = results.bulkGet.ok ? results.bulkGet.devices['bulk-3'] : {};
    const staleDevice = { deviceId: 'bulk-3', etag: 'c3RhbGU=', status: 'disabled' };
    if (stale.etag) {
      // Move bulk-3 on first, so the etag read before is stale for real.
      await registry.update({ deviceId: 'bulk-3', statusReason: 'moved' });
      staleDevice.etag = stale.etag;
    }
    return bulkSummary(await registry.updateDevices([fresh, staleDevice], false));
  });
  await step('afterUpdateDevices', async () => {
    const out = {};
    for (const id of ['bulk-1', 'bulk-2', 'bulk-3']) {
      out[id] = deviceSummary((await registry.get(id)).responseBody);
    }
    return { devices: out };
  });
  await step('removeDevicesEtag', async () => {
    const current = (await registry.get('bulk-1')).responseBody;
    const stale = Object.assign({}, results.bulkGet.devices['bulk-2']);
    return bulkSummary(await registry.removeDevices(
      [current, { deviceId: 'bulk-2', etag: stale.etag }], false));
  });
  await step('removeDevicesForce', async () => bulkSummary(await registry.removeDevices([
    { deviceId: 'bulk-2' }, { deviceId: 'bulk-3' }, { deviceId: 'bulk-4' },
    { deviceId: 'no-such-device' },
  ], true)));
  await step('afterRemoveDevices', async () => {
    const r = await registry.list();
    return { deviceIds: r.responseBody.map((d) => d.deviceId) };
  });
  // The SDK refuses more than 100 devices itself; the hub's own limit, through the SDK's client.
  await step('bulkTooMany', async () => {
    const devices = [];
    for (let i = 0; i < 101; ++i) devices.push({ id: 'many-' + i, importMode: 'create' });
    const r = await call(rest, 'POST', '/devices',
      { 'Content-Type': 'application/json; charset=utf-8' }, devices);
    return { status: r.status };
  });
  await step('sdkRefusesTooMany', async () => {
    const devices = [];
    for (let i = 0; i < 101; ++i) devices.push({ deviceId: 'many-' + i });
    await registry.addDevices(devices);
    return {};
  });
  await step('bulkWithReadOnlyPolicy', async () => bulkSummary(
    await iothub.Registry.fromConnectionString(config.reader).addDevices([{ deviceId: 'ro-1' }])));

  // --- statistics ---
  await step('registryStatistics', async () => (
    await registry.getRegistryStatistics()).responseBody);
  await step('serviceStatistics', async () => {
    const r = await call(rest, 'GET', '/statistics/service', {}, null);
    return { status: r.status, body: r.result };
  });

  // --- IoT Edge scopes ---
  await step('edgeCreate', async () => deviceSummary((await registry.create({
    deviceId: 'edge-1', capabilities: { iotEdge: true },
  })).responseBody));
  await step('childCreate', async () => deviceSummary((await registry.create({
    deviceId: 'child-1', deviceScope: results.edgeCreate.deviceScope,
  })).responseBody));
  await step('childForeignScope', async () => {
    const child = (await registry.get('child-1')).responseBody;
    child.deviceScope = 'ms-azure-iot-edge://nobody-123';
    child.parentScopes = [];
    return deviceSummary((await registry.update(child)).responseBody);
  });
  await step('edgeUpdateKeepsScope', async () => {
    const edge = (await registry.get('edge-1')).responseBody;
    edge.statusReason = 'still an edge';
    return deviceSummary((await registry.update(edge)).responseBody);
  });

  // --- delete ---
  await step('delete', async () => {
    const r = await registry.delete('compat-1');
    return { status: r.httpResponse.statusCode };
  });
  await step('getDeleted', async () => deviceSummary(
    (await registry.get('compat-1')).responseBody));
  await step('deleteUnknown', async () => {
    await registry.delete('compat-1');
    return {};
  });

}

printResults(main, results);
