"""The sequences tracking/check_dataset.py checks, as the dataset's own reader gives them (boxes,
visibility, frame files), so the check sees what training or evaluation would see.

Training names are those of DATA.TRAIN.DATASETS_NAME (LASOT, GOT10K_train, TRACKINGNET:0-3,
CUSTOM:drones:train, ...: upper case, paths from lib/train/admin/local.py), read by the training
readers; evaluation names are those of tracking/test.py --dataset (lasot, got10k_val, trackingnet,
custom:drones:test, ...: lower case, paths from lib/test/evaluation/local.py), read by the evaluation
readers.
"""

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from lib.train.dataset.layouts import EXCLUDE_FILE

TRAINING, EVALUATION = 'training', 'evaluation'
FIRST_FRAME_ONLY = {'got10k_test', 'trackingnet'}  # their ground truth is the first frame's box only
NAN_ROWS_ALLOWED = {'uav'}  # UAV123 marks frames without the target by NaN rows
# the reader derives the frame list from the ground-truth rows, so the img/ folder is counted instead
FRAMES_FROM_BOXES = {'lasot', 'lasot_extension_subset', 'lasot_ext', 'synthetic'}


@dataclass
class SequenceData:
    name: str
    boxes: np.ndarray  # (N, 4) float64 x,y,w,h, as the reader gives them
    visible: np.ndarray  # (N,) bool
    frames: list  # (storage, key) of each frame the reader reads
    frame_count: int | None = None  # frame files on storage, where known
    frame_error: str | None = None  # the reader cannot even locate the frames (why)


@dataclass
class DatasetSource:
    name: str
    mode: str  # TRAINING or EVALUATION
    description: str
    names: list  # sequence names in list order, duplicates included
    load: Callable[[int], SequenceData]  # may raise the reader's errors
    count: int
    load_errors: list = field(default_factory=list)  # (name, exception): sequences the reader skipped
    excluded: list = field(default_factory=list)  # skipped because exclude.txt names them
    exclusion_file: str | None = None  # where the readers read exclude.txt (None: they do not)
    first_frame_only: bool = False
    nan_allowed: bool = False
    video: bool = True


def dataset_mode(name: str) -> str | None:
    """TRAINING, EVALUATION, or None for a name of neither kind."""
    from lib.test.evaluation.datasets import is_dataset_name
    from lib.train.dataset import DATASET_NAMES

    if name in DATASET_NAMES or name.startswith(('TRACKINGNET:', 'CUSTOM:')):
        return TRAINING
    return EVALUATION if is_dataset_name(name) else None


def training_source(name: str, settings, use_lmdb: bool = False) -> DatasetSource:
    from lib.train.dataset import build_train_dataset
    from lib.train.dataset.storage import StorageKeyError

    dataset = build_train_dataset(name, settings, use_lmdb=use_lmdb)
    lock = threading.Lock()  # the reader's annotation cache is not thread-safe

    def load(seq_id):
        with lock:
            info = dataset.get_sequence_info(seq_id)
        boxes = info['bbox'].numpy().astype(np.float64)
        data = SequenceData(dataset.sequence_name(seq_id), boxes, info['visible'].numpy(), [])
        try:
            data.frames = [dataset.frame_location(seq_id, f) for f in range(len(boxes))]
        except StorageKeyError as e:
            data.frame_error = str(e)
        try:
            data.frame_count = dataset.count_frames(seq_id)
        except StorageKeyError:
            data.frame_count = 0
        return data

    root = getattr(dataset, 'root', None)  # TrackingNet: a folder of chunks, exclude.txt beside them
    exclusion_file = os.path.join(root, EXCLUDE_FILE) if root else dataset.storage.describe(EXCLUDE_FILE)
    count = dataset.get_num_sequences()
    return DatasetSource(
        name=name,
        mode=TRAINING,
        description=f'training reader {type(dataset).__name__}, {dataset.storage!r}',
        names=[dataset.sequence_name(i) for i in range(count)],
        load=load,
        count=count,
        excluded=[e[1] if isinstance(e, tuple) else str(e) for e in dataset.excluded],  # (chunk, video)
        exclusion_file=exclusion_file,
        video=dataset.is_video_sequence(),
    )


def evaluation_source(name: str, settings) -> DatasetSource:
    from lib.test.evaluation.datasets import CUSTOM_PREFIX, get_dataset
    from lib.train.dataset.layouts import valid_boxes
    from lib.train.dataset.storage import FolderStorage

    errors = []
    sequences = get_dataset(name, settings, on_error=lambda seq, e: errors.append((seq, e)))
    folders = {}  # one FolderStorage per frame folder

    def location(path):
        folder = os.path.dirname(path)
        storage = folders.get(folder) or folders.setdefault(folder, FolderStorage(folder))
        return storage, os.path.basename(path)

    def load(index):
        seq = sequences[index]
        boxes = seq.ground_truth_rect
        with np.errstate(invalid='ignore'):
            visible = valid_boxes(boxes) if seq.target_visible is None else seq.target_visible
        storage = getattr(seq, 'frame_storage', None)
        frames = [(storage, k) for k in seq.frame_keys] if storage else [location(p) for p in seq.frames]
        data = SequenceData(seq.name, boxes, visible, frames, frame_count=len(seq.frames))
        if name in FRAMES_FROM_BOXES and seq.frames:
            folder = os.path.dirname(seq.frames[0])
            listed = os.listdir(folder) if os.path.isdir(folder) else []
            data.frame_count = sum(n.lower().endswith('.jpg') for n in listed)
        return data

    exclusion_file, excluded = None, []
    if name.startswith(CUSTOM_PREFIX):  # the custom reader honours exclude.txt; official benchmarks do not
        exclusion_file, excluded = _custom_exclusions(name, settings)
    return DatasetSource(
        name=name,
        mode=EVALUATION,
        description='evaluation reader (lib/test/evaluation/datasets.py)',
        names=sequences.names() + [seq for seq, _ in errors],
        load=load,
        count=len(sequences),
        load_errors=errors,
        excluded=excluded,
        exclusion_file=exclusion_file,
        first_frame_only=name in FIRST_FRAME_ONLY,
        nan_allowed=name in NAN_ROWS_ALLOWED,
    )


def _custom_exclusions(name, settings):
    """(exclude.txt path, the names it removed) of an evaluation custom:<name>[:<split>] dataset."""
    from lib.test.evaluation.datasets import CUSTOM_PREFIX
    from lib.test.evaluation.environment import LOCAL_FILE
    from lib.train.dataset.custom_layout import CustomLayout, open_root, resolve
    from lib.train.dataset.layouts import drop_excluded

    root, _, split = resolve(settings, name, CUSTOM_PREFIX, LOCAL_FILE)
    storage = open_root(root)
    _, excluded = drop_excluded(CustomLayout.read_sequence_names(storage, split), storage)
    return storage.describe(EXCLUDE_FILE), excluded
