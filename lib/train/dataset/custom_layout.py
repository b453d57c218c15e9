"""The custom dataset format (docs/custom_dataset.md), in one place: read by the training reader
(custom.py), the evaluation reader (lib/test/evaluation/video_datasets.custom_sequences), the LMDB
builder and tracking/check_dataset.py; written by tracking/create_custom_dataset.py.

    <root>/list.txt                  sequence names, one per line
    <root>/splits/<split>.txt        optional subsets of list.txt (train.txt, test.txt, ...)
    <root>/exclude.txt               optional: sequences the readers skip (check_dataset.py writes it)
    <root>/<seq>/groundtruth.txt     one line per frame: x,y,w,h, comma or whitespace separated; an
                                     empty line or NaN,NaN,NaN,NaN: the target is not visible
    <root>/<seq>/absence.label       optional: one 0/1 per frame, 1 = target absent (GOT-10k's file)
    <root>/<seq>/img/00000001.jpg    frames, 1-based, 8 digits, .jpg or .png (one kind per sequence)

The same keys in an LMDB (tracking/create_lmdb.py --dataset custom) read the same way; a registered
path holding data.mdb is read as an LMDB. Registration: custom_datasets = {'name': '/path'} in
lib/train/admin/local.py (training name CUSTOM:name[:split]) and lib/test/evaluation/local.py
(evaluation name custom:name[:split]). numpy only, like layouts.py.
"""

import os
import re

import numpy as np

from lib.train.dataset.layouts import (
    AnnotationError,
    LineCountError,
    NanBoxError,
    check_length,
    read_flags,
    read_name_list,
    valid_boxes,
)
from lib.train.dataset.storage import StorageKeyError, numeric_sorted, open_storage

TRAIN_PREFIX = 'CUSTOM:'  # DATA.TRAIN.DATASETS_NAME
TEST_PREFIX = 'custom:'  # tracking/test.py --dataset
FRAME_EXTENSIONS = ('.jpg', '.png')
_SEPARATORS = re.compile(r'[,\s;]+')
_NAME = re.compile(r'^[A-Za-z0-9_][A-Za-z0-9_.+-]*$')


class CustomLayout:
    description = (
        '<root>/{list.txt, [splits/<split>.txt], <seq>/{groundtruth.txt, [absence.label], '
        'img/00000001.jpg or .png}} (docs/custom_dataset.md)'
    )
    LIST_FILE = 'list.txt'
    GROUNDTRUTH = 'groundtruth.txt'
    ABSENCE = 'absence.label'

    @staticmethod
    def split_key(split: str) -> str:
        return f'splits/{split}.txt'

    @staticmethod
    def splits(storage) -> list[str]:
        if not storage.exists('splits'):
            return []
        return [n[: -len('.txt')] for n in storage.list_names('splits') if n.endswith('.txt')]

    @classmethod
    def read_sequence_names(cls, storage, split: str | None = None) -> list[str]:
        """The names of list.txt, or of splits/<split>.txt (which may only name sequences of list.txt).
        Duplicates are kept: tracking/check_dataset.py reports them."""
        if not storage.exists(cls.LIST_FILE):
            raise StorageKeyError(
                f'{storage.describe(cls.LIST_FILE)} is missing: a custom dataset lists its sequences '
                f'there, one per line (docs/custom_dataset.md)'
            )
        names = read_name_list(storage, cls.LIST_FILE)
        if split is None:
            return names
        key = cls.split_key(split)
        if not storage.exists(key):
            found = ', '.join(cls.splits(storage)) or 'none'
            raise StorageKeyError(f"{storage.describe(key)} is missing: no split '{split}' (splits: {found})")
        chosen, known = read_name_list(storage, key), set(names)
        unknown = [n for n in chosen if n not in known]
        if unknown:
            raise AnnotationError(
                f'{storage.describe(key)}: {len(unknown)} name(s) not in list.txt, e.g. {unknown[0]!r}'
            )
        return chosen

    @classmethod
    def read_boxes(cls, storage, seq: str) -> np.ndarray:
        """(N, 4) float64 rows of <seq>/groundtruth.txt (parse_box_lines)."""
        key = f'{seq}/{cls.GROUNDTRUTH}'
        return parse_box_lines(storage.read_text(key), storage.describe(key))

    @classmethod
    def read_annotations(cls, storage, seq: str) -> tuple[np.ndarray, np.ndarray]:
        """(boxes (N,4) float64, visible (N,) bool). "Not visible" lines become 0,0,0,0 (the box the other
        layouts use for an absent target, which every metric and sampler treats as invalid). Visible =
        w, h > 0 and, with absence.label, not absent."""
        boxes = cls.read_boxes(storage, seq)
        boxes[np.isnan(boxes).all(1)] = 0.0
        visible = valid_boxes(boxes)
        key = f'{seq}/{cls.ABSENCE}'
        if storage.exists(key):
            visible &= check_length(read_flags(storage, key), len(boxes), storage, key) == 0
        return boxes, visible

    @classmethod
    def list_frames(cls, storage, seq: str) -> list[str]:
        names = storage.list_names(f'{seq}/img')
        return numeric_sorted([n for n in names if n.lower().endswith(FRAME_EXTENSIONS)])

    @classmethod
    def frame_extension(cls, storage, seq: str) -> str:
        """'.jpg' or '.png', whichever the sequence's first frame has."""
        for ext in FRAME_EXTENSIONS:
            if storage.exists(cls.frame_key(seq, 0, ext)):
                return ext
        raise StorageKeyError(
            f'{storage.describe(cls.frame_key(seq, 0, ".jpg"))} (or .png) is missing: frames are '
            f'{seq}/img/00000001.jpg, 00000002.jpg, ... (docs/custom_dataset.md)'
        )

    @staticmethod
    def frame_key(seq: str, index: int, ext: str) -> str:
        return f'{seq}/img/{index + 1:08d}{ext}'  # files are 1-based

    @classmethod
    def check_frame_count(cls, storage, seq: str, n_boxes: int) -> int:
        """The number of frame files; LineCountError when groundtruth.txt has another number of lines."""
        count = len(cls.list_frames(storage, seq))
        if count != n_boxes:
            raise LineCountError(
                f'{storage.describe(f"{seq}/{cls.GROUNDTRUTH}")}: {n_boxes} lines, but '
                f'{storage.describe(f"{seq}/img")} has {count} frames (one line per frame is required)'
            )
        return count


def parse_box_lines(text: str, where: str) -> np.ndarray:
    """(N, 4) float64, one row per line of a box file; NaN rows where a line is empty or all NaN ("not
    visible"). The file's final newline ends the last line, it does not add one. AnnotationError
    (NanBoxError for a partly NaN line) names `where` and the line."""
    lines = text.replace('\r\n', '\n').split('\n')
    if lines and lines[-1] == '':
        lines.pop()
    if not lines:
        raise AnnotationError(f'{where}: the file is empty (expected one x,y,w,h line per frame)')
    boxes = np.full((len(lines), 4), np.nan)
    for row, line in enumerate(lines):
        tokens = [t for t in _SEPARATORS.split(line.strip()) if t]
        if not tokens:
            continue
        if len(tokens) != 4:
            raise AnnotationError(
                f'{where}, line {row + 1}: expected 4 numbers x,y,w,h (or an empty line for '
                f'"not visible"), got {line.strip()!r}'
            )
        try:
            boxes[row] = [float(t) for t in tokens]
        except ValueError:
            raise AnnotationError(
                f'{where}, line {row + 1}: expected numbers, got {line.strip()!r}'
            ) from None
    partial = np.isnan(boxes).any(1) & ~np.isnan(boxes).all(1)
    if partial.any():
        rows = ', '.join(str(r + 1) for r in np.flatnonzero(partial)[:5])
        raise NanBoxError(
            f'{where}, line(s) {rows}: NaN in some but not all of x,y,w,h (a "not visible" line is '
            f'empty or NaN,NaN,NaN,NaN)'
        )
    return boxes


def is_lmdb(path: str) -> bool:
    return os.path.isfile(os.path.join(path, 'data.mdb'))


def open_root(path: str):
    """The storage of a registered custom dataset: an LMDB when the folder holds data.mdb."""
    return open_storage(path, use_lmdb=is_lmdb(path))


def valid_sequence_name(name: str) -> bool:
    """Names are folder names and result file names: letters, digits and _ . + - (no leading dot)."""
    return bool(_NAME.match(name))


def parse_name(name: str, prefix: str) -> tuple[str, str | None]:
    """'CUSTOM:drones:train' -> ('drones', 'train'); 'custom:drones' -> ('drones', None)."""
    parts = name[len(prefix) :].split(':')
    if not name.startswith(prefix) or len(parts) > 2 or not all(parts):
        raise ValueError(
            f"dataset name '{name}': expected {prefix}<name> or {prefix}<name>:<split>, e.g. "
            f'{prefix}drones or {prefix}drones:train'
        )
    return parts[0], parts[1] if len(parts) == 2 else None


def resolve(settings, name: str, prefix: str, local_file: str) -> tuple[str, str, str | None]:
    """(root, dataset key, split) of custom dataset `name` registered in settings.custom_datasets.
    ValueError for an unknown key, listing those registered; DatasetPathError for a missing folder."""
    from lib.utils.local_settings import DatasetPathError

    key, split = parse_name(name, prefix)
    registered = getattr(settings, 'custom_datasets', None) or {}
    if not isinstance(registered, dict):
        raise ValueError(
            f"custom_datasets in {local_file} must be a dict {{'name': '/path'}}, "
            f'got {type(registered).__name__}'
        )
    if key not in registered:
        known = ', '.join(sorted(registered)) or 'none'
        raise ValueError(
            f"unknown custom dataset '{key}' (in '{name}'); registered in custom_datasets of "
            f"{local_file}: {known}. Register it there: custom_datasets = {{'{key}': '/path/to/{key}'}}"
        )
    root = registered[key] or ''
    if not os.path.isdir(root):
        state = 'is empty' if not root else f"points to '{root}', which does not exist"
        raise DatasetPathError(
            f"custom_datasets['{key}'] {state}. Set it in {local_file} to a folder with the layout:\n"
            f'    {CustomLayout.description}'
        )
    return root, key, split
