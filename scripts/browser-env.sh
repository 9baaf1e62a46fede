#!/usr/bin/env bash
# Makes sure the browser tests and the README's screenshots have what they
# need outside the virtualenv: Debian's Chromium (/usr/bin/chromium, which
# Playwright drives; Playwright never downloads a browser here) and CJK fonts
# so that Chinese text renders in screenshots. Idempotent: when both are there
# it does nothing and prints nothing. Installs them with apt-get when missing,
# as root or through sudo; otherwise it explains what to install and fails.
#
# MINHU_CHROMIUM overrides the browser's path (it must exist then; nothing is
# installed for it).
set -euo pipefail

chromium="${MINHU_CHROMIUM:-/usr/bin/chromium}"

have_fonts() {
  # Debian's fonts-noto-cjk; fc-list may be missing before fontconfig is.
  [ -e /usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc ] ||
    { command -v fc-list >/dev/null 2>&1 && fc-list 2>/dev/null | grep -qi "noto.*cjk"; }
}

missing=()
if [ ! -x "$chromium" ]; then
  if [ -n "${MINHU_CHROMIUM:-}" ]; then
    echo "error: MINHU_CHROMIUM=$chromium is not an executable file." >&2
    exit 1
  fi
  missing+=(chromium)
fi
have_fonts || missing+=(fonts-noto-cjk)
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ]; then
  as_root=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  as_root=(sudo -n)
else
  echo "error: the browser tests need Debian's packages: ${missing[*]}" >&2
  echo "       Install them as root:  apt-get install ${missing[*]}" >&2
  echo "       (or point MINHU_CHROMIUM at another Chromium build)." >&2
  exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "error: the browser tests need ${missing[*]}, and there is no apt-get here to install them." >&2
  exit 1
fi

echo "==> installing ${missing[*]} with apt-get (once; takes a minute or two)"
started=$SECONDS
export DEBIAN_FRONTEND=noninteractive
log=$(mktemp)
trap 'rm -f "$log"' EXIT
if ! { "${as_root[@]}" apt-get update -qq &&
       "${as_root[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"; } >"$log" 2>&1; then
  cat "$log" >&2
  echo "error: apt-get could not install ${missing[*]}" >&2
  exit 1
fi
if [ ! -x "$chromium" ]; then
  echo "error: apt-get installed chromium but $chromium is missing" >&2
  exit 1
fi
echo "==> ${missing[*]} installed in $((SECONDS - started)) s"
