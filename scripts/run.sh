#!/usr/bin/env bash
# `make run`: set up and start the whole system on embedded defaults.
#
# The app starts at once. Rasa (its virtualenv, the model, the server) is
# prepared in the background; until it answers, the bot understands through
# its keyword rules, and it switches to Rasa by itself once Rasa is up.
set -euo pipefail
cd "$(dirname "$0")/.."
HOST="${HOST:-127.0.0.1}"
PORT="${PORT:-8000}"
RASA_PORT="${RASA_PORT:-5005}"
BASE="http://$HOST:$PORT"

scripts/app-env.sh
# Speech-to-text (ffmpeg, sox, the Whisper model). Without it the bot still runs:
# voice notes are answered with a request to type instead.
scripts/asr-env.sh || echo "warning: speech-to-text is not set up (see above); voice notes will ask residents to type" >&2
mkdir -p var
.venv/bin/minhu db upgrade

# Rasa in the background, in its own process group so that one signal stops it all.
setsid bash -c "
  scripts/rasa-env.sh >var/rasa-env.log 2>&1 &&
  .venv/bin/minhu nlu train >var/rasa-train.log 2>&1 &&
  exec .venv/bin/minhu nlu serve --port $RASA_PORT >var/rasa-serve.log 2>&1
" &
rasa_group=$!
stop_rasa() { kill -TERM -- "-$rasa_group" 2>/dev/null || true; wait "$rasa_group" 2>/dev/null || true; }
trap stop_rasa EXIT INT TERM

cat <<INFO

  minhu is starting on $BASE
    chat simulator : $BASE/simulator
    WeChat webhook : $BASE/wechat
    Telegram sim   : $BASE/simulator/telegram  (webhook $BASE/telegram)
    work orders    : $BASE/staff/workorders  (demo sign-in: dispatcher / minhu-demo-1,
                     or the housing bureau's zhujian / minhu-demo-2)
    staff console  : $BASE/console  (escalated chats; demo sign-in: agent1 / minhu-demo-3,
                     supervisor lead1 / minhu-demo-4; dispatcher works here too)
    Open311 API    : $BASE/open311/v2/services.json
    health         : $BASE/healthz  $BASE/readyz  $BASE/metrics
    Rasa           : http://127.0.0.1:$RASA_PORT (being prepared in the background:
                     var/rasa-env.log, var/rasa-train.log, var/rasa-serve.log;
                     the bot uses keyword rules until it is up)

INFO

# Telegram plays against the simulator's fake Bot API unless a real bot is configured.
if [ -z "${MINHU_TELEGRAM_TOKEN:-}" ]; then
  export MINHU_TELEGRAM_TOKEN="7000000000:minhu-simulator-dev-token-not-a-real-bot"
  export MINHU_TELEGRAM_SECRET="${MINHU_TELEGRAM_SECRET:-minhu-simulator-dev-secret}"
  export MINHU_TELEGRAM_API_BASE="$BASE/simulator/telegram-api"
fi

MINHU_SIMULATOR_ENABLED=true \
MINHU_STAFF_DEMO_ACCOUNTS="${MINHU_STAFF_DEMO_ACCOUNTS:-dispatcher:minhu-demo-1:dispatcher::12345中心值班员;zhujian:minhu-demo-2:department:housing_construction:住建委值班员;agent1:minhu-demo-3:agent::坐席小王;lead1:minhu-demo-4:supervisor::值班长}" \
MINHU_PUBLIC_BASE_URL="$BASE" \
MINHU_WECHAT_API_BASE="$BASE/simulator/wechat-api" \
MINHU_RASA_URL="http://127.0.0.1:$RASA_PORT" \
MINHU_LOG_FORMAT="${MINHU_LOG_FORMAT:-console}" \
  .venv/bin/minhu serve --host "$HOST" --port "$PORT"
