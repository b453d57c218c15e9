"""Image reading for training and evaluation. Every reader returns an RGB uint8 HxWx3 array.

OpenCV is the default decoder. jpeg4py (libjpeg-turbo) is used for JPEG files when it is installed
and its system library loads; if it does not, one warning is printed and OpenCV is used. PIL is
the last fallback. A missing or corrupt image raises ImageReadError naming the file.

EncodedImage keeps a file's bytes for a reader that decodes later, possibly only the part of a JPEG
it needs (the fast training crops, lib/utils/jpeg_region.py).
"""

import contextlib
import os
import warnings

import cv2
import numpy as np

cv2.setNumThreads(0)  # decoding runs inside DataLoader workers; OpenCV's own threads only compete


class ImageReadError(IOError):
    pass


_jpeg4py = None  # the module once it has been shown to work
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
            warnings.warn(
                f'jpeg4py is not usable ({type(e).__name__}: {e}); decoding JPEG with OpenCV. '
                f'Install libturbojpeg0 for faster decoding.',
                stacklevel=3,
            )
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
            jpeg = None
            try:
                jpeg = decoder.JPEG(buf)
                jpeg.parse_header()
                # jpeg4py's own destination is numpy.zeros: zero-filling (or first-touch page faults of
                # fresh zeroed pages) costs up to a third of the decode of a 1280x720 frame
                image = jpeg.decode(dst=np.empty((jpeg.height, jpeg.width, 3), dtype=np.uint8))
            except Exception:
                image = None
                # jpeg4py pools its libturbojpeg handles, and one that failed stays in an error state:
                # the next file's header reads as 0x0 and its decode writes out of bounds. Destroy it.
                if jpeg is not None and jpeg.decompressor is not None:
                    jpeg.decompressor.release()
                    jpeg.decompressor = None
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


def _read_file(path):
    try:
        with open(path, 'rb') as f:
            return f.read()
    except OSError as e:
        raise ImageReadError(f'cannot read image {path}: {e.strerror or e}') from None


def read_image(path, backend=None):
    """Reads an image file to RGB uint8 HxWx3."""
    data = _read_file(path)
    if not data:
        raise ImageReadError(f'cannot decode image {path}: the file is empty')
    return decode_image(data, name=path, backend=backend)


class EncodedImage:
    """An image file's bytes, decoded when the pixels are needed: whole (decode()), or for a JPEG only
    the rows and columns a crop reads (decode_region(), lib/utils/jpeg_region.py). Datasets hand these
    to a processing that declares `accepts_encoded_images` (the fast training crops); a frame that is
    not a JPEG, or any file when the region decoder is unavailable, is decoded whole, with the same
    errors as read_image."""

    undecoded_fill = None  # tests set a value: pixels outside a decoded region, never to be read

    def __init__(self, data, name):
        if not data:
            raise ImageReadError(f'cannot decode image {name}: the file is empty')
        self.data, self.name = data, name
        self._decoded = None
        self._size = None

    def _regions_possible(self):
        from lib.utils import jpeg_region

        return self._decoded is None and _is_jpeg(self.data) and jpeg_region.available()

    @property
    def shape(self):
        """(H, W, 3), from the JPEG header when the file need not be decoded whole."""
        if self._size is None and self._regions_possible():
            from lib.utils import jpeg_region

            try:
                self._size = jpeg_region.jpeg_size(self.data)
            except jpeg_region.JpegRegionError:
                pass
        if self._size is None:
            self._size = self.decode().shape[:2]
        return self._size + (3,)

    def decode(self):
        """RGB uint8 H x W x 3, the array read_image gives (decoded once, then shared: do not modify)."""
        if self._decoded is None:
            self._decoded = decode_image(self.data, name=self.name)
        return self._decoded

    def decode_region(self, region, mean=False):
        """An RGB uint8 H x W x 3 array whose pixels inside region (x0, y0, x1, y1, end-exclusive) are
        those of decode(); the others are undefined. region None: no pixel is needed. It may be the
        shared decode() array: do not modify it.
        mean=True: returns (array, mean), mean the frame's per-channel mean colour as a (3,) float64
        array from the JPEG's DC coefficients when the region decoder reads the file (without decoding
        the pixels outside the region; within jpeg_region.MEAN_TOLERANCE of the decoded pixels' mean),
        else None: the array is then the whole frame, for the caller to take the mean of."""
        if self._regions_possible():
            from lib.utils import jpeg_region

            try:
                return jpeg_region.decode_region(
                    self.data, region, fill=self.undecoded_fill, size=self.shape[:2], mean=mean
                )
            except jpeg_region.JpegRegionError:
                pass  # decoded whole below: the full decoder reports or tolerates the problem
        return (self.decode(), None) if mean else self.decode()


def region_union(a, b):
    """The smallest (x0, y0, x1, y1) region holding regions a and b (either may be None: no pixel)."""
    if a is None or b is None:
        return a if b is None else b
    return min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3])


def decode_for_crops(requests):
    """Per (frame, region, mean) request of a crop: (the frame array it reads, the frame's mean colour or
    None). frame: an array (given back as it is, mean None) or an EncodedImage, decoded once over the
    union of the regions (x0, y0, x1, y1; None: no pixel) its crops read; mean True: the crop needs the
    frame's mean colour (EncodedImage.decode_region: None when the frame had to be decoded whole)."""
    needs = {}
    for frame, region, mean in requests:
        if isinstance(frame, EncodedImage):
            union, any_mean = needs.get(id(frame), (None, False))
            needs[id(frame)] = region_union(union, region), any_mean or bool(mean)
    decoded = {}
    for frame, _, _ in requests:
        if id(frame) in needs and id(frame) not in decoded:
            region, mean = needs[id(frame)]
            decoded[id(frame)] = (
                frame.decode_region(region, mean=True) if mean else (frame.decode_region(region), None)
            )
    return [decoded.get(id(frame), (frame, None)) for frame, _, _ in requests]


def read_encoded_image(path):
    """The EncodedImage of an image file (read now, decoded when used)."""
    return EncodedImage(_read_file(path), path)


def encode_jpeg(image_rgb, quality=90):
    ok, buf = cv2.imencode(
        '.jpg', cv2.cvtColor(image_rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality]
    )
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
