#!/usr/bin/env bash
# The criterion micro-benchmarks as one JSON object for scripts/bench.sh:
# `bash scripts/bench-micro.sh [core|plugins] [FILTER]`. Each figure is criterion's median time
# per call and calls per second on one core.
#   core (benches/core.rs, scenario `micro`): signing and verifying are also given as a ratio to
#     ring's bare RSA-2048 sign / verify measured in the same run (the hardware's bound).
#   plugins (benches/plugins.rs, scenario `plugin-hook`): a warm hook call of a trivial plugin,
#     of the keyword filter on a 1 KB reply and of the Python plugin, beside the keyword rule in
#     native Rust in the same run (goal: keyword filter < 10 µs; the ratio to native).
#
#   BENCH_PROFILE=bench (default: release settings) or dev (to try the script quickly; its
#   figures are not the ones to quote).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
# Criterion keeps its last results in target/criterion; a stale one must not be read as new.
rm -rf target/criterion
bench="${1:-core}"
cargo bench -q --profile "${BENCH_PROFILE:-bench}" --bench "$bench" -- "${2:-}" >&2
python3 - target/criterion "$bench" <<'PY'
import json, os, sys
root, bench_target = sys.argv[1], sys.argv[2]
out = {"scenario": "micro" if bench_target == "core" else "plugin-hook"}
medians = {}
for group in sorted(os.listdir(root)):
    gdir = os.path.join(root, group)
    for bench in sorted(os.listdir(gdir)):
        path = os.path.join(gdir, bench, "new", "estimates.json")
        if not os.path.exists(path):
            continue
        ns = json.load(open(path))["median"]["point_estimate"]
        medians[(group, bench)] = ns
        name = f"{group}/{bench}" if bench_target == "core" else bench
        out[f"{name}_us"] = round(ns / 1000, 2)
        out[f"{name}_per_s"] = round(1e9 / ns)
for group in ("sign", "verify"):
    base = medians.get((group, "ring_rsa2048"))
    for (g, bench), ns in medians.items():
        if g == group and bench != "ring_rsa2048" and base:
            out[f"{group}/{bench}_of_ring"] = round(base / ns, 2)
if bench_target == "core":
    out["goal"] = "signing and verifying near ring's bare RSA (of_ring close to 1)"
else:
    def median(words):
        return next((ns for (_, b), ns in medians.items() if all(w in b for w in words)), None)
    plugin, native = median(["keyword", "plugin"]), median(["native"])
    if plugin and native:
        out["keyword_filter_of_native"] = round(plugin / native, 2)
    out["goal"] = "keyword filter plugin < 10 us per call; report its ratio to native"
print(json.dumps(out))
PY
