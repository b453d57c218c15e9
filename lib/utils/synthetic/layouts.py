"""Writers that lay synthetic sequences out exactly as the real datasets are laid out, so the real
readers (LaSOT, GOT-10k, TrackingNet, COCO) load them unchanged. Each writer is seeded: the same
arguments give byte-identical files. Every sequence has its own seed derived from (seed, dataset,
split, index), so held-out test sequences never share a seed with training ones."""

import multiprocessing
import os
import zlib

import numpy as np

from lib.utils.image_io import encode_jpeg

from .scene import plan_sequence
from .textures import PATTERN_KINDS

DEFAULT_SIZE = (320, 240)
DEFAULT_FRAMES = (30, 100)


def sequence_seed(seed, *path):
    """A 32-bit seed for one item, derived from the base seed and a path of names/indices."""
    words = [int(seed)] + [zlib.crc32(str(p).encode('utf-8')) for p in path]
    return int(np.random.SeedSequence(words).generate_state(1)[0])


def run_jobs(fn, jobs, workers=1):
    """Runs fn over jobs, in a pool of `workers` processes when that is allowed (not inside a daemonic
    process such as a DataLoader worker, which may not have children). Results keep the job order."""
    if workers > 1 and len(jobs) > 1 and not multiprocessing.current_process().daemon:
        methods = multiprocessing.get_all_start_methods()
        ctx = multiprocessing.get_context('fork' if 'fork' in methods else 'spawn')
        with ctx.Pool(min(workers, len(jobs))) as pool:
            return pool.map(fn, jobs, chunksize=1)
    return [fn(job) for job in jobs]


def write_bytes(path, data):
    with open(path, 'wb') as f:
        f.write(data)


def _write_lines(path, lines):
    write_bytes(path, ''.join(f'{line}\n' for line in lines).encode('utf-8'))


def _box_lines(boxes, fmt):
    return [','.join(fmt % v for v in box) for box in boxes]


def _write_frames(seq, folder, name_of, quality):
    os.makedirs(folder, exist_ok=True)
    for t in range(len(seq)):
        write_bytes(os.path.join(folder, name_of(t)), encode_jpeg(seq.frame(t), quality=quality))


def _plan(job):
    return plan_sequence(
        job['seed'], size=job['size'], frame_range=job['frame_range'], pattern=job.get('pattern')
    )


# ---------------------------------------------------------------- LaSOT
def lasot_class_names(classes):
    """classes: an int (that many names drawn from the texture families) or a list of names."""
    if isinstance(classes, int):
        k = len(PATTERN_KINDS)
        return [PATTERN_KINDS[i % k] + (str(i // k) if i >= k else '') for i in range(classes)]
    names = [str(c) for c in classes]
    bad = [c for c in names if not c or '-' in c or os.sep in c]
    if bad or len(set(names)) != len(names):
        raise ValueError(
            f'LaSOT class names must be unique, non-empty and without "-" or "{os.sep}"; got {names}'
        )
    return names


def _lasot_job(job):
    seq = _plan(job)
    folder = job['dir']
    os.makedirs(folder, exist_ok=True)
    _write_lines(os.path.join(folder, 'groundtruth.txt'), _box_lines(seq.boxes, '%d'))
    flag_files = (('full_occlusion.txt', seq.full_occlusion), ('out_of_view.txt', seq.out_of_view))
    for file_name, flags in flag_files:
        _write_lines(os.path.join(folder, file_name), [','.join(str(int(v)) for v in flags)])
    _write_lines(os.path.join(folder, 'nlp.txt'), [seq.description])
    _write_frames(seq, os.path.join(folder, 'img'), lambda t: f'{t + 1:08d}.jpg', job['quality'])
    return len(seq)


def write_lasot(
    root,
    classes=4,
    seqs_per_class=10,
    test_per_class=3,
    seed=0,
    size=DEFAULT_SIZE,
    frame_range=DEFAULT_FRAMES,
    quality=85,
    workers=1,
):
    """LaSOT layout: <root>/<class>/<class>-<N>/{groundtruth.txt, full_occlusion.txt, out_of_view.txt,
    nlp.txt, img/%08d.jpg (1-based)}, plus <root>/training_set.txt and testing_set.txt. Per class the
    first seqs_per_class sequences are training ones, the next test_per_class are held out. Absent
    frames (full occlusion or out of view) have the box 0,0,0,0. Returns {'train': names, 'test': names}."""
    names = lasot_class_names(classes)
    jobs, split = [], {'train': [], 'test': []}
    for k, cls in enumerate(names):
        pattern = cls if cls in PATTERN_KINDS else PATTERN_KINDS[k % len(PATTERN_KINDS)]
        for i in range(1, seqs_per_class + test_per_class + 1):
            name = f'{cls}-{i}'
            held_out = i > seqs_per_class
            split['test' if held_out else 'train'].append(name)
            # test seeds count within the test split, so the held-out set stays the same when the
            # number of training sequences changes
            key = ('test', i - seqs_per_class) if held_out else (i,)
            jobs.append(
                {
                    'dir': os.path.join(root, cls, name),
                    'seed': sequence_seed(seed, 'lasot', cls, *key),
                    'pattern': pattern,
                    'size': size,
                    'frame_range': frame_range,
                    'quality': quality,
                }
            )
    run_jobs(_lasot_job, jobs, workers)
    _write_lines(os.path.join(root, 'training_set.txt'), split['train'])
    _write_lines(os.path.join(root, 'testing_set.txt'), split['test'])
    return split


# ---------------------------------------------------------------- GOT-10k
def _got10k_meta(seq):
    centers = seq.full_boxes[:, :2] + seq.full_boxes[:, 2:] / 2.0
    speed = np.median(np.linalg.norm(np.diff(centers, axis=0), axis=1)) if len(seq) > 1 else 0.0
    seconds = max(1, len(seq) // 10)
    return [
        '[METAINFO]',
        f'url: synthetic://onestream/{seq.seed}',
        'begin: 00:00:00',
        f'end: 00:{seconds // 60:02d}:{seconds % 60:02d}',
        'anno_fps: 10Hz',
        f'object_class: {seq.object_class}',
        'motion_class: moving',
        f'major_class: {seq.shape}',
        'root_class: synthetic object',
        f'motion_adverb: {"quickly" if speed > 4 else "slowly"}',
        f'resolution: ({seq.width}, {seq.height})',
    ]


def _got10k_job(job):
    seq = _plan(job)
    folder = job['dir']
    os.makedirs(folder, exist_ok=True)
    boxes = seq.boxes if job['full_annotation'] else seq.boxes[:1]
    _write_lines(os.path.join(folder, 'groundtruth.txt'), _box_lines(boxes, '%.4f'))
    if job['full_annotation']:
        _write_lines(os.path.join(folder, 'absence.label'), [int(v) for v in seq.absent])
        _write_lines(os.path.join(folder, 'cover.label'), [int(v) for v in seq.cover])
        _write_lines(os.path.join(folder, 'cut_by_image.label'), [int(v) for v in seq.cut_by_image])
        _write_lines(os.path.join(folder, 'meta_info.ini'), _got10k_meta(seq))
    _write_frames(seq, folder, lambda t: f'{t + 1:08d}.jpg', job['quality'])
    return len(seq)


def write_got10k(
    root,
    n_train=8,
    n_val=2,
    n_test=2,
    seed=0,
    size=DEFAULT_SIZE,
    frame_range=DEFAULT_FRAMES,
    quality=85,
    workers=1,
):
    """GOT-10k layout: <root>/{train,val,test}/list.txt and <split>/GOT-10k_<Split>_%06d/ with
    groundtruth.txt (comma, 4 decimals; the test split keeps the first row only), %08d.jpg (1-based), and
    for train and val absence.label, cover.label (0..8), cut_by_image.label (one value per line) and
    meta_info.ini. Returns {split: names}."""
    jobs, names = [], {}
    for split, count in (('train', n_train), ('val', n_val), ('test', n_test)):
        names[split] = [f'GOT-10k_{split.capitalize()}_{i:06d}' for i in range(1, count + 1)]
        for i, name in enumerate(names[split], 1):
            jobs.append(
                {
                    'dir': os.path.join(root, split, name),
                    'seed': sequence_seed(seed, 'got10k', split, i),
                    'full_annotation': split != 'test',
                    'size': size,
                    'frame_range': frame_range,
                    'quality': quality,
                }
            )
    run_jobs(_got10k_job, jobs, workers)
    for split, split_names in names.items():
        os.makedirs(os.path.join(root, split), exist_ok=True)
        _write_lines(os.path.join(root, split, 'list.txt'), split_names)
    return names


# ---------------------------------------------------------------- TrackingNet
def _trackingnet_job(job):
    seq = _plan(job)
    boxes = seq.boxes if job['full_annotation'] else seq.boxes[:1]
    os.makedirs(os.path.dirname(job['anno']), exist_ok=True)
    _write_lines(job['anno'], _box_lines(boxes, '%.4f'))
    _write_frames(seq, job['frames'], lambda t: f'{t}.jpg', job['quality'])
    return len(seq)


def write_trackingnet(
    root,
    chunks=1,
    n_per_chunk=6,
    n_test=2,
    seed=0,
    size=DEFAULT_SIZE,
    frame_range=DEFAULT_FRAMES,
    quality=85,
    workers=1,
):
    """TrackingNet layout: <root>/TRAIN_<k>/anno/<video>.txt (comma, every frame) and
    TRAIN_<k>/frames/<video>/<i>.jpg (0-based), and TEST/ the same with the first frame's box only.
    Returns {'TRAIN_<k>': names, 'TEST': names}."""
    sets = [(f'TRAIN_{k}', n_per_chunk, True) for k in range(chunks)] + [('TEST', n_test, False)]
    jobs, names = [], {}
    for set_name, count, full in sets:
        names[set_name] = [f'synthetic_{set_name.lower()}_{i:05d}' for i in range(count)]
        for i, video in enumerate(names[set_name]):
            base = os.path.join(root, set_name)
            jobs.append(
                {
                    'anno': os.path.join(base, 'anno', video + '.txt'),
                    'frames': os.path.join(base, 'frames', video),
                    'seed': sequence_seed(seed, 'trackingnet', set_name, i),
                    'full_annotation': full,
                    'size': size,
                    'frame_range': frame_range,
                    'quality': quality,
                }
            )
    run_jobs(_trackingnet_job, jobs, workers)
    return names
