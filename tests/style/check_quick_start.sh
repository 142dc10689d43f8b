#!/usr/bin/env bash
# The README's quick start: `scripts/run` and then, in another terminal, `build/bin/iothub ...`.
# So scripts/run must build the CLI as well as the daemon (a fresh machine has neither).
set -u
root="$(cd "$(dirname "$0")/../.." && pwd)"
build_line=$(grep -E '^[^#]*scripts/build ' "$root/scripts/run")
failed=0
for target in iothubd iothub; do
  if ! grep -qE "scripts/build( [a-z_]+)* $target( |$)" <<<"$build_line"; then
    echo "quick start: scripts/run does not build '$target' (it runs: ${build_line:-nothing})"
    failed=1
  fi
done
if ! grep -q 'build/bin/iothub ' "$root/README.md"; then
  echo "quick start: the README no longer runs build/bin/iothub: update this check"
  failed=1
fi
[ $failed -eq 0 ] && echo "quick start: ok"
exit $failed
