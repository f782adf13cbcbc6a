#!/usr/bin/env bash
# check-proto.sh is the CI gate for the gRPC contract:
#   1. buf lint
#   2. buf format (fails on any formatting difference, printing the diff)
#   3. regenerate gen/ (Go) and web/src/gen (the inspector's TypeScript) and
#      fail when that changes, adds or removes any file compared with the
#      committed tree (both must be committed, never edited)
#   4. go build of the generated packages
#   5. buf breaking against HEAD~1 when HEAD~1 holds the buf module. A
#      shallow clone is deepened first (git fetch --deepen=1 origin). The
#      check is skipped, with a message saying why, when HEAD is the first
#      commit or when a shallow clone cannot fetch from origin (a CI with
#      access to package registries only); with CI=true, a parent that a
#      clone which is not shallow lacks fails instead.
# Works from any directory; installs the pinned tools when missing.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
"$ROOT/scripts/tools.sh"
"$ROOT/scripts/web.sh" deps # protoc-gen-es
export PATH="$ROOT/.tools/bin:$PATH"

step() { printf 'check-proto: %s\n' "$*" >&2; }
fail() { printf 'check-proto: FAIL: %s\n' "$*" >&2; exit 1; }

step "buf lint"
buf lint || fail "buf lint"

step "buf format"
buf format -d --exit-code || fail "buf format: run 'buf format -w' (.tools/bin/buf)"

step "regenerate gen/ and web/src/gen"
buf generate || fail "buf generate"
if ! git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  fail "not a git work tree: cannot compare gen/"
fi
changes="$(git status --porcelain --untracked-files=all -- gen web/src/gen)"
if [[ -n "$changes" ]]; then
  printf '%s\n' "$changes" >&2
  git --no-pager diff --stat -- gen web/src/gen >&2 || true
  fail "gen/ or web/src/gen is not up to date with proto/: run scripts/gen.sh and commit both"
fi

step "go build ./gen/..."
go build ./gen/... || fail "generated code does not build"

step "buf breaking"
# prev_commit prints HEAD~1's id when this clone has that commit.
prev_commit() { git rev-parse --verify --quiet 'HEAD~1^{commit}' 2>/dev/null; }
shallow="$(git rev-parse --is-shallow-repository)"
prev="$(prev_commit)" || prev=""
if [[ -z "$prev" && "$shallow" == true ]]; then
  # a shallow clone (CI checkouts often are): fetch one more commit of
  # history; bounded, and never prompting for credentials
  step "shallow clone: git fetch --deepen=1 origin"
  to=()
  command -v timeout >/dev/null && to=(timeout 60)
  if git remote get-url origin >/dev/null 2>&1 &&
    GIT_TERMINAL_PROMPT=0 GIT_SSH_COMMAND="ssh -o BatchMode=yes" \
      ${to[@]+"${to[@]}"} git fetch --quiet --no-tags --deepen=1 origin >&2; then
    prev="$(prev_commit)" || prev=""
  else
    step "could not fetch from origin ($(git remote get-url origin 2>/dev/null ||
      echo 'no origin remote'))"
  fi
  shallow="$(git rev-parse --is-shallow-repository)"
fi
if [[ -z "$prev" ]]; then
  # the parent HEAD's commit object names, even when it was not fetched
  parent="$(git cat-file -p HEAD | sed -n 's/^parent //p' | head -n1)"
  if [[ -z "$parent" ]]; then
    step "skip buf breaking: HEAD is the repository's first commit (nothing to compare with)"
  elif [[ "$shallow" == true ]]; then
    # deepening failed (origin unreachable, e.g. CI with network access to
    # package registries only): the history cannot be had here, so this is
    # a skip, loudly, in CI too
    step "skip buf breaking: NOT CHECKED: shallow clone without HEAD~1 (${parent:0:12}) and origin could not be fetched; to check, run 'git fetch --deepen=1 origin' (or clone with --depth 2 or more) and rerun"
  elif [[ "${CI:-}" == true ]]; then
    # not shallow, yet HEAD's parent is missing: a broken clone, not a
    # reason to let a breaking change through
    fail "HEAD~1 (${parent:0:12}) should exist (HEAD names it and the clone is not shallow) but does not resolve"
  else
    step "skip buf breaking: HEAD~1 (${parent:0:12}) is missing from this (not shallow) clone; CI=true fails here"
  fi
elif ! git cat-file -e "$prev:buf.yaml" 2>/dev/null; then
  step "skip buf breaking: HEAD~1 has no buf.yaml"
elif [[ -z "$(git ls-tree -r --name-only "$prev" -- proto | grep '\.proto$' || true)" ]]; then
  step "skip buf breaking: HEAD~1 has no proto files"
else
  step "against HEAD~1 (${prev:0:12})"
  # the common dir: in a linked worktree the git dir holds no objects
  gitdir="$(cd "$(git rev-parse --git-common-dir)" && pwd)"
  buf breaking --against "$gitdir#ref=$prev" || fail "breaking change against HEAD~1 ($prev)"
fi

step "ok"
