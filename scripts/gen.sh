#!/usr/bin/env bash
# gen.sh regenerates gen/ (Go) and web/src/gen (TypeScript) from proto/ with
# the pinned local tools in .tools and web/node_modules (installing them
# first when missing). Works from any directory. Rebuild the inspector's
# bundle afterwards: scripts/web.sh build.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$ROOT/scripts/tools.sh"
"$ROOT/scripts/web.sh" deps
export PATH="$ROOT/.tools/bin:$PATH"
cd "$ROOT"
buf generate
