#!/usr/bin/env bash
# The long run of masthead's property tests: every test in the library whose name (module path
# included) contains `proptest` or `fuzz`, with many more cases than the default test run's 256.
# It is not part of `scripts/test.sh` or `cargo test`'s default case count; run it by hand before a
# release or after touching a parser:
#
#   bash scripts/fuzz.sh                          # 200,000 cases per test, release build
#   PROPTEST_CASES=1000000 bash scripts/fuzz.sh   # longer
#   bash scripts/fuzz.sh signatures::proptests    # only the tests whose name contains this
#   FUZZ_PROFILE=dev PROPTEST_CASES=2000 bash scripts/fuzz.sh   # quick, without a release build
#
# To add a target, name its tests (or their module) `proptest*`/`fuzz*` in src/ (e.g. a
# `#[cfg(test)] mod proptests;` beside the code) and let them use proptest's default config, which
# reads PROPTEST_CASES; a `ProptestConfig { cases: N, .. }` would ignore it.
#
# A failure prints the minimal input and proptest records its seed under proptest-regressions/
# next to the test's source file: commit that file with the fix, so every later run replays it.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

export PROPTEST_CASES="${PROPTEST_CASES:-200000}"
profile="${FUZZ_PROFILE:-release}"
if [ "$#" -gt 0 ]; then
  filters=("$@")
else
  filters=(proptest fuzz)
fi

echo "==> cargo test --profile $profile --lib: ${filters[*]} with PROPTEST_CASES=$PROPTEST_CASES"
# libtest runs a test when its name contains any of the filters.
exec cargo test --profile "$profile" --lib -- "${filters[@]}"
