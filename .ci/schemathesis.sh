#!/usr/bin/env bash
# Runs schemathesis against the admin API's own OpenAPI document on a real
# `scopegate serve` (debug build, fresh SQLite database, an admin:write
# token): no 5xx, and every status, content type, header and body conforms
# to the document. Bounded in time; the venv is made once under target/.
# Usage: bash .ci/schemathesis.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
venv=target/ci-venv
if [[ ! -x $venv/bin/st ]]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q 'schemathesis==4.32.5'
fi
cargo build -q --locked -p scopegate
work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
sed -e "s/^listen.*/listen = \"127.0.0.1:$port\"/" -e "s#^database.*#database = \"sqlite://$work/st.db\"#" \
  examples/app-analytics/scopegate.toml > "$work/scopegate.toml"
# Thousands of requests a minute with one token: not what the run is about.
printf '\n[limits]\nadmin_api_per_token = "off"\n' >> "$work/scopegate.toml"
token=$(target/debug/scopegate admin-token create --config "$work/scopegate.toml" --scopes admin:write --json \
  | sed 's/.*"token":"\([^"]*\)".*/\1/')
RUST_LOG=warn target/debug/scopegate serve --config "$work/scopegate.toml" >"$work/server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 1 60); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.5; done
# Revoking admin tokens would revoke the run's own: left to the API tests.
status=0
(cd "$work" && "$OLDPWD/$venv/bin/st" run "http://127.0.0.1:$port/admin/api/openapi.json" \
  -H "Authorization: Bearer $token" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance,negative_data_rejection \
  --exclude-path '/admin/api/admin-tokens/{id}' \
  --max-time "$seconds" --workers 1 --seed 1) || status=$?
if grep -q panicked "$work/server.log"; then
  echo "the server panicked:" >&2; grep -A3 panicked "$work/server.log" >&2; status=1
fi
exit $status
