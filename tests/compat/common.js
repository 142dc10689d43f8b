// What the compat scripts share: the summary of a failure that the C++ tests read, the step
// runner that records what each step handed back, and how a script prints its outcome. Each
// script prints one JSON object on stdout and asserts nothing; the C++ test judges it.
'use strict';

// A failure as the tests judge it: the error's class name (the SDKs map HTTP status + Azure error
// code to DeviceNotFoundError, UnauthorizedError, ...), its name and message, and the HTTP status
// when there was a response.
function describeError(err) {
  return {
    ok: false,
    error: err && err.constructor ? err.constructor.name : String(err),
    name: err && err.name,
    message: err && err.message,
    status: err && err.response ? err.response.statusCode : null,
  };
}

// A step runner over `results`: `await step(name, fn)` runs `fn` and stores its summary (or the
// error's) under `name`, with `ms`, how long the step took, for whoever wonders why a test is slow.
function stepRecorder(results) {
  return async function step(name, fn) {
    const start = Date.now();
    try {
      results[name] = Object.assign({ ok: true }, await fn());
    } catch (err) {
      results[name] = describeError(err);
    }
    results[name].ms = Date.now() - start;
  };
}

// Prints `results` once `main()` is done; when it threw, {"fatal": <the error>, "partial":
// results} and exit code 1 (the C++ side then shows the whole output).
function printResults(main, results) {
  main().then(() => {
    process.stdout.write(JSON.stringify(results) + '\n');
  }, (err) => {
    process.stdout.write(JSON.stringify({ fatal: describeError(err), partial: results }) + '\n');
    process.exitCode = 1;
  });
}

module.exports = { describeError, stepRecorder, printResults };
