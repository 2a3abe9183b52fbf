#!/usr/bin/env bash
# Browser tests of the command center: headless Debian chromium driven by
# playwright-core (web/e2e) against `rex dev` on a fresh SQLite database and a free
# port. Tenant acme gets the demo campaign (`rex demo` on the same database, so the
# campaign pages have real analytics) and a key; tenant globex gets a key and nothing
# else. Screenshots of every page land in target/web-artifacts/.
#
#   .ci/browser-tests.sh [path/to/rex]     (default: target/debug/rex)
#
# Installs chromium with apt when /usr/bin/chromium is missing, and the pinned
# playwright-core with `npm ci` (never `playwright install`: the browser is Debian's).
set -euo pipefail
cd "$(dirname "$0")/.."

REX="${1:-target/debug/rex}"
[ -x "$REX" ] || { echo "browser tests: $REX is not built (cargo build -p rex)" >&2; exit 1; }
REX="$(realpath "$REX")"

if [ ! -x "${CHROMIUM:-/usr/bin/chromium}" ]; then
  echo "installing chromium"
  apt-get update -q && apt-get install -y -q chromium
fi
export CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
(cd web/e2e && npm ci --no-audit --no-fund --silent)

WORK="$(mktemp -d)"
ARTIFACTS="$PWD/target/web-artifacts"
rm -rf "$ARTIFACTS" && mkdir -p "$ARTIFACTS"
export REX_DATABASE_URL="sqlite://$WORK/rex.db?mode=rwc"
export REX_LOG="${REX_LOG:-warn}"
unset REX_AMQP_URL
PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
METRICS_PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"

dev_pid=""
cleanup() {
  if [ -n "$dev_pid" ]; then kill "$dev_pid" 2>/dev/null || true; wait "$dev_pid" 2>/dev/null || true; fi
  cp "$WORK/rex-dev.log" "$ARTIFACTS/rex-dev.log" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

echo "seeding tenant acme with the demo campaign (rex demo, 12 leads)"
REX_TENANT=acme "$REX" demo --leads 12 --json >"$WORK/demo.json" 2>"$WORK/demo.log" \
  || { tail -20 "$WORK/demo.log" >&2; echo "rex demo failed" >&2; exit 1; }
KEY_A="$("$REX" api-keys create --tenant acme --name e2e --scopes read,write,admin 2>/dev/null)"
KEY_B="$("$REX" api-keys create --tenant globex --name e2e --scopes read,write,admin 2>/dev/null)"

echo "starting rex dev on 127.0.0.1:$PORT"
"$REX" --http-addr "127.0.0.1:$METRICS_PORT" dev --api-addr "127.0.0.1:$PORT" >"$WORK/rex-dev.log" 2>&1 &
dev_pid=$!
for _ in $(seq 1 100); do
  curl -fsS "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break
  kill -0 "$dev_pid" 2>/dev/null || { cat "$WORK/rex-dev.log" >&2; echo "rex dev exited" >&2; exit 1; }
  sleep 0.2
done
curl -fsS "http://127.0.0.1:$PORT/healthz" >/dev/null || { cat "$WORK/rex-dev.log" >&2; exit 1; }

export REX_E2E_URL="http://127.0.0.1:$PORT"
export REX_E2E_KEY_A="$KEY_A" REX_E2E_KEY_B="$KEY_B" REX_E2E_ARTIFACTS="$ARTIFACTS"
(cd web/e2e && node --test --test-concurrency=1 tests/)
echo "browser tests passed; screenshots in $ARTIFACTS"
