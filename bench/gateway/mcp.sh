#!/usr/bin/env bash
# What deciding an MCP call costs the gateway: a `tools/call` to /mcp (the
# JSON-RPC body read whole and checked against Mcp-Method/Mcp-Name, then
# decided by [[mcp_route]]) against a plain proxied POST of the same size
# to an HTTP route, both with a JWT access token, through the same scopegate
# to the same nginx origin (which answers every POST with a fixed JSON-RPC
# result), the same load (wrk -t2 -c32), in one run. Also `tools/list`, whose
# answer is read, filtered to what the caller may call and re-sent.
#
# usage: bench/gateway/mcp.sh     (from the repository root; about a minute)
# env:   DURATION=10 WARMUP=3 CONNS=32 BIN=path (another scopegate binary, not rebuilt)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-3}
CONNS=${CONNS:-32}
WORK=$(mktemp -d /tmp/scopegate-mcp-bench.XXXXXX)
BIN=${BIN:-$ROOT/target/release/scopegate}
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
command -v wrk >/dev/null || { echo "needs wrk (apt-get install wrk)" >&2; exit 1; }
[[ -x $NGINX ]] || { echo "needs nginx (apt-get install nginx)" >&2; exit 1; }
cleanup() {
  [[ -f $WORK/nginx.pid ]] && kill "$(cat "$WORK/nginx.pid")" 2>/dev/null || true
  pkill -f "serve --config $WORK" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
[[ $BIN == "$ROOT/target/release/scopegate" ]] && (cd "$ROOT" && cargo build --release -q -p scopegate)
mkdir -p "$WORK/tmp"
chmod 755 "$WORK"

# The origin: a fixed tools/call result for every POST, and a tools/list of
# 20 tools (the caller may call 5 of them) for /mcp-list.
TOOLS=$(python3 -c 'import json;print(json.dumps({"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":n,"description":"a tool","inputSchema":{"type":"object"}} for n in ["list_orders","search_catalog","create_order","refund_order","summarize"]*4],"cacheScope":"public"}}))')
cat > "$WORK/nginx.conf" <<NGINX
worker_processes auto;
pid $WORK/nginx.pid;
error_log $WORK/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_timeout 65; keepalive_requests 10000000;
    client_body_temp_path $WORK/tmp/body; proxy_temp_path $WORK/tmp/proxy;
    fastcgi_temp_path $WORK/tmp/fastcgi; uwsgi_temp_path $WORK/tmp/uwsgi; scgi_temp_path $WORK/tmp/scgi;
    server {
        listen 127.0.0.1:18381 reuseport backlog=4096;
        default_type application/json;
        location = /mcp { if (\$http_mcp_method = "tools/list") { return 200 '$TOOLS'; }
                          return 200 '{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"ok"}]}}'; }
        location / { return 200 '{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"ok"}]}}'; }
    }
}
NGINX
"$NGINX" -p "$WORK" -c "$WORK/nginx.conf"

sed -e "s|sqlite://scopegate.db|sqlite://$WORK/sg.db|" -e 's|"http://127.0.0.1:8080"|"http://127.0.0.1:18380"|' \
    -e 's|"http://127.0.0.1:8000"|"http://127.0.0.1:18381"|' -e 's|^format *= *"jwt"|format = "jwt"\nalgorithm = "EdDSA"|' \
    "$ROOT/examples/mcp/scopegate.toml" > "$WORK/sg.toml"
app=$("$BIN" app create --config "$WORK/sg.toml" --name Bench --env production --scopes "orders read_catalog" --json)
ID=$(python3 -c "import json,sys;print(json.loads(sys.argv[1])['client_id'])" "$app")
SECRET=$(python3 -c "import json,sys;print(json.loads(sys.argv[1])['client_secret'])" "$app")
RUST_LOG=${RUST_LOG:-info} setsid "$BIN" serve --config "$WORK/sg.toml" --listen 127.0.0.1:18380 > "$WORK/sg.log" 2>&1 &
for _ in $(seq 300); do curl -sf http://127.0.0.1:18380/healthz >/dev/null && break; sleep 0.1; done
token() { curl -s -u "$ID:$SECRET" -d grant_type=client_credentials ${1:+-d resource=$1} http://127.0.0.1:18380/oauth2/token \
  | python3 -c "import json,sys;print(json.load(sys.stdin)['access_token'])"; }
MCP_TOKEN=$(token http://127.0.0.1:18380/mcp)
API_TOKEN=$(token)

BODY='{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"create_order","arguments":{"total":12.5,"note":"a bench order"}}}'
LIST='{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{}}'
lua() { # FILE TOKEN BODY [HEADER...]
  local file=$1 token=$2 body=$3; shift 3
  {
    printf 'wrk.method = "POST"\nwrk.body = [[%s]]\n' "$body"
    printf 'wrk.headers["Content-Type"] = "application/json"\nwrk.headers["Authorization"] = "Bearer %s"\n' "$token"
    for h in "$@"; do printf 'wrk.headers["%s"] = "%s"\n' "${h%%:*}" "${h#*: }"; done
  } > "$file"
}
lua "$WORK/call.lua" "$MCP_TOKEN" "$BODY" "Mcp-Method: tools/call" "Mcp-Name: create_order"
lua "$WORK/post.lua" "$API_TOKEN" "$BODY"
lua "$WORK/list.lua" "$MCP_TOKEN" "$LIST" "Mcp-Method: tools/list"
check() { # PATH TOKEN BODY [HEADER...]: the case answers 200 before it is measured
  local path=$1 token=$2 body=$3; shift 3
  local args=(-s -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/json' -H "Authorization: Bearer $token")
  for h in "$@"; do args+=(-H "$h"); done
  local code; code=$(curl "${args[@]}" --data "$body" "http://127.0.0.1:18380$path")
  [[ $code == 200 ]] || { echo "POST $path answered $code, not 200" >&2; cat "$WORK/sg.log" >&2; exit 1; }
}
check /mcp "$MCP_TOKEN" "$BODY" "Mcp-Method: tools/call" "Mcp-Name: create_order"
check /api/v1/orders/7 "$API_TOKEN" "$BODY"
check /mcp "$MCP_TOKEN" "$LIST" "Mcp-Method: tools/list"

measure() { # ID NAME LUA PATH
  wrk -t2 -c"$CONNS" -d"${WARMUP}s" -s "$WORK/$3" "http://127.0.0.1:18380$4" >/dev/null
  wrk -t2 -c"$CONNS" -d"${DURATION}s" --latency -s "$WORK/$3" "http://127.0.0.1:18380$4" > "$WORK/$1.out"
  local rps p50 p99
  rps=$(awk '/Requests\/sec/ {print $2}' "$WORK/$1.out")
  p50=$(awk '$1=="50%" {print $2}' "$WORK/$1.out")
  p99=$(awk '$1=="99%" {print $2}' "$WORK/$1.out")
  printf '| %-52s | %10s | %8s | %8s |\n' "$2" "$rps" "$p50" "$p99"
  echo "$rps" > "$WORK/$1.rps"
}
echo "| case (POST, ${#BODY}-byte body, JWT) | req/s | p50 | p99 |"
echo "|---|---:|---:|---:|"
measure post "plain proxied POST to an HTTP route" post.lua /api/v1/orders/7
measure call "MCP tools/call (body checked, decided per tool)" call.lua /mcp
measure list "MCP tools/list (answer filtered, 20 tools to 5)" list.lua /mcp
python3 - "$WORK" <<'PY'
import sys
w = sys.argv[1]
post = float(open(f"{w}/post.rps").read())
call = float(open(f"{w}/call.rps").read())
print(f"\ntools/call throughput: {call / post * 100:.1f}% of the plain POST ({(1 - call / post) * 100:+.1f}% cost)")
PY
