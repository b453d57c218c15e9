"""Tiny dataset layouts written into a test's tmp_path (helpers for tests/test_datasets_*.py).

Every frame has its own content (frame-dependent colour), so reading the wrong frame is detectable.
"""

import json
import os

import numpy as np

from lib.utils.image_io import write_image

SIZE = 24  # frame height and width


def frame_image(seed, index, size=SIZE):
    """A small deterministic RGB image, distinct per (seed, index)."""
    rng = np.random.default_rng(seed * 1000 + index)
    image = np.full((size, size, 3), (index * 37) % 256, np.uint8)
    image[::4, ::4] = rng.integers(
        0, 256, (len(range(0, size, 4)), len(range(0, size, 4)), 3), dtype=np.uint8
    )
    return image


def _write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
        f.write(text)


def boxes_text(boxes, sep=','):
    return ''.join(sep.join(f'{v:g}' for v in b) + '\n' for b in boxes)


def seq_boxes(n, offset=0):
    """n boxes x,y,w,h; frame 1 has a zero-width box (invalid)."""
    boxes = [[1 + i + offset, 2 + i, 8 + i, 6 + i] for i in range(n)]
    if n > 1:
        boxes[1][2] = 0
    return boxes


def write_frames(folder, n, seed, name_fn, start=0):
    os.makedirs(folder, exist_ok=True)
    for i in range(n):
        write_image(os.path.join(folder, name_fn(i + start)), frame_image(seed, i + start))


def write_lasot(root, names, n=4, occlusion=None, out_of_view=None):
    """LaSOT layout. Default labels: frame 2 fully occluded, frame 3 out of view."""
    for k, name in enumerate(names):
        seq = os.path.join(root, name.rsplit('-', 1)[0], name)
        occ = occlusion or [0, 0, 1, 0][:n] + [0] * (n - 4)
        oov = out_of_view or [0, 0, 0, 1][:n] + [0] * (n - 4)
        _write(os.path.join(seq, 'groundtruth.txt'), boxes_text(seq_boxes(n, k)))
        _write(os.path.join(seq, 'full_occlusion.txt'), ','.join(map(str, occ)) + '\n')
        _write(os.path.join(seq, 'out_of_view.txt'), ','.join(map(str, oov)) + '\n')
        write_frames(os.path.join(seq, 'img'), n, k, lambda i: f'{i + 1:08d}.jpg')
    return root


def write_got10k_subset(folder, names, n=4, labels=True, first_row_only=False):
    """One GOT-10k subset folder (train/val/test). Frame 2 absent, frame 3 cover 0."""
    _write(os.path.join(folder, 'list.txt'), ''.join(s + '\n' for s in names))
    for k, name in enumerate(names):
        seq = os.path.join(folder, name)
        boxes = seq_boxes(n, k)
        _write(os.path.join(seq, 'groundtruth.txt'), boxes_text(boxes[:1] if first_row_only else boxes))
        if labels:
            _write(os.path.join(seq, 'absence.label'), ''.join(f'{int(i == 2)}\n' for i in range(n)))
            _write(os.path.join(seq, 'cover.label'), ''.join(f'{0 if i == 3 else 8}\n' for i in range(n)))
            meta = [
                '[METAINFO]',
                'url: x',
                'begin_time: 0',
                'end_time: 1',
                'anno_fps: 10Hz',
                f'object_class: class{k % 2}',
                'motion_class: walking',
                'major_class: animal',
                'root_class: object',
                'motion_adverb: slowly',
                'resolution: (24, 24)',
            ]
            _write(os.path.join(seq, 'meta_info.ini'), '\n'.join(meta) + '\n')
        # 12 frames would sort wrongly as text; 4 suffices with numeric names
        write_frames(seq, n, 100 + k, lambda i: f'{i + 1:08d}.jpg')
    return folder


def write_trackingnet(root, sets, n=3, first_row_only=False):
    """sets: {set_name: [video, ...]}, e.g. {'TRAIN_0': ['a_0'], 'TEST': ['t_0']}. Frames 0..n-1."""
    for s, videos in sets.items():
        for k, video in enumerate(videos):
            boxes = seq_boxes(n, k)
            _write(
                os.path.join(root, s, 'anno', f'{video}.txt'),
                boxes_text(boxes[:1] if first_row_only else boxes),
            )
            write_frames(
                os.path.join(root, s, 'frames', video), n, 200 + k + 10 * len(s), lambda i: f'{i}.jpg'
            )
    return root


def write_coco(root, image_dir='images/train2017'):
    """3 images; annotations: big (valid), small (w<=50, invalid), crowd (excluded)."""
    images = [{'id': i, 'file_name': f'{i:012d}.jpg'} for i in (1, 2, 3)]
    for img in images:
        write_frames(os.path.join(root, image_dir), 1, 300 + img['id'], lambda i, f=img['file_name']: f)
    annotations = [
        {'id': 10, 'image_id': 1, 'category_id': 1, 'bbox': [1, 2, 60, 70], 'iscrowd': 0},
        {'id': 11, 'image_id': 2, 'category_id': 2, 'bbox': [3, 4, 40, 80], 'iscrowd': 0},
        {'id': 12, 'image_id': 3, 'category_id': 1, 'bbox': [0, 0, 90, 90], 'iscrowd': 1},
    ]
    categories = [
        {'id': 1, 'name': 'person', 'supercategory': 'human'},
        {'id': 2, 'name': 'dog', 'supercategory': 'animal'},
    ]
    _write(
        os.path.join(root, 'annotations', 'instances_train2017.json'),
        json.dumps({'images': images, 'annotations': annotations, 'categories': categories}),
    )
    return root


def write_vid(root, n=4):
    """One video; track 0 in frames 0-3 (occluded in frame 1), track 1 in frames 1-2 only."""
    anno_dir = os.path.join(
        root, 'Annotations', 'VID', 'train', 'ILSVRC2015_VID_train_0000', 'ILSVRC2015_train_00000001'
    )
    for f in range(n):
        objects = [(0, 'n01', [f, f, f + 10, f + 12], int(f == 1))]
        if f in (1, 2):
            objects.append((1, 'n02', [2, 3, 9, 9], 0))
        xml = ''.join(
            f'<object><trackid>{t}</trackid><name>{c}</name><bndbox><xmin>{b[0]}</xmin>'
            f'<ymin>{b[1]}</ymin><xmax>{b[2]}</xmax><ymax>{b[3]}</ymax></bndbox>'
            f'<occluded>{o}</occluded></object>'
            for t, c, b, o in objects
        )
        _write(
            os.path.join(anno_dir, f'{f:06d}.xml'),
            f'<annotation><size><width>{SIZE}</width><height>{SIZE}</height></size>{xml}</annotation>',
        )
    write_frames(
        os.path.join(root, 'Data', 'VID', 'train', 'ILSVRC2015_VID_train_0000', 'ILSVRC2015_train_00000001'),
        n,
        400,
        lambda i: f'{i:06d}.JPEG',
    )
    return root


def write_text(path, text):
    _write(path, text)
