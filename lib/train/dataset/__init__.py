"""Training datasets by the lineage's DATA.TRAIN.DATASETS_NAME names.

    build_train_dataset('LASOT', env_settings(), use_lmdb=False)

Each dataset has one class that reads either folders (settings.<x>_dir) or an LMDB
(settings.<x>_lmdb_dir, same keys as the lineage's LMDBs; build one with tracking/create_lmdb.py).
Dataset classes are imported on use, so importing this package stays cheap (no torch, no lmdb).

TrackingNet chunks are chosen in the name: 'TRACKINGNET' uses all 12 (as OSTrack), 'TRACKINGNET:0-3'
the first four (as pytracking/DiMP), 'TRACKINGNET:0,2,5' a list.

Custom datasets (docs/custom_dataset.md) are 'CUSTOM:<name>' or 'CUSTOM:<name>:<split>', <name> a key
of custom_datasets in lib/train/admin/local.py (a folder, or an LMDB built from one; --use_lmdb does
not apply to them).
"""

import os

from lib.train.dataset.layouts import Got10kLayout, LasotLayout, TrackingNetLayout

_COCO_LAYOUT = '<coco_dir>/{annotations/instances_train2017.json, images/train2017/*.jpg}'
_VID_LAYOUT = '<imagenet_dir>/{Annotations/VID/train/..., Data/VID/train/...} (+ cache.json)'
_GOT10K_SPLITS = {
    'GOT10K_train': 'train',
    'GOT10K_val': 'val',
    'GOT10K_train_full': 'train_full',
    'GOT10K_vottrain': 'vottrain',
    'GOT10K_votval': 'votval',
}

# name -> (folder attribute, folder layout, LMDB attribute, tracking/create_lmdb.py --dataset value)
_PATHS = {
    'LASOT': ('lasot_dir', LasotLayout.description, 'lasot_lmdb_dir', 'lasot'),
    **{
        name: ('got10k_dir', Got10kLayout.description, 'got10k_lmdb_dir', 'got10k') for name in _GOT10K_SPLITS
    },
    'GOT10K_official_val': ('got10k_val_dir', Got10kLayout.description, 'got10k_lmdb_dir', 'got10k'),
    'TRACKINGNET': ('trackingnet_dir', TrackingNetLayout.description, 'trackingnet_lmdb_dir', 'trackingnet'),
    'COCO17': ('coco_dir', _COCO_LAYOUT, 'coco_lmdb_dir', 'coco'),
    'VID': ('imagenet_dir', _VID_LAYOUT, 'imagenet_lmdb_dir', 'vid'),
    'SYNTHETIC': ('synthetic_dir', '<synthetic_dir>/lasot/... (generated on first use)', None, None),
}
DATASET_NAMES = tuple(_PATHS)


def _root(name, settings, use_lmdb):
    from lib.train.admin.environment import require_train_path

    folder_attr, layout, lmdb_attr, lmdb_name = _PATHS[name]
    if use_lmdb:
        return require_train_path(
            settings,
            lmdb_attr,
            f'an LMDB built by: python tracking/create_lmdb.py '
            f'--dataset {lmdb_name} --src <folder> --dst <this path>',
        )
    return require_train_path(settings, folder_attr, layout)


def parse_trackingnet_chunks(name):
    """'TRACKINGNET:0-3' -> [0, 1, 2, 3]; 'TRACKINGNET:0,2' -> [0, 2]; 'TRACKINGNET' -> None (all)."""
    _, sep, spec = name.partition(':')
    if not sep:
        return None
    chunks = []
    try:
        for part in spec.split(','):
            first, dash, last = part.strip().partition('-')
            chunks += list(range(int(first), int(last) + 1)) if dash else [int(first)]
    except ValueError:
        chunks = []
    valid = range(TrackingNetLayout.NUM_TRAIN_SETS)
    if not chunks or any(c not in valid for c in chunks):
        raise ValueError(
            f"training dataset '{name}': expected TRACKINGNET:<chunks> with chunks in "
            f"0-{len(valid) - 1}, e.g. TRACKINGNET:0-3 or TRACKINGNET:0,1,2"
        )
    return sorted(set(chunks))


def _unknown_name_message(name):
    return (
        f"unknown training dataset '{name}'; valid names: {', '.join(DATASET_NAMES)}, "
        f'or CUSTOM:<name> for a dataset registered in custom_datasets of lib/train/admin/local.py'
    )


def _build_custom(name, settings):
    from lib.train.admin.environment import LOCAL_FILE
    from lib.train.dataset.custom import CustomDataset
    from lib.train.dataset.custom_layout import TRAIN_PREFIX, resolve

    root, key, split = resolve(settings, name, TRAIN_PREFIX, LOCAL_FILE)
    return CustomDataset(root, split=split, name=f'custom_{key}')


def build_train_dataset(name, settings, use_lmdb=False):
    """The training dataset called `name` (see DATASET_NAMES, or CUSTOM:<name>[:<split>]), rooted at the
    paths in `settings` (lib.train.admin.environment.env_settings()). SYNTHETIC always reads folders."""
    if name.startswith('CUSTOM:'):
        return _build_custom(name, settings)
    if name.startswith('TRACKINGNET:'):
        chunks = parse_trackingnet_chunks(name)
        from lib.train.dataset.tracking_net import TrackingNet

        return TrackingNet(_root('TRACKINGNET', settings, use_lmdb), set_ids=chunks, use_lmdb=use_lmdb)
    if name not in _PATHS:
        raise ValueError(_unknown_name_message(name))
    if name == 'SYNTHETIC':
        return _build_synthetic(settings)
    root = _root(name, settings, use_lmdb)
    if name == 'LASOT':
        from lib.train.dataset.lasot import Lasot

        return Lasot(root, split='train', use_lmdb=use_lmdb)
    if name in _GOT10K_SPLITS:
        from lib.train.dataset.got10k import Got10k

        return Got10k(root, split=_GOT10K_SPLITS[name], use_lmdb=use_lmdb, lmdb_subset='train')
    if name == 'GOT10K_official_val':
        from lib.train.dataset.got10k import Got10k

        return Got10k(root, split=None, use_lmdb=use_lmdb, lmdb_subset='val', name='got10k_official_val')
    if name == 'TRACKINGNET':
        from lib.train.dataset.tracking_net import TrackingNet

        return TrackingNet(root, use_lmdb=use_lmdb)
    if name == 'COCO17':
        from lib.train.dataset.coco_seq import MSCOCOSeq

        return MSCOCOSeq(root, version='2017', use_lmdb=use_lmdb)
    from lib.train.dataset.imagenetvid import ImagenetVID

    return ImagenetVID(root, use_lmdb=use_lmdb)


def _build_synthetic(settings):
    """The synthetic LaSOT-layout set's training split (<synthetic_dir>/lasot/training_set.txt)."""
    from lib.train.dataset.lasot import Lasot
    from lib.train.dataset.layouts import read_lines
    from lib.train.dataset.storage import FolderStorage
    from lib.utils.synthetic import ensure_default_dataset

    root = getattr(settings, 'synthetic_dir', '') or ''
    if not root:
        from lib.train.admin.environment import require_train_path

        require_train_path(settings, 'synthetic_dir', _PATHS['SYNTHETIC'][1])  # raises: not set
    lasot_root = os.path.join(ensure_default_dataset(root), 'lasot')
    names = read_lines(FolderStorage(lasot_root), 'training_set.txt')  # never the official 1120 list
    return Lasot(lasot_root, split='train', sequence_list=names, name='synthetic')
