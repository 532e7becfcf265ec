#!/usr/bin/env bash
# Install Debian's Chromium (and a colour emoji font, so screenshots show the assistant's emoji) for
# the browser tests in tests/browser. Idempotent: a no-op when both are already installed.
# Playwright drives /usr/bin/chromium; `playwright install` is never run.
set -euo pipefail
if [ -x /usr/bin/chromium ] && dpkg -s fonts-noto-color-emoji >/dev/null 2>&1; then
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  SUDO="sudo"
fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium fonts-noto-color-emoji
