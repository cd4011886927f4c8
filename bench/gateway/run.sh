#!/usr/bin/env bash
# Gateway load benchmark, every case in one run on loopback, same load generator
# (wrk -t2 -c32, the peers' get.lua) and the same upstream: nginx serving a small
# fixed JSON file.
#   a  the upstream directly
#   b  nginx proxy_pass in front of it, no auth
#   c  scopegate gateway, JWT access token
#   d  scopegate gateway, opaque access token
#   e  scopegate gateway, HTTP Basic (client_id:client_secret)
#   f  nginx auth_request to scopegate's /authz, then proxy_pass
#   g  nginx auth_request to a trivial nginx location answering 204
#   h  (only when CASES names it) nginx proxy_pass as in b, but in processes
#      of its own, apart from the origin's: scopegate's arrangement. In b the
#      proxy and the origin share two worker processes, and a request whose
#      upstream connection the same worker serves crosses no process at all.
#
# usage: bench/gateway/run.sh          (from the repository root; ~2.5 min)
# env:   DURATION=10 WARMUP=3 CONNS=32 PEERS=../shared/peers PROFILE=1 (perf record on case d; PROFILE_CASE=c or e for another)
#        CASES="b d f g" (a subset)  BIN=path (another scopegate binary, not rebuilt)
#        THREADS=N (scopegate worker threads; default one per CPU)  RUST_LOG (default info: every decision logged)
#        PIN=1 (the peers' "one server core": every server on CPU 0, wrk -t1 on CPU 1)
#        CPU_SCHEDULING=other (scopegate's --cpu-scheduling; default batch)
#        PIN_WORKERS=1 (scopegate's worker N pinned to CPU N, as nginx's worker_cpu_affinity auto)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PEERS=${PEERS:-$ROOT/../shared/peers}
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-3}
CONNS=${CONNS:-32}
WORK=$(mktemp -d /tmp/scopegate-gw-bench.XXXXXX)
BIN=${BIN:-$ROOT/target/release/scopegate}
CASES=${CASES:-a b c d e f g}
PROFILE_CASE=${PROFILE_CASE:-d}
. "$ROOT/bench/gateway/common.sh"
command -v wrk >/dev/null || { echo "needs wrk (apt-get install wrk)" >&2; exit 1; }

# ---- nginx: origin, proxy, auth_request baselines, auth_request to scopegate --------
cat > "$WORK/nginx.conf" <<NGINX
worker_processes auto;
pid $WORK/nginx.pid;
error_log $WORK/error.log warn;
events { worker_connections 4096; multi_accept on; }
http {
    access_log off;
    sendfile on; tcp_nopush on; tcp_nodelay on;
    keepalive_timeout 65; keepalive_requests 10000000;
    open_file_cache max=16 inactive=60s; open_file_cache_valid 60s;
    client_body_temp_path $WORK/tmp/body; proxy_temp_path $WORK/tmp/proxy;
    fastcgi_temp_path $WORK/tmp/fastcgi; uwsgi_temp_path $WORK/tmp/uwsgi; scgi_temp_path $WORK/tmp/scgi;
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    upstream origin    { server 127.0.0.1:18181; keepalive 64; }
    upstream noop      { server 127.0.0.1:18185; keepalive 64; }
    upstream scopegate { server 127.0.0.1:18191; keepalive 64; }
    server { listen 127.0.0.1:18181 reuseport backlog=4096; root $WORK/www;
             location = /data.json { default_type application/json; } }
    server { listen 127.0.0.1:18182 reuseport backlog=4096; location / { proxy_pass http://origin; } }
    server { listen 127.0.0.1:18183 reuseport backlog=4096;
             location / { auth_request /_auth; proxy_pass http://origin; }
             location = /_auth { internal; proxy_pass http://noop/check; proxy_pass_request_body off;
                                 proxy_set_header Content-Length ""; proxy_set_header Connection ""; } }
    server { listen 127.0.0.1:18185 reuseport backlog=4096; location = /check { return 204; } }
    server { listen 127.0.0.1:18184 reuseport backlog=4096;
             location / {
                 auth_request /_scopegate;
                 auth_request_set \$sg_client \$upstream_http_x_scopegate_client_id;
                 auth_request_set \$sg_scopes \$upstream_http_x_scopegate_scopes;
                 proxy_set_header X-Scopegate-Client-Id \$sg_client;
                 proxy_set_header X-Scopegate-Scopes \$sg_scopes;
                 proxy_set_header Authorization "";
                 proxy_set_header Connection "";
                 proxy_pass http://origin;
             }
             location = /_scopegate { internal; proxy_pass http://scopegate/authz; proxy_pass_request_body off;
                 proxy_set_header Content-Length ""; proxy_set_header Connection "";
                 proxy_set_header X-Original-Method \$request_method; proxy_set_header X-Original-URI \$request_uri; } }
}
NGINX
# PIN=1: servers on CPU 0, the load generator alone on CPU 1, as ../shared/peers/run.sh does.
if [[ ${PIN:-0} == 1 ]]; then SERVER=(taskset -c 0); LOAD=(taskset -c 1); WRK_THREADS=1
else SERVER=(); LOAD=(); WRK_THREADS=2; fi
"${SERVER[@]}" "$NGINX" -p "$WORK" -c "$WORK/nginx.conf"
if [[ " $CASES " == *" h "* ]]; then
  sed -e "s|pid $WORK/nginx.pid|pid $WORK/proxy.pid|" -e "s|error_log $WORK/error.log|error_log $WORK/proxy.error.log|" \
      -e '/^    server { listen/,$d' "$WORK/nginx.conf" > "$WORK/proxy.conf"
  printf '    server { listen 127.0.0.1:18186 reuseport backlog=4096; location / { proxy_pass http://origin; } }\n}\n' >> "$WORK/proxy.conf"
  "${SERVER[@]}" "$NGINX" -p "$WORK" -c "$WORK/proxy.conf"
  trap '[[ -f $WORK/proxy.pid ]] && kill "$(cat "$WORK/proxy.pid")" 2>/dev/null; cleanup' EXIT
fi
sleep 0.5

# ---- scopegate: one JWT instance, one opaque instance, both in front of the origin ----
start jwt 18190 jwt 18181 "${SERVER[@]}";       JWT=$TOKEN
start opaque 18191 opaque 18181 "${SERVER[@]}"; OPAQUE=$TOKEN; BASIC=$(printf '%s:%s' "$ID" "$SECRET" | base64 -w0)
pid_of() { pgrep -f "serve --config $WORK/$1.toml"; }

run() { # LABEL URL [wrk args...]
  local label=$1 url=$2; shift 2
  [[ " $CASES " == *" ${label%% *} "* ]] || return 0
  local code; code=$(curl -s -o /dev/null -w '%{http_code}' "$@" "$url")
  [[ $code == 200 ]] || { echo "| $label | smoke check answered $code | | | | |"; return; }
  (cd "$PEERS/lua" && "${LOAD[@]}" wrk -t"$WRK_THREADS" -c"$CONNS" -d"${WARMUP}s" -s get.lua "${WRK_ARGS[@]}" "$url" >/dev/null)
  local perf=
  if [[ ${PROFILE:-0} != 0 && ${label%% *} == "$PROFILE_CASE" ]] && command -v perf >/dev/null; then
    local instance=opaque; [[ $PROFILE_CASE == c ]] && instance=jwt
    perf record -F 999 -g -o "$WORK/perf.data" -p "$(pid_of $instance)" -- sleep "$DURATION" >/dev/null 2>&1 &
    perf=$!
  fi
  local line; line=$(cd "$PEERS/lua" && "${LOAD[@]}" wrk -t"$WRK_THREADS" -c"$CONNS" -d"${DURATION}s" --latency -s get.lua "${WRK_ARGS[@]}" "$url" | grep RESULT)
  python3 - "$label" "$line" "${RSS:-}" <<'PY'
import sys
label, line, rss = sys.argv[1], sys.argv[2], sys.argv[3]
kv = dict(f.split("=") for f in line.split()[1:])
rss = f"{int(rss)/1024:.0f} MB" if rss else ""
print(f"| {label} | {float(kv['rps']):,.0f} | {kv['p50_ms']} | {kv['p99_ms']} | {rss} | {kv['non2xx3xx']} |")
PY
  if [[ -n $perf ]]; then
    wait "$perf" || true
    cp "$WORK/perf.data" "$ROOT/target/gateway-perf.data"
    perf report -i "$WORK/perf.data" --no-children --percent-limit 0.5 --stdio 2>/dev/null | grep -v '^#' | grep '%' | head -40 > "$ROOT/target/gateway-profile.txt" || true
    python3 "$ROOT/bench/gateway/decision_share.py" "$ROOT/target/gateway-perf.data"
  fi
}
rss() { ps -o rss= -p "$(pid_of "$1")" | tr -d ' '; }

echo "| case | req/s | p50 ms | p99 ms | scopegate RSS | non-2xx |"
echo "|---|---:|---:|---:|---:|---:|"
WRK_ARGS=();                                   RSS=     run "a upstream direct"          http://127.0.0.1:18181/data.json
WRK_ARGS=();                                   RSS=     run "b nginx proxy_pass"         http://127.0.0.1:18182/data.json
WRK_ARGS=();                                   RSS=     run "h nginx proxy_pass, own processes" http://127.0.0.1:18186/data.json
WRK_ARGS=(-H "Authorization: Bearer $JWT");    RSS=     run "c scopegate, JWT"           http://127.0.0.1:18190/data.json -H "Authorization: Bearer $JWT"
echo "$(rss jwt)" > "$WORK/rss.jwt"
WRK_ARGS=(-H "Authorization: Bearer $OPAQUE"); RSS=     run "d scopegate, opaque token"  http://127.0.0.1:18191/data.json -H "Authorization: Bearer $OPAQUE"
WRK_ARGS=(-H "Authorization: Basic $BASIC");   RSS=     run "e scopegate, HTTP Basic"    http://127.0.0.1:18191/data.json -H "Authorization: Basic $BASIC"
WRK_ARGS=(-H "Authorization: Bearer $OPAQUE"); RSS=     run "f nginx auth_request → scopegate /authz" http://127.0.0.1:18184/data.json -H "Authorization: Bearer $OPAQUE"
WRK_ARGS=();                                   RSS=     run "g nginx auth_request → nginx 204" http://127.0.0.1:18183/data.json
echo
echo "scopegate RSS after load: JWT instance $(( $(cat "$WORK/rss.jwt") / 1024 )) MB, opaque instance $(( $(rss opaque) / 1024 )) MB"
