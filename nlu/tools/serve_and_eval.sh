#!/usr/bin/env bash
# Train (optional), serve and score the held-out file through HTTP /model/parse.
#
#   nlu/tools/serve_and_eval.sh [--train] [--port 5055] [--keep] [-- extra eval_heldout.py args]
#
# --train  retrain nlu/rasa/models/minhu-nlu.tar.gz first (rasa train nlu, ~3-4 min on 2 cores)
# --keep   leave the server running afterwards (its pid is printed)
# Uses .venv-rasa (scripts/rasa-env.sh builds it). Serves on 127.0.0.1 only.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
PY="$REPO/.venv-rasa/bin/python"
RASA="$REPO/.venv-rasa/bin/rasa"
MODEL="models/minhu-nlu.tar.gz"
PORT=5055
TRAIN=0
KEEP=0
while [[ $# -gt 0 ]]; do
    case "$1" in
        --train) TRAIN=1 ;;
        --keep) KEEP=1 ;;
        --port) PORT="$2"; shift ;;
        --) shift; break ;;
        *) echo "unknown argument: $1" >&2; exit 2 ;;
    esac
    shift
done
[[ -x "$RASA" ]] || { echo "no .venv-rasa: run scripts/rasa-env.sh first" >&2; exit 2; }
cd "$REPO/nlu/rasa"
mkdir -p "$REPO/var"

if [[ $TRAIN -eq 1 || ! -f "$MODEL" ]]; then
    echo "[nlu] training $MODEL" >&2
    start=$(date +%s)
    "$RASA" train nlu --fixed-model-name minhu-nlu >"$REPO/var/rasa-train.log" 2>&1 \
        || { tail -30 "$REPO/var/rasa-train.log" >&2; exit 1; }
    echo "[nlu] trained in $(( $(date +%s) - start ))s, $(du -h "$MODEL" | cut -f1)" >&2
fi

echo "[nlu] starting rasa run --enable-api on 127.0.0.1:$PORT" >&2
start=$(date +%s)
"$RASA" run --enable-api -i 127.0.0.1 -p "$PORT" -m "$MODEL" >"$REPO/var/rasa-serve.log" 2>&1 &
SERVER=$!
cleanup() { [[ $KEEP -eq 1 ]] || kill "$SERVER" 2>/dev/null || true; }
trap cleanup EXIT
until curl -sf "http://127.0.0.1:$PORT/status" 2>/dev/null | grep -q '"model_file"'; do
    kill -0 "$SERVER" 2>/dev/null || { tail -30 "$REPO/var/rasa-serve.log" >&2; exit 1; }
    sleep 2
done
echo "[nlu] server ready after $(( $(date +%s) - start ))s (pid $SERVER)" >&2

cd "$REPO"  # so relative paths in the eval arguments are relative to the repo root
"$PY" "$REPO/nlu/tools/eval_heldout.py" --url "http://127.0.0.1:$PORT" "$@"
[[ $KEEP -eq 1 ]] && echo "[nlu] server left running: kill $SERVER" >&2
exit 0
