#!/usr/bin/env node
// Produces and checks SAS tokens and connection strings with the official Azure IoT Node SDKs, for
// sas_compat_test.cc. Usage: node sas_token_check.js <requests.json>
//
// The request file holds a JSON array of {"op": ..., ...}; stdout gets a JSON array with one result
// per request, in order. Every op goes through the code path the SDK clients really use (read in
// node_modules): a device client signs with SharedAccessKeyAuthenticationProvider._renewToken
// (sr = encodeUriComponentStrict(host + '/devices/' + id), se = floor(now / 1000) + 3600), a service
// client with azure-iothub's SharedAccessSignature.create(HostName, policy, key, anHourFromNow())
// (sr = the host, unencoded; se = ceil(now / 1000 + 3600)). Date.now is pinned to the request's
// now_ms so the output is deterministic.
'use strict';

const fs = require('fs');
const common = require('azure-iot-common');
const commonAuthorization = require('azure-iot-common/dist/authorization.js');
const device = require('azure-iot-device');
const iothub = require('azure-iothub');

const realDateNow = Date.now;

function withNow(nowMs, fn) {
  Date.now = () => nowMs;
  try {
    return fn();
  } finally {
    Date.now = realDateNow;
  }
}

function errorText(e) {
  return (e && e.name ? e.name + ': ' : '') + (e && e.message ? e.message : String(e));
}

// The device client's own token path: a connection string into SharedAccessKeyAuthenticationProvider,
// then getDeviceCredentials (which renews the token synchronously through _sign).
function deviceToken(req) {
  let cs = device.ConnectionString.createWithSharedAccessKey(req.host, req.device_id, req.key);
  // A policy key (e.g. the 'device' policy's) signs for the device: the provider passes the name on
  // as skn.
  if (req.key_name) cs += ';SharedAccessKeyName=' + req.key_name;
  return withNow(req.now_ms, () => {
    const provider = device.SharedAccessKeyAuthenticationProvider.fromConnectionString(
        cs, req.valid_s || undefined);
    let credentials = null;
    let error = null;
    provider.getDeviceCredentials((err, c) => {
      error = err;
      credentials = c;
    });
    provider.stop();  // cancels the renewal timer, or node would wait for it
    if (error) throw error;
    if (!credentials) throw new Error('getDeviceCredentials did not call back synchronously');
    const token = credentials.sharedAccessSignature;
    const parsed = device.SharedAccessSignature.parse(token);
    return {token: token, se: Number(parsed.se), connection_string: cs};
  });
}

// azure-iot-device's exported helper with an explicit expiry (same code as the provider's _sign).
function deviceTokenAt(req) {
  return {token: device.SharedAccessSignature.create(req.host, req.device_id, req.key, req.expiry)
                     .toString()};
}

// The service client's token path: IoTHubTokenCredentials.signRequest (what Registry/Client put in
// the Authorization header; Client.fromConnectionString's AMQP config builds the same token).
function serviceToken(req) {
  const cs = 'HostName=' + req.host + ';SharedAccessKeyName=' + req.policy +
             ';SharedAccessKey=' + req.key;
  return withNow(req.now_ms, () => {
    const credentials = new iothub.IoTHubTokenCredentials(cs);
    const headers = {};
    credentials.signRequest({headers: {set: (k, v) => { headers[k.toLowerCase()] = v; }}});
    const token = headers['authorization'];
    const parsed = iothub.SharedAccessSignature.parse(token);
    return {token: token, se: Number(parsed.se), connection_string: cs};
  });
}

function serviceTokenAt(req) {
  return {token: iothub.SharedAccessSignature.create(req.host, req.policy, req.key, req.expiry)
                     .toString()};
}

// What the SDK's parser makes of a token, and whether its signature is right by the SDK's own
// primitives: sig == encodeUriComponentStrict(hmacHash(key, stringToSign(sr, se))), over sr and se
// exactly as they appear in the token (the SDK never decodes them).
function verify(req) {
  const parse = req.kind === 'service' ? iothub.SharedAccessSignature.parse
                                       : device.SharedAccessSignature.parse;
  const sas = parse(req.token);
  const expected = common.encodeUriComponentStrict(commonAuthorization.hmacHash(
      req.key, commonAuthorization.stringToSign(sas.sr, sas.se)));
  return {
    signature_ok: expected === sas.sig,
    sr: sas.sr,
    sig: sas.sig,
    se: sas.se,
    skn: sas.skn === undefined ? null : sas.skn,
  };
}

// The SDKs' connection-string parsers: azure-iot-device's (required HostName, DeviceId, and one of
// SharedAccessKey / SharedAccessSignature / x509) plus the device client's provider factory, or
// azure-iothub's (required HostName, SharedAccessKeyName, SharedAccessKey).
function parseConnectionString(req) {
  let fields;
  if (req.kind === 'service') {
    fields = iothub.ConnectionString.parse(req.cs);
  } else {
    fields = device.ConnectionString.parse(req.cs);
    device.SharedAccessKeyAuthenticationProvider.fromConnectionString(req.cs);
  }
  return {fields: Object.assign({}, fields)};
}

function encode(req) {
  return {encoded: common.encodeUriComponentStrict(req.s)};
}

const ops = {
  device_token: deviceToken,
  device_token_at: deviceTokenAt,
  service_token: serviceToken,
  service_token_at: serviceTokenAt,
  verify: verify,
  parse_cs: parseConnectionString,
  encode: encode,
};

function main() {
  if (process.argv.length !== 3) {
    process.stderr.write('usage: node sas_token_check.js <requests.json>\n');
    process.exit(2);
  }
  const requests = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
  const results = requests.map((req) => {
    const op = ops[req.op];
    if (!op) return {ok: false, error: 'unknown op ' + req.op};
    try {
      return Object.assign({ok: true}, op(req));
    } catch (e) {
      return {ok: false, error: errorText(e)};
    }
  });
  process.stdout.write(JSON.stringify(results) + '\n');
}

main();
