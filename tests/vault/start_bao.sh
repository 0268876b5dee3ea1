#!/usr/bin/env bash
# Start an OpenBao dev server in the background on 127.0.0.1:PORT and print the export lines for the tests.
# Usage: tests/vault/start_bao.sh [PORT] [BAO_BINARY]   (HOME is a throwaway folder: ~/.vault-token stays out)
set -euo pipefail
port="${1:-18200}"
bao="${2:-bao}"
token="sfjwt-test-root-$RANDOM$RANDOM"
home="$(mktemp -d)"
HOME="$home" nohup "$bao" server -dev -dev-root-token-id="$token" -dev-listen-address="127.0.0.1:$port" \
    >"$home/bao.log" 2>&1 &
pid=$!
for _ in $(seq 1 100); do
    if BAO_ADDR="http://127.0.0.1:$port" HOME="$home" "$bao" status >/dev/null 2>&1; then
        echo "export SFJWT_TEST_BAO_ADDR=http://127.0.0.1:$port"
        echo "export SFJWT_TEST_BAO_TOKEN=$token"
        echo "export SFJWT_TEST_BAO_PID=$pid"
        exit 0
    fi
    sleep 0.1
done
echo "bao dev server did not answer on port $port; log: $home/bao.log" >&2
kill "$pid" 2>/dev/null || true
exit 1
