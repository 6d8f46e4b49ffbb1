#!/bin/sh
# Runs a command with the Node 24 runtime the actions declare (`runs.using: node24`) first on the
# PATH, fetching it into .cache/node24 when it is missing. The machine's own Node only has to run
# that fetch (it uses nothing but Node's built-ins, so Node 20 is enough); npm, the build, the
# tests and the demo then all run on Node 24, the runtime the bundles run on in a workflow.
set -eu
root=$(CDPATH='' cd -- "$(dirname -- "$0")/.." && pwd)
case "$("$root/.cache/node24/bin/node" --version 2>/dev/null || true)" in
  v24.*) ;;
  *) node "$root/scripts/ensure-node24.mjs" >&2 ;;
esac
PATH="$root/.cache/node24/bin:$PATH"
export PATH
# npm is a Node script; run it on Node 24 even where its first line names a fixed Node path
# (so `npm ci` checks the packages' engines against Node 24, not the machine's Node).
if [ "${1:-}" = npm ]; then
  cli=$(readlink -f "$(command -v npm)")
  if head -n 1 "$cli" | grep -q '^#!.*node'; then
    shift
    exec "$root/.cache/node24/bin/node" "$cli" "$@"
  fi
fi
exec "$@"
