#!/usr/bin/env bash
# Debian packages curata needs besides Python: Chromium and its matching driver (scrapers and
# browser tests), git (publishing), and venv support. Installs them with apt when run as root
# (or with passwordless sudo); otherwise says exactly what to install and stops.
set -euo pipefail

python=${1:-python3}
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
command -v git >/dev/null 2>&1 || missing+=(git)
"$python" -c "import venv, ensurepip" >/dev/null 2>&1 || missing+=(python3-venv)

if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
    sudo=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    sudo=(sudo -n)
else
    echo "curata needs these Debian packages: ${missing[*]}" >&2
    echo "install them with: sudo apt-get install -y ${missing[*]}   (then run make again)" >&2
    exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "curata needs: ${missing[*]} (no apt-get here: install them with your package manager)" >&2
    exit 1
fi
echo "installing Debian packages: ${missing[*]}"
"${sudo[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
