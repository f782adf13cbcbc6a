#!/usr/bin/env bash
# test.sh is the whole test suite, set-up included: it installs the pinned
# tools (buf, protoc plugins, grpcurl), the polyglot client dependencies and
# the web inspector's (npm, Debian chromium), checks formatting, the proto
# contract and generated code, the inspector's committed bundle, vets, runs every
# test with the race detector, fuzzes every decoder briefly (scripts/fuzz.sh),
# and runs every benchmark once as a smoke test.
#
# Usage: scripts/test.sh [--quick]   (--quick: skip tool installs and -race)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
QUICK=0
[[ "${1:-}" == "--quick" ]] && QUICK=1

step() { printf '\n== %s\n' "$*"; }
START=$SECONDS

step "go $(go version | awk '{print $3}'): modules"
go mod download
go mod verify >/dev/null

if [[ $QUICK == 0 ]]; then
  step "tools (buf, protoc-gen-go, protoc-gen-go-grpc, grpcurl)"
  scripts/tools.sh --core --grpcurl --health-probe
  step "polyglot client dependencies (node, python)"
  scripts/polyglot-deps.sh
  step "web inspector dependencies (npm, chromium)"
  scripts/web.sh deps
  scripts/web.sh chromium
  step "proto: lint, format, generated code, breaking changes"
  scripts/check-proto.sh
  step "web inspector: type-check, committed bundle matches its sources"
  scripts/web.sh check
  # the tools are installed now: a polyglot test that misses one fails
  export ARPC_REQUIRE_POLYGLOT=1
fi
export PATH="$ROOT/.tools/bin:$PATH"

step "gofmt"
unformatted="$(gofmt -l $(git ls-files '*.go' | grep -v '^gen/') 2>/dev/null || true)"
if [[ -n "$unformatted" ]]; then
  echo "gofmt needed:"; echo "$unformatted"; exit 1
fi

step "go vet"
go vet ./...

step "go test"
race=(-race)
[[ $QUICK == 1 ]] && race=()
go test "${race[@]}" -count=1 -timeout 25m ./...

if [[ $QUICK == 0 ]]; then
  step "fuzz: every target, 10 s each"
  scripts/fuzz.sh 10s
fi

step "benchmarks, once each (smoke)"
go test -run '^$' -bench . -benchtime=1x -timeout 15m ./...

printf '\nall checks passed in %d s\n' $((SECONDS - START))
