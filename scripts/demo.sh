#!/usr/bin/env bash
# The main job end to end on the bundled fixtures, offline, in a temporary data directory:
# set the offline wheelhouse, add two plugins, build, list generations, add one more, build, rollback, switch.
# Needs cargo, python3 and uv on PATH. KEEP=1 keeps the temporary directory.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cargo build --release --quiet --manifest-path "$root/Cargo.toml"
bin="$root/target/release/cosmo-bundle"

work=$(mktemp -d "${TMPDIR:-/tmp}/cosmo-bundle-demo.XXXXXX")
if [ "${KEEP:-0}" = 1 ]; then
  echo "# working in $work (kept)"
else
  trap 'rm -rf "$work"' EXIT
fi
python3 "$root/fixtures/make_wheelhouse.py" "$work/wheels"

export COSMO_DATA_DIR="$work/data"
export COSMO_SERVER_DIR="$root/fixtures/server"
export UV_OFFLINE=1 UV_PYTHON_DOWNLOADS=never

run() {
  printf '\n$ cosmo-bundle %s\n' "$*"
  "$bin" "$@"
}

run config set find-links "$work/wheels"
run config set no-index true

run plugin add zigbee-switch --version 1.0.0
run plugin add hue-lights --version 1.0.0
run build
run generations
run plugin add garage-door --version 1.0.0
run build
run generations
run rollback
run plugin list
run switch 2
run generations
run plugin list
printf '\ndemo finished: generation 2 is current\n'
