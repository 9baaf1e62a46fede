#!/usr/bin/env bash
# Create or reuse the Rasa venv at <repo>/.venv-rasa (Python 3.10, rasa==3.6.21).
#
#   scripts/rasa-env.sh            build if needed, print the venv's python path last
#   scripts/rasa-env.sh --force    rebuild from scratch
#
# The install is skipped when .venv-rasa/.minhu-stamp holds the sha256 of
# nlu/requirements-rasa.txt + this script. A cold install takes about 3 minutes.
# Uses pip's global configuration (no index URLs here).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$REPO/.venv-rasa"
REQ="$REPO/nlu/requirements-rasa.txt"
STAMP="$VENV/.minhu-stamp"
FORCE=0
[[ "${1:-}" == "--force" ]] && FORCE=1

log() { printf '[rasa-env] %s\n' "$*" >&2; }

want_stamp() {
    cat "$REQ" "${BASH_SOURCE[0]}" | sha256sum | cut -d' ' -f1
}

is_py310() {
    "$@" -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 10) else 1)' >/dev/null 2>&1
}

find_python() {
    local cand
    if command -v pyenv >/dev/null 2>&1; then
        local root
        root="$(pyenv root 2>/dev/null || true)"
        if [[ -n "$root" ]]; then
            cand="$(ls -d "$root"/versions/3.10.*/bin/python 2>/dev/null | sort -V | tail -n 1 || true)"
            if [[ -n "$cand" ]] && is_py310 "$cand"; then
                echo "$cand"
                return 0
            fi
        fi
        if PYENV_VERSION=3.10.13 is_py310 python3.10; then
            PYENV_VERSION=3.10.13 python3.10 -c 'import sys; print(sys.executable)'
            return 0
        fi
    fi
    if command -v python3.10 >/dev/null 2>&1 && is_py310 python3.10; then
        python3.10 -c 'import sys; print(sys.executable)'
        return 0
    fi
    return 1
}

want="$(want_stamp)"
if [[ $FORCE -eq 0 && -x "$VENV/bin/python" && -f "$STAMP" && "$(cat "$STAMP")" == "$want" ]]; then
    log "up to date: $VENV (stamp ${want:0:12})"
    echo "$VENV/bin/python"
    exit 0
fi

if ! PY="$(find_python)"; then
    cat >&2 <<'MSG'
[rasa-env] ERROR: Python 3.10 is required for Rasa 3.6.21 (it does not support 3.11+).
[rasa-env] Install it, e.g. `pyenv install 3.10.13` (then rerun this script), or your OS
[rasa-env] package (apt: python3.10 python3.10-venv; brew: python@3.10), so that
[rasa-env] `python3.10` is on PATH.
MSG
    exit 2
fi
log "using $PY ($("$PY" -c 'import sys; print(sys.version.split()[0])'))"

if [[ -d "$VENV" ]]; then
    log "removing stale $VENV"
    rm -rf "$VENV"
fi
log "creating $VENV"
"$PY" -m venv "$VENV"

start=$(date +%s)
# Keep the venv's bundled pip: the requirements are fully pinned, so no resolver work is needed.
log "installing wheel"
"$VENV/bin/python" -m pip install --quiet wheel 2>&1 | grep -v '^WARNING: Location' >&2 || true
log "installing $(grep -cvE '^\s*(#|$)' "$REQ") pinned packages (rasa, tensorflow, ...; ~3 min cold)"
"$VENV/bin/python" -m pip install --progress-bar off -r "$REQ" 2>&1 \
    | grep --line-buffered -E '^(Collecting|Successfully installed|ERROR|error)' \
    | sed -u -E 's/^Successfully installed (.{0,160}).*/Successfully installed \1 .../' >&2 || true
# pipefail would hide pip's status behind grep; check the result explicitly.
if ! "$VENV/bin/python" -c 'import rasa, jieba, opencc, sklearn' >/dev/null 2>&1; then
    log "ERROR: install failed; rerun with: $VENV/bin/python -m pip install -r $REQ"
    exit 1
fi
"$VENV/bin/python" -m pip check >&2 || log "warning: pip check reported conflicts (see above)"
echo "$want" >"$STAMP"
log "done in $(( $(date +%s) - start ))s: rasa $("$VENV/bin/python" -c 'import rasa; print(rasa.__version__)')"
echo "$VENV/bin/python"
