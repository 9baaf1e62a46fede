#!/usr/bin/env bash
# Takes the README's screenshots (docs/screenshots/) in a real headless
# Chromium: installs Chromium and CJK fonts from Debian's packages when they
# are missing (scripts/browser-env.sh), and Playwright (which drives that
# Chromium; it downloads no browser) into .venv. The ticket loop's come from
# scripts/screenshots.py, the console's (console-*.png) from the browser tests
# run with MINHU_SCREENSHOTS=1.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/app-env.sh

scripts/browser-env.sh
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
.venv/bin/python -m pip install --quiet -e '.[docs]'
MINHU_CHROMIUM="${MINHU_CHROMIUM:-/usr/bin/chromium}" .venv/bin/python scripts/screenshots.py
MINHU_SCREENSHOTS=1 MINHU_TEST_BROWSER=required .venv/bin/python -m pytest -q -p no:cacheprovider \
  tests/browser/test_console.py
