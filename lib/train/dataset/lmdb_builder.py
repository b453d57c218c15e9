"""Builds the LMDBs the lineage's *_lmdb readers (and ours, with use_lmdb) expect, from the folder form.

Keys are the files' paths relative to the dataset root, '/'-separated (fact sheet 7):
    lasot:       <class>/<class-N>/{groundtruth.txt, full_occlusion.txt, out_of_view.txt, img/%08d.jpg}
    got10k:      train/list.txt, train/<seq>/...  (and val/... when the source has val/)
    trackingnet: <dst>/seq_list.json (plain file) + one environment <dst>/TRAIN_<k>_lmdb per chunk with
                 keys anno/<video>.txt, frames/<video>/<i>.jpg
    coco:        annotations/instances_train2017.json, images/train2017/<file>
    vid:         cache.json, Data/VID/train/...
    custom:      list.txt, splits/<split>.txt, exclude.txt, <seq>/{groundtruth.txt, absence.label,
                 img/%08d.jpg|png} (docs/custom_dataset.md; hidden folders, e.g. an unfinished
                 sequence of tracking/create_custom_dataset.py, are left out)
The whole result is built under a temporary sibling path and renamed into place at the end, so an
interrupted build never leaves a valid-looking partial LMDB at `dst`.
"""

import json
import os
import shutil

from lib.train.dataset.layouts import EXCLUDE_FILE, TrackingNetLayout
from lib.utils.io import replace_folder

BATCH_FILES = 2000  # entries per write transaction
MIN_MAP_SIZE = 64 * 1024**2


class LmdbBuildError(RuntimeError):
    pass


def _files_under(src, rel=''):
    """(key, absolute path) of every file under src/rel, keys relative to src, sorted."""
    base = os.path.join(src, rel) if rel else src
    found = []
    for folder, dirs, files in os.walk(base):
        dirs.sort()
        for name in sorted(files):
            path = os.path.join(folder, name)
            found.append((os.path.relpath(path, src).replace(os.sep, '/'), path))
    return found


def write_environment(env_path, entries, initial_map_size=None):
    """Writes (key, file path or bytes) entries into a new LMDB at env_path. The map starts at 1.5x the
    data size (or `initial_map_size`) and doubles whenever it fills up."""
    import lmdb

    sizes = [len(v) if isinstance(v, bytes) else os.path.getsize(v) for _, v in entries]
    map_size = initial_map_size or max(MIN_MAP_SIZE, int(sum(sizes) * 1.5) + MIN_MAP_SIZE)
    env = lmdb.open(env_path, map_size=map_size, subdir=True, meminit=False)
    try:
        for start in range(0, len(entries), BATCH_FILES):
            batch = [
                (k.encode('utf-8'), v if isinstance(v, bytes) else _read(v))
                for k, v in entries[start : start + BATCH_FILES]
            ]
            while True:
                try:
                    with env.begin(write=True) as txn:
                        for key, value in batch:
                            txn.put(key, value)
                    break
                except lmdb.MapFullError:
                    map_size *= 2
                    env.set_mapsize(map_size)
        env.sync(True)
    finally:
        env.close()
    return len(entries)


def _read(path):
    with open(path, 'rb') as f:
        return f.read()


def _require_dir(path, what):
    if not os.path.isdir(path):
        raise LmdbBuildError(f'{path} does not exist or is not a folder (expected {what})')


# ------------------------------------------------------------------------------ per-dataset entries
def _lasot(src, tmp):
    _require_dir(src, 'the LaSOT root with <class>/<class-N>/ folders')
    return write_environment(tmp, _files_under(src))


def _got10k(src, tmp):
    _require_dir(src, 'the GOT-10k root holding train/ (and optionally val/)')
    if os.path.isfile(os.path.join(src, 'list.txt')):  # given a subset folder itself
        subset = os.path.basename(os.path.normpath(src))
        subset = subset if subset in ('train', 'val') else 'train'
        entries = [(f'{subset}/{k}', p) for k, p in _files_under(src)]
    else:
        entries = [
            e
            for subset in ('train', 'val')
            if os.path.isdir(os.path.join(src, subset))
            for e in _files_under(src, subset)
        ]
    if not any(k.endswith('/list.txt') for k, _ in entries):
        raise LmdbBuildError(f'{src}: no train/list.txt or val/list.txt found (GOT-10k layout expected)')
    return write_environment(tmp, entries)


def _trackingnet(src, tmp):
    _require_dir(src, 'the TrackingNet root with TRAIN_<k>/ folders')
    os.makedirs(tmp)
    pairs, count = [], 0
    for set_id in range(TrackingNetLayout.NUM_TRAIN_SETS):
        set_dir = os.path.join(src, TrackingNetLayout.set_name(set_id))
        if not os.path.isdir(set_dir):
            continue
        entries = _files_under(set_dir, 'anno') + _files_under(set_dir, 'frames')
        count += write_environment(os.path.join(tmp, TrackingNetLayout.lmdb_set_name(set_id)), entries)
        pairs += [
            [set_id, os.path.splitext(k[len('anno/') :])[0]]
            for k, _ in entries
            if k.startswith('anno/') and k.endswith('.txt')
        ]
    if not pairs:
        raise LmdbBuildError(f'{src}: no TRAIN_<k>/anno/*.txt found (TrackingNet layout expected)')
    with open(os.path.join(tmp, TrackingNetLayout.SEQ_LIST_FILE), 'w') as f:
        json.dump(pairs, f)
    if os.path.isfile(os.path.join(src, EXCLUDE_FILE)):  # the reader reads it beside seq_list.json
        shutil.copyfile(os.path.join(src, EXCLUDE_FILE), os.path.join(tmp, EXCLUDE_FILE))
    return count


def _coco(src, tmp, version='2017'):
    anno = f'annotations/instances_train{version}.json'
    if not os.path.isfile(os.path.join(src, anno)):
        raise LmdbBuildError(f'{os.path.join(src, anno)} does not exist (COCO layout expected)')
    image_dir = f'images/train{version}'
    if os.path.isdir(os.path.join(src, image_dir)):
        images = _files_under(src, image_dir)
    else:  # the DropTrack layout <root>/train2017/
        images = [(f'images/{k}', p) for k, p in _files_under(src, f'train{version}')]
    return write_environment(tmp, [(anno, os.path.join(src, anno))] + images)


def _vid(src, tmp):
    from lib.train.dataset.imagenetvid import CACHE_KEY, build_vid_cache
    from lib.train.dataset.storage import FolderStorage

    _require_dir(os.path.join(src, 'Data', 'VID', 'train'), 'the ImageNet VID root with Data/VID/train/')
    cache_path = os.path.join(src, CACHE_KEY)
    cache = (
        _read(cache_path)
        if os.path.isfile(cache_path)
        else json.dumps(build_vid_cache(FolderStorage(src))).encode('utf-8')
    )
    return write_environment(tmp, [(CACHE_KEY, cache)] + _files_under(src, 'Data/VID/train'))


def _custom(src, tmp):
    from lib.train.dataset.custom_layout import CustomLayout

    _require_dir(src, f'a custom dataset root: {CustomLayout.description}')
    list_file = os.path.join(src, CustomLayout.LIST_FILE)
    if not os.path.isfile(list_file):
        raise LmdbBuildError(f'{list_file} does not exist (custom layout expected: docs/custom_dataset.md)')
    entries = [(k, p) for k, p in _files_under(src) if not k.startswith('.') and '/.' not in k]
    return write_environment(tmp, entries)


BUILDERS = {
    'lasot': _lasot,
    'got10k': _got10k,
    'trackingnet': _trackingnet,
    'coco': _coco,
    'vid': _vid,
    'custom': _custom,
}


def build_lmdb(dataset, src, dst, overwrite=False):
    """Builds the LMDB form of `dataset` (one of BUILDERS) from folder `src` at `dst`, atomically.
    Returns the number of files stored."""
    if dataset not in BUILDERS:
        raise LmdbBuildError(f"unknown dataset '{dataset}'; valid: {', '.join(BUILDERS)}")
    dst = os.path.abspath(dst)
    if os.path.exists(dst) and not overwrite:
        raise LmdbBuildError(f'{dst} already exists; remove it or pass --overwrite')
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    tmp = f'{dst}.partial-{os.getpid()}'
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        count = BUILDERS[dataset](os.path.abspath(src), tmp)
        replace_folder(tmp, dst)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return count
