#!/usr/bin/env bash
# Soak: `scopegate serve` (release, SQLite, opaque tokens, the built-in echo
# upstream, limits off) under a mix of issuance, introspection, gateway calls
# and revocations at FRACTION of the maximum the same mix reaches, with a
# policy reload every 30 s, for SECONDS. Writes one CSV row per 10 s (requests,
# 5xx, p50 and p99 in µs, the server's RSS in KiB and open descriptors) to
# $OUT, and ends with a summary: 5xx count, RSS and descriptors first vs last
# window, p99 over the first vs the last five minutes (or fifths, if shorter).
#
# usage: bench/soak/run.sh               (30 minutes)
# env:   SECONDS_=1800 FRACTION=0.8 OUT=/tmp/soak.csv BIN=path (not rebuilt)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SECONDS_=${SECONDS_:-1800}
FRACTION=${FRACTION:-0.8}
OUT=${OUT:-/tmp/scopegate-soak.csv}
WORK=$(mktemp -d /tmp/scopegate-soak.XXXXXX)
cd "$ROOT"
if [[ -z ${BIN:-} ]]; then
  cargo build -q --release --locked -p scopegate -p scopegate-bench
  BIN=$ROOT/target/release/scopegate
fi
SOAK=$ROOT/target/release/soak
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
sed -e "s#^database.*#database = \"sqlite://$WORK/soak.db\"#" examples/app-analytics/scopegate.toml > "$WORK/soak.toml"
cat >> "$WORK/soak.toml" <<'TOML'

# One app from one address at a sustained rate: what the limits exist to stop.
[limits]
token_per_client = "off"
token_per_address = "off"
gateway_failures_per_address = "off"
TOML
app=$("$BIN" app create --config "$WORK/soak.toml" --name Soak --env production --scopes "account:read" --json)
id=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["client_id"])' "$app")
secret=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["client_secret"])' "$app")
RUST_LOG=warn "$BIN" serve --config "$WORK/soak.toml" --listen "127.0.0.1:$port" > "$WORK/server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; rm -rf "$WORK"' EXIT
for _ in $(seq 1 60); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.5; done
status=0
"$SOAK" "http://127.0.0.1:$port" "$id" "$secret" "$server" "$SECONDS_" "$FRACTION" > "$OUT" || status=$?
python3 - "$OUT" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
if not rows:
    sys.exit("no samples")
n = max(1, min(30, len(rows) // 5))   # five minutes of 10 s windows, or a fifth
first, last = rows[:n], rows[-n:]
p99 = lambda rs: sorted(int(r["p99_us"]) for r in rs)[len(rs) // 2]
print(f"windows: {len(rows)} x 10 s; requests: {sum(int(r['requests']) for r in rows)}; "
      f"5xx: {sum(int(r['server_errors']) for r in rows)}")
print(f"rss KiB: first {rows[0]['rss_kib']}, max {max(int(r['rss_kib']) for r in rows)}, last {rows[-1]['rss_kib']}")
print(f"open fds: first {rows[0]['open_fds']}, max {max(int(r['open_fds']) for r in rows)}, last {rows[-1]['open_fds']}")
print(f"p99 µs (median of windows): first {n} windows {p99(first)}, last {n} windows {p99(last)}")
PY
grep -q panicked "$WORK/server.log" && { echo "the server panicked" >&2; status=1; }
exit $status
