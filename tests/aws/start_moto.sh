#!/bin/sh
# Start a moto server in the background on 127.0.0.1:PORT, wait until it answers, print the exports.
# Usage: tests/aws/start_moto.sh PORT [MOTO_SERVER_BINARY]   (the lead's .ci/run evals the output)
set -eu
PORT="${1:?usage: start_moto.sh PORT [moto_server]}"
MOTO="${2:-moto_server}"
"$MOTO" -H 127.0.0.1 -p "$PORT" >"${TMPDIR:-/tmp}/moto-$PORT.log" 2>&1 &
PID=$!
i=0
until python3 -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:$PORT/moto-api/data.json', timeout=1)" 2>/dev/null; do
  i=$((i + 1))
  if [ "$i" -gt 100 ] || ! kill -0 "$PID" 2>/dev/null; then
    echo "moto_server did not start on port $PORT (see ${TMPDIR:-/tmp}/moto-$PORT.log)" >&2
    exit 1
  fi
  sleep 0.1
done
echo "export SFJWT_TEST_MOTO_URL=http://127.0.0.1:$PORT"
echo "export SFJWT_TEST_MOTO_PID=$PID"
