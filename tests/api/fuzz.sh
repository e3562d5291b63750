#!/usr/bin/env bash
# schemathesis against the Management API's own OpenAPI document, on a server started here
# (gunicorn, a throw-away SQLite database with demo users and an API client with every scope).
# Fails on any 5xx and on any response that does not match the schema. Used by `make fuzz-api`.
# The seed is fixed so that CI runs the same cases each time (a landing must not depend on
# luck); FUZZ_SEED=random explores new ones, FUZZ_EXAMPLES=N more of them.
set -euo pipefail
BIN=${BIN:-.venv/bin}
PORT=${FUZZ_PORT:-8799}
WORK=$(mktemp -d)
# FUZZ_DATABASE_URL: an empty database to use instead (PostgreSQL finds other bugs).
export DATABASE_URL="${FUZZ_DATABASE_URL:-sqlite:///$WORK/fuzz.sqlite3}" JOB_FILES_DIR="$WORK/jobs" DEBUG=False \
    SECRET_KEY=fuzz-only AUDIT_CHAIN_KEY=fuzz-only-audit-chain-key \
    SIGNING_KEYS_SECRET=fuzz-only-signing-keys-secret ALLOWED_HOSTS=127.0.0.1 API_RATE_LIMIT_BURST=100000 \
    API_RATE_LIMIT_PER_SECOND=100000
"$BIN/python" manage.py migrate -v0
"$BIN/python" manage.py seed_demo --users 50 --no-staff > /dev/null
TOKEN=$("$BIN/python" manage.py create_api_client globex --name fuzz 2>/dev/null \
    --scopes "read:users create:users update:users update:users_app_metadata delete:users" | tail -1)
# A 4,000-character q is up to twelve times that URL-encoded: no request-line limit here
# (gunicorn allows at most 8,190 bytes otherwise; the fuzzer keeps its URLs under 16 KB).
"$BIN/gunicorn" metadata_admin.wsgi -b "127.0.0.1:$PORT" -w 2 --log-level warning \
    --limit-request-line 0 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null; rm -rf "$WORK"' EXIT
for _ in $(seq 50); do curl -fs "http://127.0.0.1:$PORT/api/v2/openapi.json" > /dev/null && break; sleep 0.2; done
"$BIN/schemathesis" run "http://127.0.0.1:$PORT/api/v2/openapi.json" \
    -H "Authorization: Bearer $TOKEN" \
    --checks not_a_server_error,response_schema_conformance \
    --max-examples "${FUZZ_EXAMPLES:-30}" --workers 1 --no-color --generation-database none \
    $([ "${FUZZ_SEED:-1}" = random ] || echo "--seed ${FUZZ_SEED:-20261122}")
# Then `q` alone, with queries built to hurt (deep, long, overflowing): no 5xx, each refusal a
# 400 or 503 in the standard body, each answer within the search budget.
"$BIN/python" -m tests.api.fuzz_q "http://127.0.0.1:$PORT" "$TOKEN" \
    --examples "${FUZZ_EXAMPLES:-30}0" --seed "${FUZZ_SEED:-20261130}"
