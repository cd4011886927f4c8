#!/usr/bin/env python3
"""The decision's share of scopegate's CPU samples in a `perf record` of the gateway.

usage: decision_share.py PERF_DATA   (run.sh calls it with PROFILE=1)

The decision path is every function between the request head and the verdict:
path canonicalization, route matching, reading the credentials, the SHA-256 of
the Authorization value, the identity cache, a store or signature check on a
miss, narrowing and the decision itself. Logging, metrics, HTTP parsing and
proxying are not the decision. Shares are of all samples of the process,
kernel included, self time (perf's --no-children), so nothing counts twice.
"""
import re
import subprocess
import sys

DECISION = re.compile(
    r"scopegate_core::"  # canonicalize, route walk, credentials, narrowing, decide
    r"|scopegate_server::gateway::authorize|scopegate_server::identification::"
    r"|scopegate_service::credentials::|scopegate_service::(revocations|record_cache)::"
    r"|sha2::|arc_swap::"  # the cache key; the live policy's snapshot
)
NOT_DECISION = re.compile(r"log_format|metrics|record")

report = subprocess.run(
    ["perf", "report", "-i", sys.argv[1], "--no-children", "--sort", "dso,sym", "--stdio", "-g", "none"],
    capture_output=True, text=True, check=True,
).stdout
user = decision = policy = 0.0
parts = []
for line in report.splitlines():
    m = re.match(r"\s*([\d.]+)%\s+(\S+)\s+\[(.)\]\s+(.*)", line)
    if not m:
        continue
    share, _dso, kind, symbol = float(m[1]), m[2], m[3], m[4].strip()
    if kind == ".":
        user += share
    if DECISION.search(symbol) and not NOT_DECISION.search(symbol):
        decision += share
        policy += share if symbol.startswith("scopegate_core::") else 0.0
        parts.append((share, symbol))
print(f"decision path: {decision:.2f}% of scopegate's CPU samples (user space in all: {user:.1f}%)")
print(f"  of which the policy core (canonicalize, match, credentials syntax, decide): {policy:.2f}%")
for share, symbol in sorted(parts, reverse=True)[:8]:
    print(f"  {share:5.2f}%  {symbol[:100]}")
