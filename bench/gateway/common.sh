# Shared by run.sh and instructions.sh; sourced after ROOT, WORK and BIN are set.
# Stops what the script started on exit, writes the origin's fixed JSON file,
# and starts scopegate instances in front of an origin port.
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
cleanup() {
  [[ -f $WORK/nginx.pid ]] && kill "$(cat "$WORK/nginx.pid")" 2>/dev/null || true
  pkill -f "serve --config $WORK" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

[[ -x $NGINX ]] || { echo "needs nginx (apt-get install nginx)" >&2; exit 1; }
[[ $BIN == "$ROOT/target/release/scopegate" ]] && (cd "$ROOT" && cargo build --release -q -p scopegate)

mkdir -p "$WORK/www" "$WORK/logs" "$WORK/tmp"
chmod 755 "$WORK" "$WORK/www"   # nginx workers may run as another user
printf '{"id":42,"name":"bench","items":[1,2,3],"ok":true,"note":"fixed payload"}\n' > "$WORK/www/data.json"

policy() { # FILE FORMAT ORIGIN_PORT
  sed -e "s|sqlite://scopegate.db|sqlite://$WORK/$2.db|" -e "s|^format *= *\"opaque\"|format = \"$2\"|" \
      -e "s|^upstream *= *\"echo\"|upstream = \"http://127.0.0.1:$3\"|" \
      "$ROOT/examples/app-analytics/scopegate.toml" > "$1"
  # "jwt" is measured with Ed25519, as the published figures were.
  [[ $2 == jwt ]] && sed -i 's|^format *= *"jwt"|format = "jwt"\nalgorithm = "EdDSA"|' "$1"
  printf '\n[[route]]\nmatch  = "GET /data.json"\nany_of = ["account:read"]\n' >> "$1"
}
start() { # NAME PORT FORMAT ORIGIN_PORT [LAUNCHER...] -> sets ID SECRET TOKEN
  local name=$1 port=$2 format=$3 origin=$4; shift 4
  policy "$WORK/$name.toml" "$format" "$origin"
  local app; app=$("$BIN" app create --config "$WORK/$name.toml" --name Bench --env production --scopes "account:read" --json)
  ID=$(python3 -c "import json,sys;print(json.loads(sys.argv[1])['client_id'])" "$app")
  SECRET=$(python3 -c "import json,sys;print(json.loads(sys.argv[1])['client_secret'])" "$app")
  # In a session of its own, as nginx puts itself (it daemonizes) and as a
  # service runs: with the kernel's autogroups (sched_autogroup_enabled=1),
  # a server started in this script's session shares one CPU share with wrk.
  RUST_LOG=${RUST_LOG:-info} setsid "$@" "$BIN" serve --config "$WORK/$name.toml" --listen "127.0.0.1:$port" \
    ${THREADS:+--threads "$THREADS"} ${CPU_SCHEDULING:+--cpu-scheduling "$CPU_SCHEDULING"} > "$WORK/$name.log" 2>&1 &
  for _ in $(seq 300); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
  if [[ ${PIN_WORKERS:-0} == 1 ]]; then
    local pid; pid=$(pgrep -f "serve --config $WORK/$name.toml")
    local cpu=0
    for t in $(ls /proc/$pid/task | sort -n); do
      [[ $(cat "/proc/$pid/task/$t/comm") == scopegate-worke* ]] || continue
      taskset -pc "$cpu" "$t" >/dev/null; cpu=$((cpu + 1))
    done
  fi
  TOKEN=$(curl -s -u "$ID:$SECRET" -d grant_type=client_credentials "http://127.0.0.1:$port/oauth2/token" \
    | python3 -c "import json,sys;print(json.load(sys.stdin)['access_token'])")
}
