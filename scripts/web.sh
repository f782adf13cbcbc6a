#!/usr/bin/env bash
# web.sh builds and checks the web inspector (sources in web/, bundle in
# bridge/web/dist, which is committed and embedded in the binary).
#
# Usage: scripts/web.sh COMMAND
#   deps      npm ci in web/ (exact pins from web/package-lock.json); skipped
#             when node_modules matches the lockfile
#   build     deps, type-check (tsc), bundle into bridge/web/dist (esbuild)
#   check     deps, type-check, unit tests (node --test web/test/*.test.mjs),
#             and fail when rebuilding would change bridge/web/dist (CI)
#   size      print the bundle's sizes, raw and gzipped
#   chromium  apt-get install Debian's chromium when /usr/bin/chromium is
#             missing (the browser tests drive it with playwright-core)
# Works from any directory.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
WEB="$ROOT/web"

log() { printf 'web: %s\n' "$*" >&2; }

deps() {
  command -v npm >/dev/null || { log "npm not found: install Node.js >= 18"; return 1; }
  local stamp="$WEB/node_modules/.arpc-lock"
  if [[ -f "$stamp" ]] && cmp -s "$WEB/package-lock.json" "$stamp"; then
    return 0
  fi
  log "npm ci in web/"
  local start=$SECONDS
  (cd "$WEB" && npm ci --no-audit --no-fund --loglevel=error >&2)
  cp "$WEB/package-lock.json" "$stamp"
  log "web deps installed in $((SECONDS - start)) s"
}

typecheck() { (cd "$WEB" && node_modules/.bin/tsc --noEmit -p .); }

chromium() {
  [[ -x /usr/bin/chromium ]] && return 0
  local sudo=()
  if [[ "$(id -u)" != 0 ]]; then
    command -v sudo >/dev/null || { log "need root (or sudo) for apt-get"; return 1; }
    sudo=(sudo)
  fi
  log "apt-get install chromium"
  local start=$SECONDS
  "${sudo[@]}" apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq \
    --no-install-recommends chromium >&2
  /usr/bin/chromium --version >&2
  log "chromium installed in $((SECONDS - start)) s"
}

case "${1:-}" in
  deps) deps ;;
  build) deps; typecheck; (cd "$WEB" && node build.mjs --size) ;;
  check) deps; typecheck
    (cd "$WEB" && node --test test/*.test.mjs >&2 && node build.mjs --check) ;;
  size) (cd "$WEB" && node build.mjs --check --size) ;;
  chromium) chromium ;;
  -h|--help|"") sed -n '2,17p' "${BASH_SOURCE[0]}"; [[ -n "${1:-}" ]] ;;
  *) log "unknown command: $1"; exit 2 ;;
esac
