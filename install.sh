#!/usr/bin/env bash
# Installs OneStream's dependencies into the active Python environment.
#   bash install.sh            (inside a venv or conda env)
# Set PYTHON=/path/to/python to pick another interpreter.
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python}
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

"$PY" -m pip install --upgrade pip
# visdom publishes only an sdist whose setup.py needs pkg_resources, which pip's isolated build
# environment no longer provides. Build it in this environment instead, with a setuptools that
# still ships pkg_resources.
"$PY" -m pip install wheel "setuptools<70"
"$PY" -m pip install --no-build-isolation visdom
"$PY" -m pip install -r requirements.txt

# Decoding only the part of each JPEG that a training crop reads (lib/utils/jpeg_region.py).
"$PY" -m lib.utils.jpeg_region build \
    || echo "install.sh: the JPEG region decoder was not built; training decodes whole frames" >&2

# Path files (git-ignored) are created once; existing ones are never overwritten.
if [ ! -f lib/train/admin/local.py ] || [ ! -f lib/test/evaluation/local.py ]; then
    "$PY" tracking/create_default_local_file.py --workspace_dir . --data_dir ./data --save_dir ./output
fi
echo "OneStream installed. Run the tests with: python -m pytest -q tests"
