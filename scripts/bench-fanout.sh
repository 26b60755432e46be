#!/usr/bin/env bash
# The fan-out benchmark (not a test): `bash scripts/bench-fanout.sh [--hosts 100,200,2000]
# [--latency-ms 0,200]`. One post fanned out by masthead, then by a Fedify server
# (tests/interop/fedify/peer.mjs), to the same N loopback inbox hosts answering after the given
# latency, beside the RSA-2048 sign rate of this machine (examples/bench_fanout.rs says how each
# figure is taken). Each case runs --runs times (5 unless given), masthead then Fedify back to
# back, and its median run stands in the table with the spread of all runs beside it: one run's
# ratio to Fedify moves by a third between runs on a 2-core machine. Prints a table and writes
# target/bench/fanout.json.
#
#   BENCH_PROFILE=release (default) or dev: the cargo profile built and run
#   MASTHEAD_NODE, MASTHEAD_INTEROP_DIR: node and tests/interop with its node_modules installed
#   (`npm ci` in tests/interop, as scripts/test.sh does)
#
# To fold into scripts/bench.sh: `scenario_fanout() { bash scripts/bench-fanout.sh --json; }`.
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/bench-lib.sh"
bench_setup "$@"
bench_build bench_fanout
runs=(--runs 5)
for a in "${args[@]}"; do [[ $a == --runs ]] && runs=(); done
bench_run fanout bench_fanout run --fedify "${runs[@]}"
python3 - target/bench/fanout.json "$profile" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
sign = r["sign"]
print(f"fan-out ({sys.argv[2]} build); RSA-2048 signs/s on {sign['threads']} threads: masthead's signer (AWS-LC) "
      f"{sign['sign_per_s']:.0f}, ring {sign['ring_sign_per_s']:.0f}; masthead in flight: {r['in_flight']:.0f}")
head = ("inboxes", "latency", "bound/s", "masthead/s", "s", "of bound", "of ring bound", "RSS MiB", "fedify/s", "s", "x fedify")
rows = []
for c in r["cases"]:
    m, f = c["masthead"], c.get("fedify", {})
    rows.append((c["inboxes"], f"{c['latency_ms']} ms", f"{c['bound_per_s']:.0f}",
                 f"{m['per_s']:.0f}", f"{m['seconds']:.2f}", f"{m['of_bound']:.2f}", f"{m['of_ring_bound']:.2f}",
                 m.get("rss_mib_after"), f.get("per_s", "-"), f.get("seconds", "-"),
                 c.get("x_fedify", "-")))
w = [max(len(str(x[i])) for x in rows + [head]) for i in range(len(head))]
for row in [head] + rows:
    print("  ".join(str(c).rjust(w[i]) for i, c in enumerate(row)))
spread = [c for c in r["cases"] if c.get("runs", 1) > 1]
if spread:
    print(f"each row is the median of {r['runs']} runs (masthead then Fedify, back to back); across the runs:")
    for c in spread:
        lo, hi = c["masthead_per_s_range"]
        line = f"  {c['inboxes']} inboxes, {c['latency_ms']} ms: masthead {lo:.0f}-{hi:.0f}/s"
        if "x_fedify_range" in c:
            flo, fhi = c["fedify_per_s_range"]
            xlo, xhi = c["x_fedify_range"]
            line += f", Fedify {flo:.0f}-{fhi:.0f}/s, x Fedify {xlo:.2f}-{xhi:.2f} ({c['runs_at_3x_fedify']} of {c['runs']} at 3x or more)"
        print(line)
print(f"goal: {r['goal']}\nwritten to target/bench/fanout.json")
PY
