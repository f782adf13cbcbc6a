#!/usr/bin/env bash
# polyglot-deps.sh installs what the polyglot gRPC clients need:
#   clients/node   -> npm ci (exact pins from package-lock.json)
#   clients/python -> Debian python3-grpcio and python3-grpc-tools (apt),
#                     used with /usr/bin/python3
# Idempotent: each part is skipped when already in place, so a second run
# takes well under a second. Works from any directory.
#
# Usage: scripts/polyglot-deps.sh [--node] [--python]   (default: both)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY=/usr/bin/python3

log() { printf 'polyglot-deps: %s\n' "$*" >&2; }

node_deps() {
  local dir="$ROOT/clients/node"
  command -v npm >/dev/null || { log "npm not found: install Node.js >= 18"; return 1; }
  local stamp="$dir/node_modules/.arpc-lock"
  if [[ -f "$stamp" ]] && cmp -s "$dir/package-lock.json" "$stamp"; then
    return 0
  fi
  log "npm ci in clients/node"
  local start=$SECONDS
  (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >&2)
  cp "$dir/package-lock.json" "$stamp"
  log "node deps installed in $((SECONDS - start)) s"
}

python_deps() {
  if [[ -x "$PY" ]] && "$PY" -c 'import grpc, grpc_tools.protoc' 2>/dev/null; then
    return 0
  fi
  local sudo=()
  if [[ "$(id -u)" != 0 ]]; then
    command -v sudo >/dev/null || { log "need root (or sudo) for apt-get"; return 1; }
    sudo=(sudo)
  fi
  log "apt-get install python3-grpcio python3-grpc-tools"
  local start=$SECONDS
  "${sudo[@]}" apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends \
    python3-grpcio python3-grpc-tools >&2
  "$PY" -c 'import grpc, grpc_tools.protoc'
  log "python deps installed in $((SECONDS - start)) s"
}

main() {
  local node=0 python=0
  for arg in "$@"; do
    case "$arg" in
      --node) node=1 ;;
      --python) python=1 ;;
      -h|--help) sed -n '2,10p' "${BASH_SOURCE[0]}"; return 0 ;;
      *) log "unknown argument: $arg"; return 2 ;;
    esac
  done
  if (( !node && !python )); then node=1; python=1; fi
  if (( node )); then node_deps; fi
  if (( python )); then python_deps; fi
}

main "$@"
