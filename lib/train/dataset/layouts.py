"""The on-disk layouts of LaSOT, GOT-10k and TrackingNet, in one place, shared by the training readers
(lib/train/dataset/*) and the evaluation readers (lib/test/evaluation/*). numpy only (no torch), so the
evaluation side can import it cheaply. Keys are relative to a storage (lib/train/dataset/storage.py).
The custom format (docs/custom_dataset.md) is in custom_layout.py, built on the helpers here.

Every training reader skips the sequences named in `exclude.txt` at its dataset root (EXCLUDE_FILE;
tracking/check_dataset.py --write-exclusions writes it): see drop_excluded.
"""

import os
import re

import numpy as np

from lib.train.dataset.storage import numeric_sorted

DATA_SPECS_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'data_specs')
_SEPARATORS = re.compile(r'[,\s;]+')


class AnnotationError(ValueError):
    """An annotation file that cannot be parsed as expected."""


class LineCountError(AnnotationError):
    """A label file (or the frames) and groundtruth.txt disagree on the number of frames."""


class NanBoxError(AnnotationError):
    """A box with NaN values where the layout does not define NaN as "not visible"."""


EXCLUDE_FILE = 'exclude.txt'


def read_name_list(storage, key: str) -> list[str]:
    """Names of a list file, one per line; blank lines and '#' comments are ignored."""
    names = (line.split('#', 1)[0].strip() for line in storage.read_text(key).splitlines())
    return [n for n in names if n]


def drop_excluded(names, storage, name_of=str) -> tuple[list, list]:
    """(kept, excluded): `names` without those listed in EXCLUDE_FILE at the storage root (none when the
    file is absent). name_of(item) gives an item's sequence name (TrackingNet items are (chunk, video))."""
    if not storage.exists(EXCLUDE_FILE):
        return list(names), []
    skip = set(read_name_list(storage, EXCLUDE_FILE))
    kept, excluded = [], []
    for item in names:
        (excluded if name_of(item) in skip else kept).append(item)
    return kept, excluded


def parse_numbers(text, source, columns=None, dtype=np.float64):
    """Numbers of a comma/tab/space separated text file; (rows, columns) when `columns` is given.
    'NaN' is accepted. `source` names the file in errors."""
    tokens = [t for t in _SEPARATORS.split(text) if t]
    try:
        values = np.array(tokens, dtype=np.float64)
    except ValueError as e:
        raise AnnotationError(f'{source}: expected numbers, {e}') from None
    if columns:
        if values.size % columns:
            raise AnnotationError(f'{source}: expected {columns} numbers per row, got {values.size} numbers')
        values = values.reshape(-1, columns)
    return values.astype(dtype, copy=False)


def read_boxes(storage, key):
    """(N, 4) float64 x,y,w,h boxes of a groundtruth file."""
    return parse_numbers(storage.read_text(key), storage.describe(key), columns=4)


def read_flags(storage, key):
    """A 0/1 (or small integer) label file as an int array, one value per frame."""
    return parse_numbers(storage.read_text(key), storage.describe(key)).astype(np.int64)


def read_lines(storage, key):
    return [line.strip() for line in storage.read_text(key).splitlines() if line.strip()]


def valid_boxes(boxes):
    """A box counts only with positive width and height."""
    return (boxes[:, 2] > 0) & (boxes[:, 3] > 0)


def check_length(values, n, storage, key):
    if len(values) != n:
        raise LineCountError(
            f'{storage.describe(key)}: {len(values)} values, but groundtruth.txt has {n} rows'
        )
    return values


# ---------------------------------------------------------------------------------------------- LaSOT
class LasotLayout:
    """<root>/<class>/<class-N>/{groundtruth.txt, full_occlusion.txt, out_of_view.txt, img/%08d.jpg}."""

    description = (
        '<lasot_dir>/<class>/<class>-<N>/{groundtruth.txt, full_occlusion.txt, out_of_view.txt, '
        'img/00000001.jpg}'
    )
    train_split_file = os.path.join(DATA_SPECS_DIR, 'lasot_train_split.txt')

    @staticmethod
    def class_name(seq_name):
        return seq_name.rsplit('-', 1)[0]

    @classmethod
    def sequence_key(cls, seq_name):
        return f'{cls.class_name(seq_name)}/{seq_name}'

    @classmethod
    def frame_key(cls, seq_name, frame_index):
        return f'{cls.sequence_key(seq_name)}/img/{frame_index + 1:08d}.jpg'  # files are 1-based

    @classmethod
    def read_annotations(cls, storage, seq_name):
        """(boxes (N,4) float64, target_visible (N,) bool). Visible = not fully occluded, not out of view
        and a box with w, h > 0."""
        seq_key = cls.sequence_key(seq_name)
        boxes = read_boxes(storage, f'{seq_key}/groundtruth.txt')
        n = len(boxes)
        occlusion = check_length(
            read_flags(storage, f'{seq_key}/full_occlusion.txt'), n, storage, f'{seq_key}/full_occlusion.txt'
        )
        out_of_view = check_length(
            read_flags(storage, f'{seq_key}/out_of_view.txt'), n, storage, f'{seq_key}/out_of_view.txt'
        )
        visible = (occlusion == 0) & (out_of_view == 0) & valid_boxes(boxes)
        return boxes, visible

    @classmethod
    def list_frames(cls, storage, seq_name):
        """The frame files in img/ (the reader expects one per groundtruth.txt row)."""
        return numeric_sorted(storage.list_names(f'{cls.sequence_key(seq_name)}/img'), ext='.jpg')

    @staticmethod
    def read_split(storage, list_file, bundled_file):
        """Sequence names from `list_file` in the dataset root when it exists (a user's own split, or the
        synthetic set's), else from the bundled official list."""
        if list_file and storage.exists(list_file):
            return read_lines(storage, list_file)
        with open(bundled_file) as f:
            return [line.strip() for line in f if line.strip()]


# -------------------------------------------------------------------------------------------- GOT-10k
GOT10K_SPLIT_FILES = {
    'train': 'got10k_train_split.txt',
    'val': 'got10k_val_split.txt',
    'train_full': 'got10k_train_full_split.txt',
    'vottrain': 'got10k_vot_train_split.txt',
    'votval': 'got10k_vot_val_split.txt',
}


class Got10kLayout:
    """<root>/list.txt and <root>/<seq>/{groundtruth.txt, absence.label, cover.label, meta_info.ini,
    %08d.jpg}. root is one subset folder (train, val or test)."""

    description = (
        '<got10k_dir>/{list.txt, GOT-10k_Train_000001/{groundtruth.txt, absence.label, cover.label, '
        'meta_info.ini, 00000001.jpg}}'
    )
    META_FIELDS = ('object_class_name', 'motion_class', 'major_class', 'root_class', 'motion_adverb')

    @staticmethod
    def read_sequence_list(storage):
        return read_lines(storage, 'list.txt')

    @staticmethod
    def split_indices(split):
        """Indices into list.txt (0-based) of one of the bundled splits."""
        if split not in GOT10K_SPLIT_FILES:
            raise ValueError(f"unknown GOT-10k split '{split}'; valid: {', '.join(GOT10K_SPLIT_FILES)}")
        path = os.path.join(DATA_SPECS_DIR, GOT10K_SPLIT_FILES[split])
        with open(path) as f:
            return parse_numbers(f.read(), path).astype(np.int64).tolist()

    @staticmethod
    def frame_key(seq_name, frame_index):
        return f'{seq_name}/{frame_index + 1:08d}.jpg'

    @staticmethod
    def list_frames(storage, seq_name):
        """Frame file names of a sequence in numeric order (used where GT has only the first row)."""
        return numeric_sorted(storage.list_names(seq_name), ext='.jpg')

    @staticmethod
    def read_annotations(storage, seq_name):
        """(boxes (N,4), target_visible (N,) bool): visible = not absent, cover > 0 and w, h > 0. Without
        absence/cover labels (custom data) visibility falls back to valid boxes."""
        boxes = read_boxes(storage, f'{seq_name}/groundtruth.txt')
        visible = valid_boxes(boxes)
        absence_key, cover_key = f'{seq_name}/absence.label', f'{seq_name}/cover.label'
        if storage.exists(absence_key):
            visible &= check_length(read_flags(storage, absence_key), len(boxes), storage, absence_key) == 0
        if storage.exists(cover_key):
            visible &= check_length(read_flags(storage, cover_key), len(boxes), storage, cover_key) > 0
        return boxes, visible

    @classmethod
    def read_meta(cls, storage, seq_name):
        """meta_info.ini lines 5-9 ('key: value') -> the five class fields; None where absent."""
        key = f'{seq_name}/meta_info.ini'
        meta = dict.fromkeys(cls.META_FIELDS)
        if storage.exists(key):
            lines = storage.read_text(key).split('\n')
            for field, line in zip(cls.META_FIELDS, lines[5:10]):
                meta[field] = line.split(': ')[-1].strip()
        return meta


# ---------------------------------------------------------------------------------------- TrackingNet
class TrackingNetLayout:
    """<root>/<SET>/anno/<video>.txt and <root>/<SET>/frames/<video>/<i>.jpg (0-based), SET = TRAIN_0..11
    or TEST. In LMDB form each TRAIN_k is its own environment <root>/TRAIN_k_lmdb with keys anno/...,
    frames/..., and <root>/seq_list.json (a plain file) lists [set_id, video] pairs."""

    description = '<trackingnet_dir>/TRAIN_<k>/{anno/<video>.txt, frames/<video>/0.jpg}'
    NUM_TRAIN_SETS = 12
    SEQ_LIST_FILE = 'seq_list.json'
    class_map_file = os.path.join(DATA_SPECS_DIR, 'trackingnet_classmap.txt')

    @staticmethod
    def set_name(set_id):
        return f'TRAIN_{set_id}'

    @staticmethod
    def lmdb_set_name(set_id):
        return f'TRAIN_{set_id}_lmdb'

    @staticmethod
    def anno_key(video):
        return f'anno/{video}.txt'

    @staticmethod
    def frame_key(video, frame_index):
        return f'frames/{video}/{frame_index}.jpg'

    @staticmethod
    def list_videos(set_storage):
        return sorted(os.path.splitext(n)[0] for n in set_storage.list_names('anno') if n.endswith('.txt'))

    @staticmethod
    def list_frames(set_storage, video):
        return numeric_sorted(set_storage.list_names(f'frames/{video}'), ext='.jpg')

    @classmethod
    def read_class_map(cls):
        with open(cls.class_map_file) as f:
            pairs = (line.rstrip('\n').split('\t') for line in f if line.strip())
            return {p[0]: p[1] for p in pairs if len(p) == 2}
