#!/usr/bin/env bash
# The criterion micro-benchmarks (benches/core.rs) as one JSON object for scripts/bench.sh:
# `bash scripts/bench-micro.sh [FILTER]`. Each figure is criterion's median time per call and
# calls per second on one core; signing and verifying are also given as a ratio to ring's bare
# RSA-2048 sign / verify measured in the same run (the hardware's bound).
#
#   BENCH_PROFILE is not used: `cargo bench` builds with the bench profile (release).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
# Criterion keeps its last results in target/criterion; a stale one must not be read as new.
rm -rf target/criterion
cargo bench -q --bench core -- "${1:-}" >&2
python3 - target/criterion <<'PY'
import json, os, sys
root = sys.argv[1]
out = {"scenario": "micro"}
medians = {}
for group in sorted(os.listdir(root)):
    gdir = os.path.join(root, group)
    for bench in sorted(os.listdir(gdir)):
        path = os.path.join(gdir, bench, "new", "estimates.json")
        if not os.path.exists(path):
            continue
        ns = json.load(open(path))["median"]["point_estimate"]
        medians[(group, bench)] = ns
        out[f"{group}/{bench}_us"] = round(ns / 1000, 2)
        out[f"{group}/{bench}_per_s"] = round(1e9 / ns)
for group in ("sign", "verify"):
    base = medians.get((group, "ring_rsa2048"))
    for (g, bench), ns in medians.items():
        if g == group and bench != "ring_rsa2048" and base:
            out[f"{group}/{bench}_of_ring"] = round(base / ns, 2)
out["goal"] = "signing and verifying near ring's bare RSA (of_ring close to 1)"
print(json.dumps(out))
PY
