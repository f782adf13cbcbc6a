#!/usr/bin/env bash
# tools.sh installs the pinned protobuf/gRPC tool chain into <repo>/.tools
# (git-ignored). It is idempotent: a tool already present at the pinned version
# is skipped, so a second run takes well under a second.
#
# Usage:
#   scripts/tools.sh             buf, protoc-gen-go, protoc-gen-go-grpc (--core)
#   scripts/tools.sh --grpcurl   grpcurl only (a Go build)
#   scripts/tools.sh --health-probe   grpc-health-probe only (TLS checks)
#   scripts/tools.sh --core --grpcurl --health-probe   all of them
# (--only-grpcurl is --grpcurl.)
#
# Afterwards the binaries are in .tools/bin (buf is linked there from the npm
# package, which ships the real prebuilt binary).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="$ROOT/.tools"
BIN="$TOOLS/bin"

BUF_VERSION="1.75.0"
PROTOC_GEN_GO_VERSION="v1.36.12"
PROTOC_GEN_GO_GRPC_VERSION="v1.6.2"
GRPCURL_VERSION="v1.9.4"
GRPC_HEALTH_PROBE_VERSION="v0.4.62"

log() { printf 'tools: %s\n' "$*" >&2; }

# go_tool_version prints the module version a Go binary was built from, or
# nothing when the binary is missing or unreadable.
go_tool_version() {
  local bin="$1" mod="$2"
  [[ -x "$bin" ]] || return 0
  go version -m "$bin" 2>/dev/null | awk -v m="$mod" '$1 == "mod" && $2 == m { print $3 }'
}

# go_install installs module path pkg at version ver into $BIN unless the
# binary there was already built from that version of mod.
go_install() {
  local name="$1" mod="$2" pkg="$3" ver="$4"
  if [[ "$(go_tool_version "$BIN/$name" "$mod")" == "$ver" ]]; then
    return 0
  fi
  log "installing $name $ver"
  local start=$SECONDS
  (cd "$ROOT" && GOBIN="$BIN" GOWORK=off go install "$pkg@$ver")
  log "$name $ver installed in $((SECONDS - start)) s"
}

install_buf() {
  local pkgdir="$TOOLS/npm/node_modules/@bufbuild/buf"
  local have=""
  if [[ -f "$pkgdir/package.json" ]]; then
    have="$(sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' "$pkgdir/package.json" | head -n1)"
  fi
  if [[ "$have" != "$BUF_VERSION" || ! -x "$pkgdir/bin/buf" ]]; then
    log "installing buf $BUF_VERSION (npm)"
    local start=$SECONDS
    mkdir -p "$TOOLS/npm"
    npm install --prefix "$TOOLS/npm" --no-audit --no-fund --loglevel=error \
      --save-exact "@bufbuild/buf@$BUF_VERSION" >&2
    log "buf $BUF_VERSION installed in $((SECONDS - start)) s"
  fi
  # The npm wrapper resolves the platform package's real binary; link that
  # binary itself so that every call skips node.
  local real
  real="$(find "$TOOLS/npm/node_modules/@bufbuild" -path '*/buf-*/bin/buf' -type f 2>/dev/null | head -n1)"
  [[ -n "$real" ]] || real="$pkgdir/bin/buf"
  if [[ "$(readlink "$BIN/buf" 2>/dev/null || true)" != "$real" ]]; then
    ln -sfn "$real" "$BIN/buf"
  fi
  "$BIN/buf" --version >/dev/null
}

install_core() {
  install_buf
  go_install protoc-gen-go google.golang.org/protobuf \
    google.golang.org/protobuf/cmd/protoc-gen-go "$PROTOC_GEN_GO_VERSION"
  go_install protoc-gen-go-grpc google.golang.org/grpc/cmd/protoc-gen-go-grpc \
    google.golang.org/grpc/cmd/protoc-gen-go-grpc "$PROTOC_GEN_GO_GRPC_VERSION"
}

install_grpcurl() {
  go_install grpcurl github.com/fullstorydev/grpcurl \
    github.com/fullstorydev/grpcurl/cmd/grpcurl "$GRPCURL_VERSION"
}

install_health_probe() {
  go_install grpc-health-probe github.com/grpc-ecosystem/grpc-health-probe \
    github.com/grpc-ecosystem/grpc-health-probe "$GRPC_HEALTH_PROBE_VERSION"
}

main() {
  # no arguments: the core tools; otherwise only the ones named
  local core=0 grpcurl=0 probe=0
  (( $# )) || core=1
  for arg in "$@"; do
    case "$arg" in
      --core) core=1 ;;
      --grpcurl|--only-grpcurl) grpcurl=1 ;;
      --health-probe) probe=1 ;;
      -h|--help) sed -n '2,14p' "${BASH_SOURCE[0]}"; return 0 ;;
      *) log "unknown argument: $arg"; return 2 ;;
    esac
  done
  if [[ -n "${TOOLS_DRY_RUN:-}" ]]; then
    # list what would be installed, one name a line (for tests)
    if (( core )); then printf '%s\n' buf protoc-gen-go protoc-gen-go-grpc; fi
    if (( grpcurl )); then echo grpcurl; fi
    if (( probe )); then echo grpc-health-probe; fi
    return 0
  fi
  mkdir -p "$BIN"
  if (( core )); then install_core; fi
  if (( grpcurl )); then install_grpcurl; fi
  if (( probe )); then install_health_probe; fi
}

main "$@"
