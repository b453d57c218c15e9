"""The checks of tracking/check_dataset.py, per sequence, and what each finding means (KINDS).

Errors are what would break training or evaluation (a reader error, a crash, a tracker that cannot
start, results that overwrite each other); warnings are what the readers cope with (they treat the
frame as not visible, the sampler skips the sequence) but that is probably an annotation mistake.
"""

from collections import Counter
from dataclasses import dataclass

import numpy as np

from lib.train.dataset.layouts import AnnotationError, LineCountError, NanBoxError
from lib.train.dataset.storage import StorageKeyError
from lib.utils.dataset_check.sources import EVALUATION, TRAINING, DatasetSource, SequenceData
from lib.utils.image_header import HEAD_BYTES, TAIL_BYTES, HeaderError, image_kind, image_size, looks_complete

ERROR, WARNING = 'error', 'warning'
# kind: ({mode: severity}, what it means); a kind without a severity for a mode is not checked there
KINDS = {
    'bad_annotation': (
        {TRAINING: ERROR, EVALUATION: ERROR},
        'an annotation or list file is missing or cannot be parsed: the reader raises',
    ),
    'missing_frame': ({TRAINING: ERROR, EVALUATION: ERROR}, 'a frame file the reader reads does not exist'),
    'unreadable_frame': (
        {TRAINING: ERROR, EVALUATION: ERROR},
        'a frame file is empty, not an image or has a damaged header (with --decode: does not decode)',
    ),
    'truncated_frame': (
        {TRAINING: WARNING, EVALUATION: WARNING},
        'a JPEG/PNG frame lacks its end marker, so it was probably cut short (--decode decodes it)',
    ),
    'line_count_mismatch': (
        {TRAINING: ERROR, EVALUATION: ERROR},
        'the number of boxes (or of labels) differs from the number of frame files',
    ),
    'nan_box': (
        {TRAINING: ERROR, EVALUATION: ERROR},
        'a box holds NaN where the format does not define NaN as "not visible"',
    ),
    'bad_first_box': (
        {EVALUATION: ERROR},
        'the first box is not a positive-size box inside the frame: the tracker cannot start from it',
    ),
    'bad_size_box': (
        {TRAINING: WARNING, EVALUATION: WARNING},
        'negative or zero width/height (other than the 0,0,0,0 "absent" box): read as not visible',
    ),
    'box_outside_frame': (
        {TRAINING: WARNING, EVALUATION: WARNING},
        'a box does not overlap the frame at all',
    ),
    'no_visible_target': (
        {TRAINING: WARNING, EVALUATION: WARNING},
        'no frame has a visible target: the sampler never uses the sequence, evaluation scores nothing',
    ),
    'too_short': (
        {TRAINING: WARNING},
        'under 20 frames, or at most 4 visible ones: the training sampler never draws it (one template '
        'and one search frame)',
    ),
    'duplicate_name': (
        {TRAINING: WARNING, EVALUATION: ERROR},
        'a sequence is listed twice: training draws it twice as often, evaluation results overwrite',
    ),
}


@dataclass
class Finding:
    kind: str
    sequence: str
    detail: str  # the first example, naming the file
    frames: int = 1  # how many frames of the sequence have it

    def severity(self, mode: str) -> str:
        return KINDS[self.kind][0][mode]


def load_error_finding(name: str, error: Exception) -> Finding:
    """The finding for a sequence the reader could not give at all."""
    if isinstance(error, LineCountError):
        return Finding('line_count_mismatch', name, str(error))
    if isinstance(error, NanBoxError):
        return Finding('nan_box', name, str(error))
    if isinstance(error, StorageKeyError | AnnotationError | OSError | UnicodeDecodeError | ValueError):
        return Finding('bad_annotation', name, str(error))
    raise error


def inspect_frame(
    storage, key: str, decode: bool = False
) -> tuple[tuple[int, int] | None, str | None, str | None]:
    """(width, height) or None, and a finding kind with its message or (None, None). Reads the file's
    first and last bytes; decode=True also decodes it whole."""
    from lib.utils.image_io import ImageReadError

    where = storage.describe(key)
    try:
        head, tail = storage.read_ends(key, HEAD_BYTES, TAIL_BYTES)
    except StorageKeyError as e:
        return None, 'missing_frame', str(e)
    except OSError as e:
        return None, 'unreadable_frame', f'{where}: {e}'
    try:
        size = image_size(head)
        if size is None:  # a header beyond HEAD_BYTES (large EXIF), or not JPEG/PNG
            size = image_size(storage.read_bytes(key), whole=True)
    except HeaderError as e:
        return None, 'unreadable_frame', f'{where}: {e}'
    if decode:
        try:
            image = storage.read_image(key)
        except (ImageReadError, OSError) as e:
            return None, 'unreadable_frame', str(e)
        size = (image.shape[1], image.shape[0])
    if not looks_complete(image_kind(head), tail):
        return size, 'truncated_frame', f'{where}: no end marker in its last {TAIL_BYTES} bytes'
    return size, None, None


def _frames_finding(kind, name, rows, make_detail):
    rows = np.flatnonzero(rows)
    return [Finding(kind, name, make_detail(rows[0]), len(rows))] if len(rows) else []


def check_frames(data: SequenceData, decode: bool) -> tuple[np.ndarray, list[Finding]]:
    """(sizes (max(boxes, frames), 2) with NaN where unknown, findings) of the sequence's frame files
    (GOT-10k test and TrackingNet test have one box for all their frames)."""
    sizes = np.full((max(len(data.boxes), len(data.frames)), 2), np.nan)
    if data.frame_error is not None:
        return sizes, [Finding('missing_frame', data.name, data.frame_error, len(data.boxes))]
    found = {}
    for index, (storage, key) in enumerate(data.frames):
        size, kind, message = inspect_frame(storage, key, decode)
        if size is not None:
            sizes[index] = size
        if kind is not None:
            first = found.setdefault(kind, [f'frame {index + 1}: {message}', 0])
            first[1] += 1
    return sizes, [Finding(kind, data.name, detail, n) for kind, (detail, n) in found.items()]


def check_boxes(source: DatasetSource, data: SequenceData, sizes: np.ndarray) -> list[Finding]:
    boxes, name = data.boxes, data.name
    rows = len(boxes) if not source.first_frame_only else 1
    boxes, sizes = boxes[:rows], sizes[:rows]
    x, y, w, h = boxes.T
    nan = np.isnan(boxes).any(1)
    zero = (boxes == 0).all(1)
    with np.errstate(invalid='ignore'):
        bad_size = ~nan & ((w < 0) | (h < 0) | (((w == 0) | (h == 0)) & ~zero))
        outside = (
            ~nan & (w > 0) & (h > 0) & ((x >= sizes[:, 0]) | (y >= sizes[:, 1]) | (x + w <= 0) | (y + h <= 0))
        )

    def where(what):
        return lambda r: (
            f'frame {r + 1}: {what} {_box(boxes[r])}'
            + (f' in a {int(sizes[r, 0])}x{int(sizes[r, 1])} frame' if not np.isnan(sizes[r]).any() else '')
        )

    findings = []
    if source.mode == EVALUATION:
        first_bad = nan[0] or not (w[0] > 0 and h[0] > 0) or outside[0]
        if first_bad:
            findings.append(Finding('bad_first_box', name, where('the first box is')(0)))
        nan[0] = bad_size[0] = outside[0] = False  # reported once, as bad_first_box
    if not source.nan_allowed:
        findings += _frames_finding('nan_box', name, nan, where('NaN in'))
    findings += _frames_finding('bad_size_box', name, bad_size, where('size'))
    findings += _frames_finding('box_outside_frame', name, outside, where('box'))
    if source.video and not source.first_frame_only:
        findings += _visibility_findings(source, data)
    return findings


def _visibility_findings(source, data):
    visible, n = int(np.asarray(data.visible, dtype=bool).sum()), len(data.boxes)
    if not visible:
        return [Finding('no_visible_target', data.name, f'none of its {n} frames', n)]
    if source.mode == TRAINING:
        from lib.train.data.sampler import MIN_SEQUENCE_LENGTH

        if n < MIN_SEQUENCE_LENGTH or visible <= 4:  # the sampler's rule for 1 template + 1 search frame
            return [Finding('too_short', data.name, f'{n} frames, {visible} with a visible target')]
    return []


def _box(box):
    return '(' + ', '.join('nan' if np.isnan(v) else f'{v:g}' for v in box) + ')'


def check_sequence(source: DatasetSource, index: int, decode: bool = False) -> list[Finding]:
    """Every finding of sequence `index` of `source`."""
    try:
        data = source.load(index)
    except Exception as e:  # the reader's own error for this sequence, classified or re-raised
        return [load_error_finding(source.names[index], e)]
    if len(data.boxes) == 0:
        return [Finding('bad_annotation', data.name, 'the sequence has no frames')]
    findings = []
    count = data.frame_count
    if count is not None and not source.first_frame_only and count != len(data.boxes):
        findings.append(
            Finding('line_count_mismatch', data.name, f'{len(data.boxes)} boxes but {count} frame files')
        )
    sizes, frame_findings = check_frames(data, decode)
    return findings + frame_findings + check_boxes(source, data, sizes)


def duplicate_findings(names: list) -> list[Finding]:
    return [
        Finding('duplicate_name', name, f'listed {n} times', n) for name, n in Counter(names).items() if n > 1
    ]
