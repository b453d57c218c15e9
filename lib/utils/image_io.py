"""Image reading for training and evaluation. Every reader returns an RGB uint8 HxWx3 array.

OpenCV is the default decoder. jpeg4py (libjpeg-turbo) is used for JPEG files when it is installed
and its system library loads; if it does not, one warning is printed and OpenCV is used. PIL is
the last fallback. A missing or corrupt image raises ImageReadError naming the file.
"""
import contextlib
import os
import warnings

import cv2
import numpy as np

cv2.setNumThreads(0)  # decoding runs inside DataLoader workers; OpenCV's own threads only compete


class ImageReadError(IOError):
    pass


_jpeg4py = None        # the module once it has been shown to work
_jpeg4py_state = None  # None: untried, True: works, False: unavailable (warned once)


def _jpeg4py_decoder():
    global _jpeg4py, _jpeg4py_state
    if _jpeg4py_state is None:
        try:
            import jpeg4py
            jpeg4py.JPEG(np.frombuffer(_TINY_JPEG, dtype=np.uint8)).decode()
            _jpeg4py, _jpeg4py_state = jpeg4py, True
        except Exception as e:  # missing package or missing libturbojpeg
            _jpeg4py_state = False
            warnings.warn(f'jpeg4py is not usable ({type(e).__name__}: {e}); decoding JPEG with OpenCV. '
                          f'Install libturbojpeg0 for faster decoding.', stacklevel=3)
    return _jpeg4py if _jpeg4py_state else None


BACKENDS = ('auto', 'jpeg4py', 'opencv', 'pil')
_default_backend = 'auto'


@contextlib.contextmanager
def default_backend(backend):
    """Within the block, readers that name no backend decode with `backend` ('auto': jpeg4py for JPEG,
    then OpenCV, then PIL; 'opencv': the lineage's cv2 decode; ...). Used by the data-loader benchmark
    to time the lineage's decoding against the default."""
    global _default_backend
    if backend not in BACKENDS:
        raise ValueError(f"image decoding backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    previous, _default_backend = _default_backend, backend
    try:
        yield
    finally:
        _default_backend = previous


def _is_jpeg(data):
    return len(data) > 3 and data[0] == 0xFF and data[1] == 0xD8


def decode_image(data, name='<bytes>', backend=None):
    """Decodes encoded image bytes to RGB uint8 HxWx3. `name` is used in errors. backend None: the
    default ('auto' unless changed by default_backend())."""
    backend = backend or _default_backend
    buf = np.frombuffer(data, dtype=np.uint8)
    image = None
    if backend in ('auto', 'jpeg4py') and _is_jpeg(data):
        decoder = _jpeg4py_decoder()
        if decoder is not None:
            try:
                jpeg = decoder.JPEG(buf)
                jpeg.parse_header()
                # jpeg4py's own destination is numpy.zeros: zero-filling (or first-touch page faults of
                # fresh zeroed pages) costs up to a third of the decode of a 1280x720 frame
                image = jpeg.decode(dst=np.empty((jpeg.height, jpeg.width, 3), dtype=np.uint8))
            except Exception:
                image = None
    if image is None and backend in ('auto', 'opencv', 'jpeg4py'):
        bgr = cv2.imdecode(buf, cv2.IMREAD_COLOR)
        if bgr is not None:
            image = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    if image is None:
        try:
            import io
            from PIL import Image
            with Image.open(io.BytesIO(data)) as im:
                image = np.asarray(im.convert('RGB'))
        except Exception as e:
            raise ImageReadError(f'cannot decode image {name}: {type(e).__name__}: {e}') from None
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    return np.ascontiguousarray(image)


def read_image(path, backend=None):
    """Reads an image file to RGB uint8 HxWx3."""
    try:
        with open(path, 'rb') as f:
            data = f.read()
    except OSError as e:
        raise ImageReadError(f'cannot read image {path}: {e.strerror or e}') from None
    if not data:
        raise ImageReadError(f'cannot decode image {path}: the file is empty')
    return decode_image(data, name=path, backend=backend)


def encode_jpeg(image_rgb, quality=90):
    ok, buf = cv2.imencode('.jpg', cv2.cvtColor(image_rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ImageReadError('cannot encode image as JPEG')
    return buf.tobytes()


def write_image(path, image_rgb, quality=90):
    """Writes an RGB uint8 image; the format follows the extension (jpg or png)."""
    ext = os.path.splitext(path)[1].lower() or '.jpg'
    params = [cv2.IMWRITE_JPEG_QUALITY, quality] if ext in ('.jpg', '.jpeg') else []
    ok, buf = cv2.imencode(ext, cv2.cvtColor(image_rgb, cv2.COLOR_RGB2BGR), params)
    if not ok:
        raise ImageReadError(f'cannot encode image {path}')
    with open(path, 'wb') as f:
        f.write(buf.tobytes())


# An 8x8 grey JPEG used to check once that jpeg4py's native library works.
_TINY_JPEG = None


def _make_tiny_jpeg():
    global _TINY_JPEG
    _TINY_JPEG = encode_jpeg(np.full((8, 8, 3), 128, np.uint8))


_make_tiny_jpeg()
