#!/usr/bin/env bash
# The memory benchmark (not a test): `bash scripts/bench-mem.sh [--json] [bench_mem flags]`.
# masthead serving 10 actors, 10,000 posts and 10,000 followers on loopback inbox hosts, idle and
# during a fan-out, beside a Fedify server (tests/interop/fedify/peer.mjs) holding the same
# followers in its KV store (examples/bench_mem.rs says how each figure is taken). masthead runs
# the demo site's two Rust plugins (keyword-filter, auto-reply) for every actor. Prints a table
# and writes target/bench/memory.json.
#
#   BENCH_PROFILE=release (default) or dev: the cargo profile built and run
#   MASTHEAD_NODE, MASTHEAD_INTEROP_DIR: node and tests/interop with its node_modules installed
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/bench-lib.sh"
bench_setup "$@"
bench_build bench_fanout bench_mem
# The scenario's plugins (the demo site's), built now so no cargo run falls in a measured serve.
for plugin in keyword-filter auto-reply; do
  "target/$dir/masthead" plugin build "plugins/$plugin" >&2
done
bench_run memory bench_mem --fedify
python3 - target/bench/memory.json "$profile" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
m, f = r["masthead"], r.get("fedify", {})
print(f"memory ({sys.argv[2]} build): {r['actors']} actors, {r['posts']} posts, {r['followers']} followers "
      f"on {r['hosts']} inbox hosts ({r['latency_ms']} ms); plugins: {r['plugins']}")
head = ("server", "idle MiB", "anon", "file", "fan-out peak", "after", "deliveries", "s")
rows = [("masthead", m["idle"]["rss_mib"], m["idle"]["anon_mib"], m["idle"]["file_mib"],
         m["fanout"]["peak_rss_mib"], m["fanout"]["after"]["rss_mib"],
         m["fanout"]["verified"], m["fanout"]["seconds"])]
rows.append(("masthead (cold)", m["idle_cold"]["rss_mib"], m["idle_cold"]["anon_mib"],
             m["idle_cold"]["file_mib"], "-", "-", "-", "-"))
if f:
    rows.append(("fedify", f["idle"]["rss_mib"], f["idle"]["anon_mib"], f["idle"]["file_mib"],
                 f["fanout"]["peak_rss_mib"], f["fanout"]["after"]["rss_mib"],
                 f["fanout"]["verified"], f["fanout"]["seconds"]))
w = [max(len(str(x[i])) for x in rows + [head]) for i in range(len(head))]
for row in [head] + rows:
    print("  ".join(str(c).rjust(w[i]) for i, c in enumerate(row)))
if f:
    print(f"masthead idle / fedify idle: {r['idle_of_fedify']}; fan-out peak ratio: {r['fanout_peak_of_fedify']}")
print(f"goal: {r['goal']}\nwritten to target/bench/memory.json")
PY
