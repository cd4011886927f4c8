#!/usr/bin/env bash
# Clients no one here wrote, against the real `scopegate serve` (debug build,
# the storefront example, JWT access tokens): Python authlib and PyJWT
# (interop/authlib_pyjwt.py), once per JWT algorithm, and npm openid-client
# (interop/openid_client.mjs). The Rust oauth2 crate is driven by the e2e
# tests. Versions are pinned here.
# Usage: bash .ci/interop.sh
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
venv=target/ci-venv
[[ -x $venv/bin/python ]] || python3 -m venv "$venv"
"$venv/bin/pip" install -q 'authlib==1.6.5' 'pyjwt[crypto]==2.10.1' 'requests==2.32.5'
node_dir=target/ci-node
if [[ ! -f $node_dir/node_modules/openid-client/package.json ]]; then
  mkdir -p "$node_dir"
  (cd "$node_dir" && npm install --silent --no-audit --no-fund openid-client@6.8.1 >/dev/null)
fi
cargo build -q --locked -p scopegate
bin=$root/target/debug/scopegate
work=$(mktemp -d)
server=
trap '[[ -n $server ]] && kill $server 2>/dev/null; rm -rf "$work"' EXIT

run_with() { # ALGORITHM
  local alg=$1 port
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  local issuer="http://127.0.0.1:$port" config="$work/$alg.toml"
  sed -e "s#^issuer .*#issuer   = \"$issuer\"#" -e "s#^listen .*#listen   = \"127.0.0.1:$port\"#" \
      -e "s#^database .*#database = \"sqlite://$work/$alg.db\"#" \
      -e "s#^format      = \"jwt\"#format      = \"jwt\"\nalgorithm   = \"$alg\"#" \
      examples/storefront/scopegate.toml > "$config"
  printf 'correct horse battery\n' | "$bin" user create --config "$config" --login alice --password-stdin \
    --permission Orders --permission OrderStatuses >/dev/null
  local app id secret
  app=$("$bin" app create --config "$config" --name Interop --env production --scopes "orders" \
    --redirect-uri "http://127.0.0.1:9/callback" --json)
  id=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["client_id"])' "$app")
  secret=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["client_secret"])' "$app")
  RUST_LOG=warn "$bin" serve --config "$config" >"$work/$alg.log" 2>&1 &
  server=$!
  for _ in $(seq 1 60); do curl -sf "$issuer/healthz" >/dev/null && break; sleep 0.5; done
  echo "--- tokens.algorithm = $alg"
  ISSUER=$issuer CLIENT_ID=$id CLIENT_SECRET=$secret REDIRECT_URI=http://127.0.0.1:9/callback \
    LOGIN=alice PASSWORD='correct horse battery' SCOPE=orders ALG=$alg \
    "$venv/bin/python" interop/authlib_pyjwt.py
  if [[ $alg == ES256 ]]; then
    # ES modules resolve packages from the script's own directory.
    cp interop/openid_client.mjs "$node_dir/"
    (cd "$node_dir" && ISSUER=$issuer CLIENT_ID=$id CLIENT_SECRET=$secret SCOPE=orders \
      node openid_client.mjs)
  fi
  kill $server; wait $server 2>/dev/null || true
  server=
}
run_with ES256
run_with RS256
