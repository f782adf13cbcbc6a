#!/usr/bin/env bash
# check-proto.sh is the CI gate for the gRPC contract:
#   1. buf lint
#   2. buf format (fails on any formatting difference, printing the diff)
#   3. regenerate gen/ and fail when that changes, adds or removes any file
#      compared with the committed tree (gen/ must be committed, never edited)
#   4. go build of the generated packages
#   5. buf breaking against HEAD~1, only when HEAD~1 exists (not on a
#      single-commit or shallow clone) and already holds the buf module
# Works from any directory; installs the pinned tools when missing.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
"$ROOT/scripts/tools.sh"
export PATH="$ROOT/.tools/bin:$PATH"

step() { printf 'check-proto: %s\n' "$*" >&2; }
fail() { printf 'check-proto: FAIL: %s\n' "$*" >&2; exit 1; }

step "buf lint"
buf lint || fail "buf lint"

step "buf format"
buf format -d --exit-code || fail "buf format: run 'buf format -w' (.tools/bin/buf)"

step "regenerate gen/"
buf generate || fail "buf generate"
if ! git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  fail "not a git work tree: cannot compare gen/"
fi
changes="$(git status --porcelain --untracked-files=all -- gen)"
if [[ -n "$changes" ]]; then
  printf '%s\n' "$changes" >&2
  git --no-pager diff --stat -- gen >&2 || true
  fail "gen/ is not up to date with proto/: run scripts/gen.sh and commit gen/"
fi

step "go build ./gen/..."
go build ./gen/... || fail "generated code does not build"

step "buf breaking"
if ! prev="$(git rev-parse --verify --quiet 'HEAD~1^{commit}')"; then
  step "skip: no previous commit (single commit or shallow clone)"
elif ! git cat-file -e "$prev:buf.yaml" 2>/dev/null; then
  step "skip: HEAD~1 has no buf.yaml"
elif [[ -z "$(git ls-tree -r --name-only "$prev" -- proto | grep '\.proto$' || true)" ]]; then
  step "skip: HEAD~1 has no proto files"
else
  gitdir="$(git rev-parse --absolute-git-dir)"
  buf breaking --against "$gitdir#ref=$prev" || fail "breaking change against HEAD~1 ($prev)"
fi

step "ok"
