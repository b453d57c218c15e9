"""Evaluation readers for LaSOT (and its extension subset), GOT-10k val/test, TrackingNet test, TNL2K and
custom datasets. LaSOT, GOT-10k, TrackingNet and the custom format use the training readers' layout code
(lib/train/dataset/layouts.py, custom_layout.py), so each layout is defined once. Frames are image
paths (a custom dataset in LMDB form: its keys, read through the sequence's image reader).

on_error(name, exception), where a reader takes it, receives a sequence that cannot be read and the
reader goes on with the next (tracking/check_dataset.py); without it the error is raised."""

import os

from lib.test.evaluation.data import Sequence, SequenceList
from lib.test.evaluation.table_datasets import load_spec

IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp')
# what a reader raises for one unreadable sequence (a missing or malformed file)
SEQUENCE_ERRORS = (ValueError, OSError, UnicodeDecodeError)


def _each(names, on_error, read):
    """SequenceList of read(name) over names; a failing one goes to on_error(name, exc) when given."""
    sequences = SequenceList()
    for name in names:
        try:
            sequences.append(read(name))
        except SEQUENCE_ERRORS as e:
            if on_error is None:
                raise
            on_error(name, e)
    return sequences


def _layouts():
    from lib.train.dataset import layouts
    from lib.train.dataset.storage import FolderStorage

    return layouts, FolderStorage


def lasot_sequences(
    root, label='lasot', list_file='testing_set.txt', bundled='lasot_test', names=None, on_error=None
):
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

    def read(name):
        boxes, visible = layouts.LasotLayout.read_annotations(storage, name)
        frames = [storage.path(layouts.LasotLayout.frame_key(name, i)) for i in range(len(boxes))]
        return Sequence(
            name,
            frames,
            label,
            boxes,
            object_class=layouts.LasotLayout.class_name(name),
            target_visible=visible,
        )

    return _each(names, on_error, read)


def got10k_sequences(root, split, on_error=None):
    """GOT-10k `split` ('val' or 'test') from <root>/<split>/list.txt. Test sequences carry only the
    first frame's box; frames are the sequence folder's *.jpg in numeric order."""
    layouts, FolderStorage = _layouts()
    if split not in ('val', 'test'):
        raise ValueError(f"GOT-10k evaluation split must be 'val' or 'test', got {split!r}")
    storage = FolderStorage(os.path.join(root, split))

    def read(name):
        boxes = layouts.read_boxes(storage, f'{name}/groundtruth.txt')
        frames = [storage.path(f'{name}/{f}') for f in layouts.Got10kLayout.list_frames(storage, name)]
        return Sequence(name, frames, 'got10k', boxes[:1] if split == 'test' else boxes)

    return _each(layouts.Got10kLayout.read_sequence_list(storage), on_error, read)


def trackingnet_sequences(root, set_name='TEST', on_error=None):
    """TrackingNet test set: <root>/TEST/anno/<video>.txt (first-frame box), TEST/frames/<video>/<i>.jpg."""
    layouts, FolderStorage = _layouts()
    storage = FolderStorage(os.path.join(root, set_name))
    layout = layouts.TrackingNetLayout

    def read(video):
        boxes = layouts.read_boxes(storage, layout.anno_key(video))
        frames = [storage.path(f'frames/{video}/{f}') for f in layout.list_frames(storage, video)]
        return Sequence(video, frames, 'trackingnet', boxes[:1])

    return _each(layout.list_videos(storage), on_error, read)


def tnl2k_sequences(root, on_error=None):
    """TNL2K: every sub-folder <root>/<seq>/{groundtruth.txt, language.txt, imgs/*}, frames in name order.
    The language description is kept as seq.language (None without language.txt)."""
    layouts, FolderStorage = _layouts()
    storage = FolderStorage(root)

    def read(name):
        boxes = layouts.read_boxes(storage, f'{name}/groundtruth.txt')
        frames = [
            storage.path(f'{name}/imgs/{f}')
            for f in storage.list_names(f'{name}/imgs')
            if f.lower().endswith(IMAGE_EXTENSIONS)
        ]
        seq = Sequence(name, frames, 'tnl2k', boxes)
        language_key = f'{name}/language.txt'
        seq.language = storage.read_text(language_key).strip() if storage.exists(language_key) else None
        return seq

    names = [n for n in storage.list_names() if os.path.isdir(storage.path(n))]
    return _each(names, on_error, read)


def custom_sequences(root: str, split: str | None = None, on_error=None) -> SequenceList:
    """The custom dataset at `root` (a folder or an LMDB; docs/custom_dataset.md): the
    sequences of list.txt or splits/<split>.txt, minus those in exclude.txt, labelled 'custom'. Every
    frame needs a groundtruth.txt line: LineCountError when the frames and the lines disagree."""
    from lib.train.dataset.custom_layout import CustomLayout, open_root
    from lib.train.dataset.layouts import drop_excluded

    storage = open_root(root)
    names, _ = drop_excluded(CustomLayout.read_sequence_names(storage, split), storage)
    in_lmdb = storage.kind == 'lmdb'

    def read(name):
        boxes, visible = CustomLayout.read_annotations(storage, name)
        CustomLayout.check_frame_count(storage, name, len(boxes))
        ext = CustomLayout.frame_extension(storage, name)
        keys = [CustomLayout.frame_key(name, i, ext) for i in range(len(boxes))]
        frames = keys if in_lmdb else [storage.path(k) for k in keys]
        seq = Sequence(
            name,
            frames,
            'custom',
            boxes,
            target_visible=visible,
            image_reader=storage.read_image if in_lmdb else None,
        )
        seq.frame_storage, seq.frame_keys = storage, keys  # where tracking/check_dataset.py reads them
        return seq

    return _each(names, on_error, read)
