#!/usr/bin/env bash
# User-space instructions per request in scopegate's gateway and /authz,
# counted by valgrind's callgrind. Unlike req/s on a shared 2-CPU box (runs
# vary by 20 to 40%), the count repeats to within a percent whatever else the
# machine is doing, so it shows what a change to the request path saves.
# The kernel's share (the larger one for a proxy) is not counted, and SHA-256
# is overcounted (valgrind hides the CPU's SHA instructions from sha2).
#
#   c      gateway, JWT access token
#   d      gateway, opaque access token
#   e      gateway, HTTP Basic
#   authz  /authz as nginx auth_request calls it, opaque token
#
# usage: bench/gateway/instructions.sh        (from the repository root; ~2 min)
# env:   CASES="d authz"  BIN=path (another scopegate binary)  SECONDS_PER_CASE=6
#        KEEP=dir (copy the callgrind dumps there, for callgrind_annotate)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PEERS=${PEERS:-$ROOT/../shared/peers}
BIN=${BIN:-$ROOT/target/release/scopegate}
CASES=${CASES:-c d e authz}
SECONDS_PER_CASE=${SECONDS_PER_CASE:-6}
WORK=$(mktemp -d /tmp/scopegate-gw-instr.XXXXXX)
. "$ROOT/bench/gateway/common.sh"
for tool in wrk valgrind callgrind_control; do
  command -v $tool >/dev/null || { echo "needs $tool (apt-get install wrk valgrind)" >&2; exit 1; }
done

# The upstream: nginx serving the same 75-byte JSON file as run.sh.
cat > "$WORK/nginx.conf" <<NGINX
worker_processes 1;
pid $WORK/nginx.pid;
error_log $WORK/error.log warn;
events { worker_connections 1024; }
http {
    access_log off; keepalive_requests 10000000;
    client_body_temp_path $WORK/tmp/body; proxy_temp_path $WORK/tmp/proxy;
    fastcgi_temp_path $WORK/tmp/fastcgi; uwsgi_temp_path $WORK/tmp/uwsgi; scgi_temp_path $WORK/tmp/scgi;
    server { listen 127.0.0.1:18281; root $WORK/www; location = /data.json { default_type application/json; } }
}
NGINX
"$NGINX" -p "$WORK" -c "$WORK/nginx.conf"

# scopegate under callgrind, one output file per instance.
start jwt 18290 jwt 18281 valgrind --tool=callgrind --callgrind-out-file="$WORK/jwt.cg"; JWT=$TOKEN
start opaque 18291 opaque 18281 valgrind --tool=callgrind --callgrind-out-file="$WORK/opaque.cg"
OPAQUE=$TOKEN; BASIC=$(printf '%s:%s' "$ID" "$SECRET" | base64 -w0)

count() { # CASE NAME PORT PATH [curl/wrk header args...]: one table row
  local case=$1 name=$2 port=$3 path=$4; shift 4
  [[ " $CASES " == *" $case "* ]] || return 0
  local url="http://127.0.0.1:$port$path" code
  code=$(curl -s -o /dev/null -w '%{http_code}' "$@" "$url")
  [[ $code == 200 ]] || { echo "| $case | smoke check answered $code | |"; return; }
  local pid; pid=$(pgrep -f "callgrind-out-file=$WORK/$name.cg")
  (cd "$PEERS/lua" && wrk -t1 -c8 -d2s -s get.lua "$@" "$url" >/dev/null)
  callgrind_control -z "$pid" >/dev/null 2>&1
  local line; line=$(cd "$PEERS/lua" && wrk -t1 -c8 -d"${SECONDS_PER_CASE}s" -s get.lua "$@" "$url" | grep RESULT)
  callgrind_control -d "$pid" >/dev/null 2>&1
  sleep 0.5
  local dump; dump=$(ls -v "$WORK/$name.cg".* | tail -1)
  python3 - "$case" "$line" "$dump" <<'PY'
import sys
case, line, dump = sys.argv[1:]
kv = dict(f.split("=") for f in line.split()[1:])
total = next(int(l.split()[1]) for l in open(dump) if l.startswith(("summary:", "totals:")))
n = int(kv["requests"])
bad = f" ({kv['non2xx3xx']} not 2xx)" if kv["non2xx3xx"] != "0" else ""
print(f"| {case} | {n:,}{bad} | {total // n:,} |")
PY
  if [[ -n ${KEEP:-} ]]; then mkdir -p "$KEEP" && cp "$dump" "$KEEP/$case.cg"; fi
}

echo "| case | requests | instructions per request |"
echo "|---|---:|---:|"
count c jwt 18290 /data.json -H "Authorization: Bearer $JWT"
count d opaque 18291 /data.json -H "Authorization: Bearer $OPAQUE"
count e opaque 18291 /data.json -H "Authorization: Basic $BASIC"
count authz opaque 18291 /authz -H "Authorization: Bearer $OPAQUE" -H "X-Original-Method: GET" -H "X-Original-URI: /data.json"
