#!/usr/bin/env bash
# gen.sh regenerates gen/ from proto/ with the pinned local tools in .tools
# (installing them first when missing). Works from any directory.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$ROOT/scripts/tools.sh"
export PATH="$ROOT/.tools/bin:$PATH"
cd "$ROOT"
buf generate
