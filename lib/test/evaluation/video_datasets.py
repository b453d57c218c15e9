"""Evaluation readers for LaSOT (and its extension subset), GOT-10k val/test, TrackingNet test and TNL2K.
LaSOT, GOT-10k and TrackingNet use the training readers' layout code (lib/train/dataset/layouts.py),
so each layout is defined once. Frames are image paths."""

import os

from lib.test.evaluation.data import Sequence, SequenceList
from lib.test.evaluation.table_datasets import load_spec

IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp')


def _layouts():
    from lib.train.dataset import layouts
    from lib.train.dataset.storage import FolderStorage

    return layouts, FolderStorage


def lasot_sequences(root, label='lasot', list_file='testing_set.txt', bundled='lasot_test', names=None):
    """LaSOT-layout test sequences. Names: `names`, else <root>/<list_file> when present, else the
    bundled official table (dataset_specs/<bundled>.json: 280 LaSOT test / 150 extension sequences)."""
    layouts, FolderStorage = _layouts()
    storage = FolderStorage(root)
    if names is None:
        names = (
            layouts.read_lines(storage, list_file)
            if list_file and storage.exists(list_file)
            else load_spec(bundled)
        )
    sequences = SequenceList()
    for name in names:
        boxes, visible = layouts.LasotLayout.read_annotations(storage, name)
        frames = [storage.path(layouts.LasotLayout.frame_key(name, i)) for i in range(len(boxes))]
        sequences.append(
            Sequence(
                name,
                frames,
                label,
                boxes,
                object_class=layouts.LasotLayout.class_name(name),
                target_visible=visible,
            )
        )
    return sequences


def got10k_sequences(root, split):
    """GOT-10k `split` ('val' or 'test') from <root>/<split>/list.txt. Test sequences carry only the
    first frame's box; frames are the sequence folder's *.jpg in numeric order."""
    layouts, FolderStorage = _layouts()
    if split not in ('val', 'test'):
        raise ValueError(f"GOT-10k evaluation split must be 'val' or 'test', got {split!r}")
    storage = FolderStorage(os.path.join(root, split))
    sequences = SequenceList()
    for name in layouts.Got10kLayout.read_sequence_list(storage):
        boxes = layouts.read_boxes(storage, f'{name}/groundtruth.txt')
        frames = [storage.path(f'{name}/{f}') for f in layouts.Got10kLayout.list_frames(storage, name)]
        sequences.append(Sequence(name, frames, 'got10k', boxes[:1] if split == 'test' else boxes))
    return sequences


def trackingnet_sequences(root, set_name='TEST'):
    """TrackingNet test set: <root>/TEST/anno/<video>.txt (first-frame box), TEST/frames/<video>/<i>.jpg."""
    layouts, FolderStorage = _layouts()
    storage = FolderStorage(os.path.join(root, set_name))
    layout = layouts.TrackingNetLayout
    sequences = SequenceList()
    for video in layout.list_videos(storage):
        boxes = layouts.read_boxes(storage, layout.anno_key(video))
        frames = [storage.path(f'frames/{video}/{f}') for f in layout.list_frames(storage, video)]
        sequences.append(Sequence(video, frames, 'trackingnet', boxes[:1]))
    return sequences


def tnl2k_sequences(root):
    """TNL2K: every sub-folder <root>/<seq>/{groundtruth.txt, language.txt, imgs/*}, frames in name order.
    The language description is kept as seq.language (None without language.txt)."""
    layouts, FolderStorage = _layouts()
    storage = FolderStorage(root)
    sequences = SequenceList()
    for name in storage.list_names():
        if not os.path.isdir(storage.path(name)):
            continue
        boxes = layouts.read_boxes(storage, f'{name}/groundtruth.txt')
        frames = [
            storage.path(f'{name}/imgs/{f}')
            for f in storage.list_names(f'{name}/imgs')
            if f.lower().endswith(IMAGE_EXTENSIONS)
        ]
        seq = Sequence(name, frames, 'tnl2k', boxes)
        language_key = f'{name}/language.txt'
        seq.language = storage.read_text(language_key).strip() if storage.exists(language_key) else None
        sequences.append(seq)
    return sequences
