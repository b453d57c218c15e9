#!/usr/bin/env bash
# Installs OneStream's dependencies into the active Python environment.
#   bash install.sh            (inside a venv or conda env) the newest releases requirements.txt allows
#   bash install.sh --locked   exactly the versions of requirements.lock, then checks them
# Set PYTHON=/path/to/python to pick another interpreter.
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python}
LOCK=requirements.lock
locked=0
for arg in "$@"; do
    case "$arg" in
        --locked) locked=1 ;;
        -h|--help) sed -n '2,5p' "$0"; exit 0 ;;
        *) echo "install.sh: unknown argument '$arg' (expected --locked or nothing)" >&2; exit 2 ;;
    esac
done
# the version a lock file pins for one package
pinned() { sed -n "s/^$1==//p" "$LOCK"; }
if [ "$locked" = 1 ]; then
    [ -f "$LOCK" ] || { echo "install.sh: --locked needs $LOCK, which is missing" >&2; exit 2; }
    for name in pip visdom; do
        [ -n "$(pinned "$name")" ] || { echo "install.sh: $LOCK pins no $name version" >&2; exit 2; }
    done
fi
"$PY" -c "import sys; v = sys.version_info[:2]; (3, 10) <= v <= (3, 12) or print(\"install.sh: OneStream is tested on Python 3.10-3.12; this is %d.%d\" % v)"

# jpeg4py loads libturbojpeg at run time; without it OneStream falls back to OpenCV (one warning).
# The region decoder of the training crops (lib/utils/jpeg_region.c, built below) needs the
# libjpeg-turbo headers (libjpeg-dev) and a C compiler; without them training decodes whole frames.
if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    packages=()
    ldconfig -p 2>/dev/null | grep -q libturbojpeg || packages+=(libturbojpeg0)
    [ -f /usr/include/jpeglib.h ] || packages+=(libjpeg-dev)
    command -v cc >/dev/null 2>&1 || packages+=(gcc libc6-dev)
    if [ ${#packages[@]} -gt 0 ]; then
        (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${packages[@]}") \
            || echo "install.sh: could not install ${packages[*]}; JPEG decoding may use OpenCV, whole frames" >&2
    fi
fi

if [ "$locked" = 1 ]; then
    "$PY" -m pip install "pip==$(pinned pip)"
else
    "$PY" -m pip install --upgrade pip
fi
# visdom publishes only an sdist whose setup.py needs pkg_resources, which pip's isolated build
# environment no longer provides. Build it in this environment instead, with a setuptools that
# still ships pkg_resources (the lock's own setuptools, which torch wants newer, comes after).
"$PY" -m pip install wheel "setuptools<70"
if [ "$locked" = 1 ]; then
    "$PY" -m pip install --no-build-isolation "visdom==$(pinned visdom)"
    "$PY" -m pip install -r "$LOCK"
else
    "$PY" -m pip install --no-build-isolation visdom
    "$PY" -m pip install -r requirements.txt
fi

# Decoding only the part of each JPEG that a training crop reads (lib/utils/jpeg_region.py).
"$PY" -m lib.utils.jpeg_region build \
    || echo "install.sh: the JPEG region decoder was not built; training decodes whole frames" >&2

# Path files (git-ignored) are created once; existing ones are never overwritten.
if [ ! -f lib/train/admin/local.py ] || [ ! -f lib/test/evaluation/local.py ]; then
    "$PY" tracking/create_default_local_file.py --workspace_dir . --data_dir ./data --save_dir ./output
fi
"$PY" -m lib.utils.environment
# a locked install that did not reproduce the lock is an error, not a warning
[ "$locked" = 0 ] || "$PY" -m lib.utils.environment --check "$LOCK"
echo "OneStream installed. Run the tests with: python -m pytest -q tests"
