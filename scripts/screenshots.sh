#!/usr/bin/env bash
# Takes the README's screenshots (docs/screenshots/) in a real headless
# Chromium: installs Chromium and CJK fonts from Debian's packages when they
# are missing, and Playwright (which drives that Chromium; it downloads no
# browser) into .venv.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/app-env.sh

if ! command -v chromium >/dev/null 2>&1 || ! fc-list 2>/dev/null | grep -qi "noto.*cjk"; then
  echo "==> installing chromium and fonts-noto-cjk"
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq chromium fonts-noto-cjk >/dev/null
fi
.venv/bin/python -m pip install --quiet -e '.[docs]'
MINHU_CHROMIUM="$(command -v chromium)" .venv/bin/python scripts/screenshots.py
