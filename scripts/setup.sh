#!/usr/bin/env bash
# Set up cnnkit on a fresh Debian machine: a project virtualenv in .venv with cnnkit
# installed (editable) and its dependencies. Idempotent and quick when already done:
# pip runs again only when pyproject.toml changes.
#
#   bash scripts/setup.sh          # runtime dependencies
#   bash scripts/setup.sh test     # plus the test tools
set -euo pipefail
cd "$(dirname "$0")/.."

extras="${1:-}"
python="${PYTHON:-python3}"

if ! command -v "$python" >/dev/null 2>&1; then
    echo "setup: $python not found; install Python 3.10+ (apt-get install -y python3 python3-venv)" >&2
    exit 1
fi

if [ ! -x .venv/bin/python ]; then
    echo "setup: creating .venv"
    if ! "$python" -m venv .venv 2>/dev/null; then
        # Debian's python3 ships venv separately.
        if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
            apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null
            rm -rf .venv && "$python" -m venv .venv
        else
            echo "setup: cannot create a virtualenv; install python3-venv" >&2
            exit 1
        fi
    fi
fi

# Fashion-MNIST, the default dataset, from Debian's package where apt-get can install it
# (cnnkit also looks in $CNNKIT_DATA and its cache, and downloads through torchvision).
if [ ! -d /usr/share/datasets/fashion-mnist ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "setup: installing Debian's dataset-fashion-mnist"
    { apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist >/dev/null; } \
        || echo "setup: could not install dataset-fashion-mnist; cnnkit will try to download it" >&2
fi

spec="."
[ -n "$extras" ] && spec=".[$extras]"
stamp=".venv/.cnnkit-setup-${extras:-base}"
want="$(cat pyproject.toml | sha256sum | cut -c1-16)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    echo "setup: installing cnnkit${extras:+ with [$extras]} into .venv (first time: about a minute)"
    .venv/bin/python -m pip install -qq --upgrade pip
    .venv/bin/python -m pip install -qq -e "$spec"
    echo "$want" > "$stamp"
fi
