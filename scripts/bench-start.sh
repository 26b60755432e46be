#!/usr/bin/env bash
# Catalog scenarios for scripts/bench.sh (to be folded into its SCENARIOS): a 10,000-post site's
# cold start and unchanged restart (keys already made), and one save in it next to one in a
# 10-post site. Each prints one JSON object. Run alone: `bash scripts/bench-start.sh [NAME...]`.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
profile="${BENCH_PROFILE:-release}"
posts="${BENCH_POSTS:-10000}"

# App::open of a site never served (every post rendered and recorded). Goal < 2 s.
scenario_cold-start() {
  cargo run -q --profile "$profile" --example bench_catalog -- --scenario cold-start --posts "$posts"
}

# App::open again, nothing changed (every post from the render cache). Goal < 0.5 s.
scenario_unchanged-restart() {
  cargo run -q --profile "$profile" --example bench_catalog -- --scenario unchanged-restart --posts "$posts"
}

# One post edited, rebuilt with Catalog::build_changed; p50/p99 over 20 saves, beside the same
# in a 10-post site and a full rebuild. Goal: about what it costs in 10 posts.
scenario_save-in-10k() {
  cargo run -q --profile "$profile" --example bench_catalog -- --scenario save --posts "$posts"
}

names=("$@")
if [[ ${#names[@]} -eq 0 ]]; then
  names=(cold-start unchanged-restart save-in-10k)
fi
for name in "${names[@]}"; do
  "scenario_$name"
done
