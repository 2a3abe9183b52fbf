#!/usr/bin/env bash
# Property-based API tests: schemathesis (PyPI) generates requests from the served
# /openapi.json and checks every answer against it — no 5xx, every status code,
# content type, header and body as documented. Runs `rex api` on PostgreSQL and
# RabbitMQ (a fresh database and queue prefix of its own) with a definition stored and
# a key of every scope.
#
#   .ci/schemathesis.sh [path/to/rex]     (default: target/debug/rex)
#
# Needs python3 with venv; installs schemathesis into target/schemathesis-venv once.
set -euo pipefail
cd "$(dirname "$0")/.."

REX="${1:-target/debug/rex}"
[ -x "$REX" ] || { echo "schemathesis: $REX is not built (cargo build -p rex)" >&2; exit 1; }
ST_VERSION="4.32.5"
VENV="target/schemathesis-venv"
if ! "$VENV/bin/st" --version 2>/dev/null | grep -q "$ST_VERSION"; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q "schemathesis==$ST_VERSION"
fi

DB="rex_schemathesis_$$"
PORT="${REX_SCHEMATHESIS_PORT:-18089}"
export REX_DATABASE_URL="postgres://postgres@127.0.0.1:5432/$DB?sslmode=disable"
export REX_AMQP_URL="${REX_AMQP_URL:-amqp://guest:guest@127.0.0.1:5672/%2f}"
export REX_QUEUE_PREFIX="st-$$"
export REX_LOG="${REX_LOG:-warn}"
# every feature configured, so its operations are reached rather than refused: tenant
# secrets (a random key), and each provider's webhook key
export REX_SECRETS_KEYS="ci:$(head -c 32 /dev/urandom | base64 -w0)"
export TWILIO_AUTH_TOKEN="schemathesis-twilio-token"
export CALENDLY_WEBHOOK_SIGNING_KEY="schemathesis-calendly-key"
export SENDGRID_WEBHOOK_PUBLIC_KEY="$(openssl ecparam -name prime256v1 -genkey -noout | openssl ec -pubout -outform DER 2>/dev/null | base64 -w0)"
psql -q -h 127.0.0.1 -U postgres -d postgres -c "CREATE DATABASE $DB" >/dev/null

api_pid=""
cleanup() {
  [ -n "$api_pid" ] && kill "$api_pid" 2>/dev/null && wait "$api_pid" 2>/dev/null || true
  for q in $(rabbitmqctl list_queues name 2>/dev/null | grep "^$REX_QUEUE_PREFIX\." || true); do
    rabbitmqctl delete_queue "$q" >/dev/null 2>&1 || true
  done
  # and its exchanges ({prefix}.tasks, {prefix}.dlx; rabbitmqctl has no delete_exchange
  # and the management plugin is not enabled here): nothing is left behind
  for x in $(rabbitmqctl list_exchanges name 2>/dev/null | grep "^$REX_QUEUE_PREFIX\." || true); do
    rabbitmqctl eval "rabbit_exchange:delete(rabbit_misc:r(<<\"/\">>, exchange, <<\"$x\">>), false, <<\"ci\">>)." >/dev/null 2>&1 || true
  done
  psql -q -h 127.0.0.1 -U postgres -d postgres -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null || true
}
trap cleanup EXIT

KEY="$("$REX" api-keys create --tenant schemathesis --name ci --scopes read,write,admin 2>/dev/null)"
"$REX" api --addr "127.0.0.1:$PORT" --rate-limit 0 &
api_pid=$!
for _ in $(seq 1 60); do
  curl -fs "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && break
  sleep 0.5
done
curl -fs "http://127.0.0.1:$PORT/readyz" >/dev/null || { echo "schemathesis: rex api did not become ready" >&2; exit 1; }

# a stored definition, so starts and lookups can succeed as well as fail
curl -fs -o /dev/null -X POST "http://127.0.0.1:$PORT/v1/definitions" \
  -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' \
  -d '{"definition": {"name": "hello", "version": 1, "inputs": {"name": {"type": "string"}},
       "steps": [{"id": "greet", "agent": "echo", "action": "echo", "input": {"greeting": "Hello, ${inputs.name}"}}]}}'

"$VENV/bin/st" run "http://127.0.0.1:$PORT/openapi.json" \
  --header "Authorization: Bearer $KEY" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance \
  --phases examples,coverage,fuzzing \
  --max-examples "${REX_SCHEMATHESIS_EXAMPLES:-25}" \
  --workers 2 \
  --exclude-path /v1/missions/{id}/events \
  --suppress-health-check all \
  --no-color
