"""Decoding only the part of a JPEG frame that a training crop reads.

A training sample crops a window around the target from each frame, yet the lineage decodes the whole
1280x720 frame first, and decoding is most of a data-loader worker's time. libjpeg-turbo can skip
the inverse DCT and colour conversion outside a column range (jpeg_crop_scanline), entropy-decode only
the rows above a row range (jpeg_skip_scanlines), and stop after the last row wanted. No Python
package exposes those calls, so a small C library (jpeg_region.c, next to this file) does; it is
built once, by install.sh, with

    python -m lib.utils.jpeg_region build

which needs a C compiler and the libjpeg-turbo headers (Debian/Ubuntu: libjpeg-dev). Without it,
or when its self-test fails, one warning is printed and frames are decoded whole.

With mean=True, decode_region also gives the frame's mean colour (LoRAT pads crops with it) from the
DC coefficients, without decoding the pixels outside the region; see MEAN_TOLERANCE.

The decoded pixels are the ones a full decode gives (same library, same integer IDCT and fancy
upsampling; like jpeg4py, EXIF orientation is ignored): the region is widened by MARGIN pixels,
because next to a cut edge the chroma upsampling differs, and available() checks the equality once
per process before the library is used. tests/test_jpeg_region.py checks it over subsampling modes,
progressive files, restart markers and grey files.
"""

import ctypes
import os
import shlex
import subprocess
import sys
import tempfile
import warnings

import numpy as np

SOURCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'jpeg_region.c')
LIBRARY = os.path.join(os.path.dirname(os.path.abspath(__file__)), '_jpeg_region.so')
ABI_VERSION = 4  # JR_ABI_VERSION in jpeg_region.c
MARGIN = 16  # pixels decoded beyond each cut edge (at least the widest iMCU's chroma reach)
# The DC-coefficient mean colour (decode_region(mean=True)) against the mean of the decoded pixels:
# they differ by the per-pixel rounding and clamping to [0, 255] of the inverse DCT and the colour
# conversion, which the coefficients do not see. Measured: at most 0.04 of a level on the synthetic
# 1280x720 frames, 0.11 on the textured test scenes of tests/test_jpeg_region.py (every subsampling,
# sizes that are not whole MCUs), 0.36 on a 64x96 scene mostly covered by saturated rectangles; noise
# clipped over the whole frame (grey levels drawn around 240 or 10) reaches 1.8. The self-test and
# the tests check this bound.
MEAN_TOLERANCE = 0.25
_MESSAGE_LEN = 256


class JpegRegionError(RuntimeError):
    """The region decoder refused a file (not a baseline/progressive RGB-convertible JPEG, corrupt
    data); callers fall back to a full decode."""


class JpegRegionBuildError(RuntimeError):
    pass


def _libjpeg_path(command):
    """The shared libjpeg the compiler would link with -ljpeg, resolved to its file: the decoder opens
    that file at run time (see jpeg_region.c for why it is not linked)."""
    found = subprocess.run(
        command + ['-print-file-name=libjpeg.so'], capture_output=True, text=True
    ).stdout.strip()
    if not os.path.isabs(found) or not os.path.exists(found):
        raise JpegRegionBuildError(
            f'{" ".join(command)} finds no libjpeg.so; the decoder needs libjpeg-turbo '
            f'(Debian/Ubuntu: apt-get install libjpeg-dev)'
        )
    return os.path.realpath(found)


def build(output=LIBRARY, compiler=None):
    """Compiles jpeg_region.c into `output` (written atomically). compiler: a command (default $CC or
    cc). Returns output; raises JpegRegionBuildError with the compiler's message."""
    command = shlex.split(compiler or os.environ.get('CC') or 'cc')
    directory = os.path.dirname(os.path.abspath(output))
    fd, partial = tempfile.mkstemp(prefix='.jpeg_region_', suffix='.so', dir=directory)
    os.close(fd)
    try:
        libjpeg = _libjpeg_path(command)
        result = subprocess.run(
            command
            + ['-O2', '-shared', '-fPIC', f'-DJR_LIBJPEG="{libjpeg}"', '-o', partial, SOURCE, '-ldl', '-lm'],
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            raise JpegRegionBuildError(
                f'building {output} failed ({" ".join(command)} exit {result.returncode}); it needs a C '
                f'compiler and the libjpeg-turbo headers (Debian/Ubuntu: apt-get install libjpeg-dev):\n'
                f'{result.stderr.strip()}'
            )
        os.chmod(partial, 0o755)
        os.replace(partial, output)
    except FileNotFoundError as e:
        raise JpegRegionBuildError(f'building {output}: no C compiler ({e})') from None
    finally:
        if os.path.exists(partial):
            os.remove(partial)
    return output


_library = None
_state = None  # None: untried, True: loaded and self-tested, False: unavailable (warned once)


def _load(path):
    lib = ctypes.CDLL(path)
    lib.jr_abi_version.restype = ctypes.c_int
    if lib.jr_abi_version() != ABI_VERSION:
        raise JpegRegionError(f'{path} is a stale build (ABI {lib.jr_abi_version()}, expected {ABI_VERSION})')
    message = ctypes.create_string_buffer(_MESSAGE_LEN)
    if lib.jr_open_libjpeg(message, _MESSAGE_LEN):
        raise JpegRegionError(f'{path} cannot open its libjpeg: {message.value.decode(errors="replace")}')
    lib.jr_decode.argtypes = (
        [ctypes.c_char_p, ctypes.c_ulong, ctypes.POINTER(ctypes.c_int), ctypes.POINTER(ctypes.c_int)]
        + [ctypes.c_int] * 4
        + [ctypes.c_void_p, ctypes.c_long, ctypes.POINTER(ctypes.c_double), ctypes.c_char_p, ctypes.c_int]
    )
    return lib


def _call(data, region=(0, 0, 0, 0), dst=None, mean=None):
    """jr_decode: (height, width); with dst (an H x W x 3 uint8 array), also decodes region into it, and
    with mean (a (3,) float64 array) writes the frame's mean colour from the DC coefficients into it."""
    width, height = ctypes.c_int(), ctypes.c_int()
    message = ctypes.create_string_buffer(_MESSAGE_LEN)
    pointer, stride = (None, 0) if dst is None else (dst.ctypes.data, dst.strides[0])
    mean_pointer = None if mean is None else mean.ctypes.data_as(ctypes.POINTER(ctypes.c_double))
    if _library.jr_decode(
        data,
        len(data),
        ctypes.byref(width),
        ctypes.byref(height),
        *region,
        pointer,
        stride,
        mean_pointer,
        message,
        _MESSAGE_LEN,
    ):
        raise JpegRegionError(message.value.decode(errors='replace'))
    return height.value, width.value


def _self_test():
    """A region of a small textured 4:2:0 JPEG must equal the same pixels of the full decode, and its DC
    mean colour the mean of those pixels (the decoder reads a private libjpeg-turbo structure for it)."""
    from lib.utils.image_io import decode_image, encode_jpeg

    ramp = np.arange(48 * 64 * 3, dtype=np.uint32).reshape(48, 64, 3)
    image = ((ramp * 2654435761) >> 24).astype(np.uint8)  # deterministic noise
    data = encode_jpeg(image)
    want = decode_image(data)[20:40, 18:47]
    got, mean = decode_region(data, (18, 20, 47, 40), fill=0, mean=True, _check=False)
    if not np.array_equal(got[20:40, 18:47], want):
        raise JpegRegionError('its pixels differ from a full decode of the same file')
    exact = decode_image(data).reshape(-1, 3).mean(axis=0)
    if not np.abs(mean - exact).max() <= MEAN_TOLERANCE:
        raise JpegRegionError(
            f'its mean colour {mean.tolist()} is not that of a full decode {exact.tolist()}'
        )


def available():
    """True when the region decoder is built, current and gives full-decode pixels (checked once)."""
    global _library, _state
    if _state is None:
        try:
            if not os.path.isfile(LIBRARY):
                raise JpegRegionError(f'{LIBRARY} is not built')
            _library = _load(LIBRARY)
            _state = True
            _self_test()
        except (OSError, JpegRegionError) as e:
            _library, _state = None, False
            warnings.warn(
                f'JPEG region decoding is off ({e}); training decodes whole frames. Build it '
                f'with: python -m lib.utils.jpeg_region build',
                stacklevel=2,
            )
    return bool(_state)


def jpeg_size(data):
    """(height, width) from a JPEG header; JpegRegionError when it cannot be read."""
    return _call(data)


def decode_region(data, region, fill=None, size=None, mean=False, _check=True):
    """An H x W x 3 RGB uint8 array of the whole frame in which at least `region` (x0, y0, x1, y1,
    end-exclusive, clipped to the frame; None: no pixel) holds the pixels a full decode gives. The other
    pixels are left uninitialised, or set to `fill` (tests use it to show that they are never read).
    size: the (height, width) jpeg_size gives, when the caller has it already.
    mean=True: returns (array, mean), mean the frame's per-channel mean colour, a (3,) float64 array
    computed from the DC coefficients (jpeg_region.c): within MEAN_TOLERANCE of the mean of the decoded
    pixels on camera frames, and found without decoding the pixels outside the region.
    Raises JpegRegionError when the decoder refuses the file (for mean=True also: a progressive or
    multi-scan file, a colour space other than YCbCr, RGB or grey)."""
    if _check and not available():
        raise JpegRegionError('the region decoder is not available')
    height, width = size or jpeg_size(data)
    x0, y0, x1, y1 = (0, 0, 0, 0) if region is None else (int(v) for v in region)
    x0, y0 = max(x0 - MARGIN, 0), max(y0 - MARGIN, 0)
    x1, y1 = min(x1 + MARGIN, width), min(y1 + MARGIN, height)
    if region is None or x1 <= x0 or y1 <= y0:
        x0 = y0 = x1 = y1 = 0
    out = (
        np.empty((height, width, 3), dtype=np.uint8)
        if fill is None
        else np.full((height, width, 3), fill, dtype=np.uint8)
    )
    colour = np.zeros(3, dtype=np.float64) if mean else None
    if x1 > x0 or mean:
        _call(data, (x0, y0, x1, y1), out, colour)
    return (out, colour) if mean else out


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv != ['build']:
        print('usage: python -m lib.utils.jpeg_region build', file=sys.stderr)
        return 2
    try:
        path = build()
    except JpegRegionBuildError as e:
        print(f'jpeg_region: {e}', file=sys.stderr)
        return 1
    global _state
    _state = None
    if not available():
        print(f'jpeg_region: built {path}, but it does not work here (warning above)', file=sys.stderr)
        return 1
    print(f'jpeg_region: built {path}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
