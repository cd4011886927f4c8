#!/usr/bin/env bash
# Runs every fuzz target (fuzz/, cargo-fuzz, libFuzzer) for SECONDS on a
# copy of its checked-in corpus: no crash, no hang, no runaway memory. The
# long runs are documented in docs/security.md.
# Usage: bash .ci/fuzz.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
seconds=${1:-10}
# cargo-fuzz passes nightly-only flags; the stable toolchain takes them so.
export RUSTC_BOOTSTRAP=1
if ! cargo fuzz --version >/dev/null 2>&1; then
  cargo install --locked cargo-fuzz --version 0.13.2
fi
cargo fuzz build -O --sanitizer none
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for target in $(cargo fuzz list); do
  mkdir -p "$work/$target"
  # New inputs go to the scratch directory; the checked-in corpus is read only.
  cargo fuzz run -O --sanitizer none "$target" "$work/$target" "corpus/$target" -- \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=8192 \
    -artifact_prefix="$work/" 2>&1 | grep -E '^(Done|==|SUMMARY)|panicked|ERROR' || true
  # libFuzzer exits non-zero on a crash; grep above hides that, so ask again.
  if ls "$work"/crash-* "$work"/timeout-* "$work"/oom-* >/dev/null 2>&1; then
    echo "fuzz target $target failed; reproduce with: cargo fuzz run $target <artifact>" >&2
    ls "$work"/crash-* "$work"/timeout-* "$work"/oom-* 2>/dev/null >&2
    exit 1
  fi
done
