"""An image file's size and completeness from its first and last bytes, without decoding it.

tracking/check_dataset.py reads millions of frames this way: the JPEG frame header (SOF segment) or the
PNG IHDR chunk gives the size, and the end marker (JPEG EOI, PNG IEND) in the last bytes shows whether
the file was cut short. Other formats fall back to PIL, which also reads only the header.
"""

import io

HEAD_BYTES = 4096  # enough for the SOF segment of a JPEG without large EXIF blocks; else the whole file
TAIL_BYTES = 32
_PNG_SIGNATURE = b'\x89PNG\r\n\x1a\n'
# SOF0-SOF15 except DHT (C4), JPG (C8) and DAC (CC), which are not frame headers
_SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_STANDALONE = frozenset([0x01, *range(0xD0, 0xD9)])  # TEM, RST0-7, SOI: no length field


class HeaderError(ValueError):
    """Not an image, or an image whose header is damaged."""


def image_kind(head: bytes) -> str:
    if head[:2] == b'\xff\xd8':
        return 'jpeg'
    if head[:8] == _PNG_SIGNATURE:
        return 'png'
    return 'other'


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from the SOF segment; None when `data` ends before it."""
    i, n = 2, len(data)
    while True:
        if i >= n:
            return None
        if data[i] != 0xFF:
            raise HeaderError(f'JPEG segment expected at byte {i}, found 0x{data[i]:02x}')
        while i < n and data[i] == 0xFF:  # fill bytes
            i += 1
        if i >= n:
            return None
        marker = data[i]
        i += 1
        if marker in _STANDALONE:
            continue
        if marker in (0xD9, 0xDA):
            raise HeaderError('JPEG has no frame header before its image data')
        if i + 2 > n:
            return None
        length = (data[i] << 8) | data[i + 1]
        if length < 2:
            raise HeaderError(f'JPEG segment 0x{marker:02x} has length {length}')
        if marker in _SOF_MARKERS:
            if i + 7 > n:
                return None
            height, width = (data[i + 3] << 8) | data[i + 4], (data[i + 5] << 8) | data[i + 6]
            if not width or not height:
                raise HeaderError(f'JPEG frame header gives the size {width}x{height}')
            return width, height
        i += length


def _png_size(data: bytes) -> tuple[int, int] | None:
    if len(data) < 24:
        return None
    if data[12:16] != b'IHDR':
        raise HeaderError('PNG does not start with its IHDR chunk')
    width, height = int.from_bytes(data[16:20], 'big'), int.from_bytes(data[20:24], 'big')
    if not width or not height:
        raise HeaderError(f'PNG header gives the size {width}x{height}')
    return width, height


def image_size(head: bytes, whole: bool = False) -> tuple[int, int] | None:
    """(width, height) from the first bytes of an image file. None: a JPEG/PNG header needs more bytes
    than `head` has (call again with the whole file, whole=True). HeaderError for anything else."""
    if not head:
        raise HeaderError('the file is empty')
    kind = image_kind(head)
    size = _jpeg_size(head) if kind == 'jpeg' else _png_size(head) if kind == 'png' else None
    if size is not None or kind != 'other' and not whole:
        return size
    if kind != 'other':
        raise HeaderError(f'{kind.upper()} header is cut short')
    if not whole:
        return None
    try:
        from PIL import Image

        with Image.open(io.BytesIO(head)) as im:
            return im.size
    except Exception as e:  # PIL raises many kinds for files that are not images
        raise HeaderError(f'not an image PIL can read ({type(e).__name__}: {e})') from None


def looks_complete(kind: str, tail: bytes) -> bool:
    """Whether the file's last bytes hold its format's end marker (True for formats without one)."""
    if kind == 'jpeg':
        return b'\xff\xd9' in tail
    if kind == 'png':
        return b'IEND' in tail
    return True
