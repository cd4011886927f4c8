#!/usr/bin/env bash
# CPU per proxied request, nginx proxy_pass against scopegate on equal terms:
# one nginx worker proxying and one scopegate worker, each in front of the
# same separate one-worker nginx origin, the same load (wrk -t1 -c16, the
# peers' get.lua). CPU is read from /proc (user and system time of every
# thread) over the measured seconds and divided by the requests served.
# Unlike req/s on a shared 2-CPU box, this compares the cost of proxying
# itself, whatever else the machine is doing.
#
#   b  nginx proxy_pass, no auth
#   d  scopegate gateway, opaque access token
#
# usage: bench/gateway/cpu.sh          (from the repository root; ~1 min)
# env:   ROUNDS=3 (interleaved b, d pairs)  DURATION=8  BIN=path (another scopegate binary)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PEERS=${PEERS:-$ROOT/../shared/peers}
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-8}
WORK=$(mktemp -d /tmp/scopegate-gw-cpu.XXXXXX)
BIN=${BIN:-$ROOT/target/release/scopegate}
. "$ROOT/bench/gateway/common.sh"
trap '[[ -f $WORK/proxy.pid ]] && kill "$(cat "$WORK/proxy.pid")" 2>/dev/null; cleanup' EXIT
command -v wrk >/dev/null || { echo "needs wrk (apt-get install wrk)" >&2; exit 1; }

nginx_conf() { # NAME PORT SERVER-BLOCK-BODY [HTTP-EXTRA]
  cat > "$WORK/$1.conf" <<NGINX
worker_processes 1;
pid $WORK/$1.pid;
error_log $WORK/$1.error.log warn;
events { worker_connections 4096; }
http {
    access_log off; tcp_nodelay on; keepalive_requests 10000000;
    client_body_temp_path $WORK/tmp/body; proxy_temp_path $WORK/tmp/proxy;
    fastcgi_temp_path $WORK/tmp/fastcgi; uwsgi_temp_path $WORK/tmp/uwsgi; scgi_temp_path $WORK/tmp/scgi;
    ${4:-}
    server { listen 127.0.0.1:$2 backlog=4096; $3 }
}
NGINX
  "$NGINX" -p "$WORK" -c "$WORK/$1.conf"
}
# The origin is "nginx" so that common.sh's cleanup stops it.
nginx_conf nginx 18381 "root $WORK/www; location = /data.json { default_type application/json; }"
nginx_conf proxy 18382 "location / { proxy_pass http://origin; }" \
  "proxy_http_version 1.1; proxy_set_header Connection \"\"; upstream origin { server 127.0.0.1:18381; keepalive 64; }"
sleep 0.3
THREADS=1 start opaque 18391 opaque 18381; OPAQUE=$TOKEN
PROXY_WORKER=$(pgrep -P "$(cat "$WORK/proxy.pid")")
SCOPEGATE=$(pgrep -f "serve --config $WORK/opaque.toml")

ticks() { # PID -> "user system" clock ticks of all its threads
  local user=0 system=0 f
  for f in /proc/"$1"/task/*/stat; do
    read -r -a fields <<< "$(sed 's/.*) //' "$f")"
    user=$((user + fields[11])); system=$((system + fields[12]))
  done
  echo "$user $system"
}
measure() { # LABEL PID URL [wrk header args...]
  local label=$1 pid=$2 url=$3; shift 3
  (cd "$PEERS/lua" && wrk -t1 -c16 -d2s -s get.lua "$@" "$url" >/dev/null)
  local before; before=$(ticks "$pid")
  local line; line=$(cd "$PEERS/lua" && wrk -t1 -c16 -d"${DURATION}s" --latency -s get.lua "$@" "$url" | grep RESULT)
  local after; after=$(ticks "$pid")
  python3 - "$label" "$line" "$before" "$after" "$(getconf CLK_TCK)" <<'PY'
import sys
label, line, before, after, hz = sys.argv[1], sys.argv[2], sys.argv[3].split(), sys.argv[4].split(), int(sys.argv[5])
kv = dict(f.split("=") for f in line.split()[1:])
n = int(kv["requests"])
user, system = ((int(a) - int(b)) * 1e6 / hz / n for a, b in zip(after, before))
print(f"| {label} | {float(kv['rps']):,.0f} | {kv['p99_ms']} | {user + system:.1f} | {user:.1f} | {system:.1f} |")
PY
}

echo "| case | req/s | p99 ms | CPU µs per request | user | system |"
echo "|---|---:|---:|---:|---:|---:|"
for _ in $(seq "$ROUNDS"); do
  measure "b nginx proxy_pass (one worker)" "$PROXY_WORKER" http://127.0.0.1:18382/data.json
  measure "d scopegate, opaque token (one worker)" "$SCOPEGATE" http://127.0.0.1:18391/data.json -H "Authorization: Bearer $OPAQUE"
done
