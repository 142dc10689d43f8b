#!/usr/bin/env bash
# Dependencies point one way (STYLE.md): base <- storage <- core <- front-ends <- server, with net
# (Asio plumbing) beside the core, below the front-ends. No front-end includes another front-end.
# Fails, naming the file and the include, when a folder includes a layer above it.
set -u
src="$(cd "$(dirname "$0")/../../src" && pwd)"
failed=0

# check FOLDER PATTERN WHY: no file under src/FOLDER may include a header matching PATTERN.
check() {
  local folder=$1 pattern=$2 why=$3
  local hits
  hits=$(grep -rnE "#include +\"($pattern)/" "$src/$folder" 2>/dev/null)
  if [ -n "$hits" ]; then
    echo "layering: src/$folder must not include $pattern/ ($why):"
    echo "$hits" | sed "s|$src/|  src/|"
    failed=1
  fi
}

check base 'storage|core|net|mqtt|amqp|http|server|client' "base depends on nothing"
check storage 'core|net|mqtt|amqp|http|server|client' "the store knows no IoT Hub semantics"
check core 'net|mqtt|amqp|http|server|client' "the core knows no protocol"
check net 'storage|core|mqtt|amqp|http|server|client' "net is plumbing below the front-ends"
check mqtt 'amqp|http|server|client' "a front-end knows only the core, net and base"
check amqp 'mqtt|http|server|client' "a front-end knows only the core, net and base"
check http 'mqtt|amqp|server|client' "a front-end knows only the core, net and base"

if [ $failed -eq 0 ]; then
  echo "layering: ok"
fi
exit $failed
