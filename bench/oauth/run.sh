#!/usr/bin/env bash
# Token-server load benchmark: scopegate (SQLite and PostgreSQL, opaque and JWT
# access tokens) and the reference peer (node-oidc-provider, via
# ../shared/peers/run.sh) in the same run, with the peer's wrk scripts:
# client_credentials issuance and RFC 7662 introspection, wrk -t2 -c32.
#
# usage: bench/oauth/run.sh            (from the repository root; ~4 min)
# env:   DURATION=10  PG=postgres://postgres@127.0.0.1:5432/scopegate_bench  PEERS=../shared/peers
#        THREADS=N (scopegate worker threads; default: its own)
#        CPU_SCHEDULING=other (scopegate's --cpu-scheduling; default batch)
#        CASES="sqlite-opaque sqlite-jwt sqlite-es256 sqlite-rs256 postgres-opaque postgres-jwt node"  (a subset runs only those)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PEERS=${PEERS:-$ROOT/../shared/peers}
DURATION=${DURATION:-10}
PG=${PG:-postgres://postgres@127.0.0.1:5432/scopegate_bench}
WORK=$(mktemp -d /tmp/scopegate-bench.XXXXXX)
BIN=$ROOT/target/release/scopegate
PORT=18090
trap 'pkill -f "scopegate serve --config $WORK" 2>/dev/null || true; rm -rf "$WORK"' EXIT

command -v wrk >/dev/null || { echo "needs wrk (apt-get install wrk)" >&2; exit 1; }
(cd "$ROOT" && cargo build --release -q -p scopegate)

pg_ready() { psql "${PG%/*}/postgres" -Atc "select 1" >/dev/null 2>&1; }
if pg_ready; then
  psql "${PG%/*}/postgres" -qc "DROP DATABASE IF EXISTS ${PG##*/}" >/dev/null
  psql "${PG%/*}/postgres" -qc "CREATE DATABASE ${PG##*/}" >/dev/null
fi

# case NAME DATABASE_URL FORMAT
CASES=${CASES:-sqlite-opaque sqlite-jwt sqlite-es256 sqlite-rs256 postgres-opaque postgres-jwt node}
wanted() { [[ " $CASES " == *" $1 "* ]]; }

case_run() {
  local name=$1 db=$2 format=$3 policy=$WORK/$1.toml
  wanted "$name" || return 0
  local tokens="format = \"$format\""
  [[ $format == jwt ]] && tokens='format = "jwt"\nalgorithm = "EdDSA"'
  [[ $format == es256 ]] && tokens='format = "jwt"\nalgorithm = "ES256"'
  [[ $format == rs256 ]] && tokens='format = "jwt"\nalgorithm = "RS256"'
  sed -e "s|sqlite://scopegate.db|$db|" -e "s|^format *= *\"opaque\"|$tokens|" \
    "$ROOT/examples/app-analytics/scopegate.toml" > "$policy"
  # One app from one address at full speed: what the limits exist to stop.
  printf '\n[limits]\ntoken_per_client = "off"\ntoken_per_address = "off"\n' >> "$policy"
  local app; app=$("$BIN" app create --config "$policy" --name Bench --env production --scopes "account:read products:read" --json)
  local id secret
  id=$(python3 -c "import json,sys;print(json.loads(sys.argv[1])['client_id'])" "$app")
  secret=$(python3 -c "import json,sys;print(json.loads(sys.argv[1])['client_secret'])" "$app")
  RUST_LOG=warn "$BIN" serve --config "$policy" --listen 127.0.0.1:$PORT ${THREADS:+--threads "$THREADS"} ${CPU_SCHEDULING:+--cpu-scheduling "$CPU_SCHEDULING"} > "$WORK/$name.log" 2>&1 &
  local pid=$!
  sleep 1
  cd "$PEERS/lua"
  export CLIENT_ID=$id CLIENT_SECRET=$secret SCOPE="account:read products:read"
  wrk -t2 -c32 -d3s -s token.lua http://127.0.0.1:$PORT/oauth2/token >/dev/null
  local token_line; token_line=$(wrk -t2 -c32 -d${DURATION}s --latency -s token.lua http://127.0.0.1:$PORT/oauth2/token | grep RESULT)
  local tok; tok=$(curl -s -u "$id:$secret" -d grant_type=client_credentials http://127.0.0.1:$PORT/oauth2/token | python3 -c "import json,sys;print(json.load(sys.stdin)['access_token'])")
  TOKEN=$tok wrk -t2 -c32 -d3s -s introspect.lua http://127.0.0.1:$PORT/oauth2/introspect >/dev/null
  local intro_line; intro_line=$(TOKEN=$tok wrk -t2 -c32 -d${DURATION}s --latency -s introspect.lua http://127.0.0.1:$PORT/oauth2/introspect | grep RESULT)
  local rss; rss=$(ps -o rss= -p $pid)
  kill $pid; wait $pid 2>/dev/null || true
  cd "$ROOT"
  row "scopegate-$name token" "$token_line" "$rss"
  row "scopegate-$name introspect" "$intro_line" "$rss"
}

row() { # label RESULT-line rss_kb
  python3 - "$@" <<'PY'
import sys
label, line, rss = sys.argv[1], sys.argv[2], sys.argv[3]
kv = dict(f.split("=") for f in line.split()[1:])
print(f"| {label} | {float(kv['rps']):,.0f} | {kv['p50_ms']} | {kv['p99_ms']} | {int(rss)/1024:.0f} MB | {kv['non2xx3xx']} |")
PY
}

echo "| case | req/s | p50 ms | p99 ms | RSS | non-2xx |"
echo "|---|---:|---:|---:|---:|---:|"
case_run sqlite-opaque "sqlite://$WORK/opaque.db" opaque
case_run sqlite-jwt "sqlite://$WORK/jwt.db" jwt
case_run sqlite-es256 "sqlite://$WORK/es256.db" es256
case_run sqlite-rs256 "sqlite://$WORK/rs256.db" rs256
if pg_ready; then
  case_run postgres-opaque "$PG" opaque
  psql "${PG%/*}/postgres" -qc "DROP DATABASE ${PG##*/} WITH (FORCE)" >/dev/null; psql "${PG%/*}/postgres" -qc "CREATE DATABASE ${PG##*/}" >/dev/null
  case_run postgres-jwt "$PG" jwt
else
  echo "| postgres | skipped: no server at $PG | | | | |"
fi
# The reference, same machine, same run.
wanted node || exit 0
(cd "$PEERS" && CASES=node DURATION=$DURATION SKIP_INSTALL=${SKIP_INSTALL:-0} ./run.sh 2>/dev/null) \
  | grep -E '^\| oidcp' | awk -F'|' '{gsub(/ /, "", $2); printf "| node-oidc-provider %s | %s | %s | %s | | |\n", $2, $3, $4, $6}'
