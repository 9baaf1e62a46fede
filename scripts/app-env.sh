#!/usr/bin/env bash
# Creates or reuses the app's virtualenv in .venv (Python 3.11), rebuilding it
# only when its inputs change: a stamp inside the venv records their hash.
set -euo pipefail
cd "$(dirname "$0")/.."

find_python311() {
  local candidate
  if command -v pyenv >/dev/null 2>&1; then
    for candidate in $(ls -d "$(pyenv root)"/versions/3.11.*/bin/python 2>/dev/null | sort -V -r); do
      [ -x "$candidate" ] && { echo "$candidate"; return 0; }
    done
  fi
  for candidate in python3.11 python3; do
    if command -v "$candidate" >/dev/null 2>&1 &&
       "$candidate" -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else 1)' 2>/dev/null; then
      command -v "$candidate"; return 0
    fi
  done
  return 1
}

inputs_hash=$(cat pyproject.toml scripts/app-env.sh | sha256sum | cut -c1-16)
stamp=.venv/.minhu-inputs-$inputs_hash
if [ -f "$stamp" ]; then
  exit 0
fi

python=$(find_python311) || {
  echo "error: minhu needs Python 3.11 (looked in \$(pyenv root)/versions/3.11.* and on PATH)." >&2
  echo "       Install it with pyenv ('pyenv install 3.11') or your system's package manager." >&2
  exit 1
}
echo "==> setting up .venv with $python"
rm -rf .venv
"$python" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e '.[dev]'
touch "$stamp"
echo "==> .venv ready"
