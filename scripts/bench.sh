#!/usr/bin/env bash
# masthead's benchmarks (not tests): `bash scripts/bench.sh [SCENARIO...]`, every scenario when
# none is named, `--list` to list them. Each scenario prints one JSON object on stdout with its
# figures (a "goal", and a "summary" of lines when it has many cases); this driver prints them,
# a block per scenario, and writes them all, with the commit and the build profile, to
# target/bench/results.json.
#
#   BENCH_PROFILE=release (default) or dev: the cargo profile the drivers are built with
#   BENCH_SAVES=100: saves measured by publish-latency
#
# To add a scenario: write a function `scenario_<name>` that prints one JSON object whose
# "scenario" is <name>, and add <name> to SCENARIOS.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
profile="${BENCH_PROFILE:-release}"
out_dir="$root/target/bench"

SCENARIOS=(publish-latency cold-start unchanged-restart save-in-10k fanout inbox memory micro plugin-hook)

# A post saved (written beside it, renamed over) -> its Create accepted by a loopback follower,
# debounce included; p50/p99 over BENCH_SAVES saves. Goal: p50 < 300 ms.
scenario_publish-latency() {
  cargo run -q --profile "$profile" --example bench_publish -- --saves "${BENCH_SAVES:-100}"
}

# A 10,000-post site: cold start (goal < 2 s), unchanged restart (goal < 0.5 s), one save in it
# beside one in a 10-post site (scripts/bench-start.sh holds them).
scenario_cold-start() { bash scripts/bench-start.sh cold-start; }
scenario_unchanged-restart() { bash scripts/bench-start.sh unchanged-restart; }
scenario_save-in-10k() { bash scripts/bench-start.sh save-in-10k; }

# One post fanned out to loopback inbox hosts with 0 and 200 ms latency, beside ring's sign rate
# and a Fedify server sending the same post (scripts/bench-fanout.sh).
scenario_fanout() { bash scripts/bench-fanout.sh --json; }

# Signed Likes and 1 KB replies accepted per server CPU-second and applied per second, beside
# ring's verify rate and a Fedify server (scripts/bench-inbox.sh).
scenario_inbox() { bash scripts/bench-inbox.sh; }

# Resident memory idle and during a fan-out: 10 actors, 10,000 posts, 10,000 followers on
# loopback inbox hosts, beside a Fedify server holding the same followers (scripts/bench-mem.sh).
scenario_memory() { bash scripts/bench-mem.sh --json; }

# Criterion micro-benchmarks (benches/core.rs): signing, verifying and rendering beside ring's
# bare RSA-2048 sign and verify, as medians and as ratios to those baselines.
scenario_micro() { bash scripts/bench-micro.sh core; }

# A warm plugin hook call (benches/plugins.rs): trivial, keyword filter on a 1 KB reply, a Python
# plugin, beside the keyword rule in native Rust (goal: keyword filter < 10 µs).
scenario_plugin-hook() { bash scripts/bench-micro.sh plugins; }

if [[ "${1:-}" == "--list" ]]; then
  printf '%s\n' "${SCENARIOS[@]}"
  exit 0
fi
wanted=("$@")
if [[ ${#wanted[@]} -eq 0 ]]; then
  wanted=("${SCENARIOS[@]}")
fi
for name in "${wanted[@]}"; do
  if ! declare -F "scenario_$name" >/dev/null; then
    echo "error: no benchmark scenario \"$name\" (scenarios: ${SCENARIOS[*]})" >&2
    exit 2
  fi
done

mkdir -p "$out_dir"
lines="$out_dir/results.jsonl"
: >"$lines"
for name in "${wanted[@]}"; do
  echo "==> $name ($profile build)" >&2
  "scenario_$name" | tail -n 1 >>"$lines"
done

python3 - "$lines" "$out_dir/results.json" "$profile" "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)" <<'PY'
import datetime, json, sys
lines, out, profile, commit = sys.argv[1:5]
results = [json.loads(l) for l in open(lines) if l.strip()]
json.dump({
    "commit": commit,
    "profile": profile,
    "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    "results": results,
}, open(out, "w"), indent=2)
def flat(d, prefix=""):
    # Nested objects read as dotted names (masthead.idle.rss_mib 39.5); lists stay whole.
    for k, v in d.items():
        if isinstance(v, dict):
            yield from flat(v, f"{prefix}{k}.")
        else:
            yield f"{prefix}{k}", v
import textwrap
for r in results:
    # One block per scenario: its name and goal, then its figures wrapped to the terminal's
    # width (a scenario has from 2 to 80 figures: a padded table column reads badly).
    print(f"{r['scenario']}  (goal: {r.get('goal', '-')})")
    if "summary" in r:
        # A scenario with many cases says them in lines of its own (every figure is in the JSON).
        for line in r["summary"]:
            print(textwrap.fill(line, 100, initial_indent="  ", subsequent_indent="    "))
        continue
    figures = ", ".join(f"{k} {v}" for k, v in flat(r) if k not in ("scenario", "goal"))
    print(textwrap.fill(figures, 100, initial_indent="  ", subsequent_indent="  ",
                        break_on_hyphens=False, break_long_words=False))
print(f"\nwritten to {out}")
PY
