"""Synthetic data: determinism, ground truth consistent with the pixels, the real dataset layouts, the
atomic/idempotent default set, and that the data needs tracking (a static box fails)."""

import json
import multiprocessing
import os
import subprocess
import sys

import numpy as np
import pytest

from lib.utils.box_ops import box_iou_xywh
from lib.utils.image_io import read_image
from lib.utils.synthetic import (
    MIN_VISIBLE_FRACTION,
    ensure_default_dataset,
    is_complete,
    plan_sequence,
    write_coco,
    write_got10k,
    write_lasot,
    write_trackingnet,
)

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SMALL = {'size': (96, 72), 'frame_range': (12, 16)}
TINY_SPEC = {
    'seed': 3,
    'lasot': dict(classes=2, seqs_per_class=1, test_per_class=1, **SMALL),
    'got10k': dict(n_train=1, n_val=1, n_test=1, **SMALL),
    'trackingnet': dict(chunks=1, n_per_chunk=1, n_test=1, **SMALL),
    'coco': {'n_images': 2, 'size': (96, 72)},
}


def _tree_bytes(root):
    out = {}
    for folder, _, files in os.walk(root):
        for name in files:
            path = os.path.join(folder, name)
            with open(path, 'rb') as f:
                out[os.path.relpath(path, root)] = f.read()
    return out


def _lines(path):
    with open(path) as f:
        return f.read().splitlines()


def test_same_seed_same_sequence_and_different_seed_differs():
    a = plan_sequence(11, num_frames=25, size=(128, 96))
    b = plan_sequence(11, num_frames=25, size=(128, 96))
    c = plan_sequence(12, num_frames=25, size=(128, 96))
    assert np.array_equal(a.boxes, b.boxes) and np.array_equal(a.cover, b.cover)
    assert np.array_equal(a.out_of_view, b.out_of_view) and np.array_equal(a.full_occlusion, b.full_occlusion)
    assert all(np.array_equal(x, y) for x, y in zip(a.frames(), b.frames()))
    assert not np.array_equal(a.boxes, c.boxes)
    assert not np.array_equal(a.frame(0), c.frame(0))


@pytest.mark.parametrize('seed', [0, 1, 2])
def test_flags_agree_with_boxes_and_pixels(seed):
    seq = plan_sequence(
        seed, num_frames=70, size=(160, 120), out_of_view=True, full_occlusion=True, partial_occlusion=True
    )
    width, height = seq.width, seq.height
    assert seq.out_of_view.any() and seq.full_occlusion.any()
    assert not (seq.out_of_view & seq.full_occlusion).any()
    assert seq.cover[0] == 8 and not seq.absent[0]
    assert (seq.cover[seq.full_occlusion] == 0).all() and (seq.cover[seq.out_of_view] == 0).all()
    assert np.array_equal(seq.absent, seq.cover == 0)
    assert (seq.boxes[seq.absent] == 0).all()
    full = seq.full_boxes
    inter_w = np.clip(np.minimum(full[:, 0] + full[:, 2], width) - np.maximum(full[:, 0], 0), 0, None)
    inter_h = np.clip(np.minimum(full[:, 1] + full[:, 3], height) - np.maximum(full[:, 1], 0), 0, None)
    inside = inter_w * inter_h / (full[:, 2] * full[:, 3])
    assert (inside[seq.out_of_view] < MIN_VISIBLE_FRACTION).all()  # out of view: the target is outside
    assert (inside[seq.full_occlusion] > 0).all()  # fully occluded: inside, but hidden
    vis = ~seq.absent
    gt = seq.boxes[vis]
    assert (gt[:, 2:] > 0).all() and (gt[:, :2] >= 0).all()
    assert (gt[:, 0] + gt[:, 2] <= width).all() and (gt[:, 1] + gt[:, 3] <= height).all()
    assert np.array_equal(seq.cut_by_image, vis & (inside < 1))
    # Pixels: hiding the target changes (almost) nothing on absent frames, and the inside of the box on
    # fully visible ones, never anything outside the target's box.
    for t in range(len(seq)):
        without_target = seq.frame(t, draw_target=False).astype(int)
        changed = np.abs(seq.frame(t).astype(int) - without_target).max(axis=2) > 0
        x, y, w, h = (int(v) for v in full[t])
        box_mask = np.zeros_like(changed)
        box_mask[max(0, y) : max(0, y + h), max(0, x) : max(0, x + w)] = True
        assert not (changed & ~box_mask).any()
        if seq.absent[t]:
            assert changed.sum() <= MIN_VISIBLE_FRACTION * w * h
        elif seq.cover[t] == 8:
            assert changed.sum() >= 0.5 * w * h


def test_distractors_look_alike_but_differ():
    for seed in range(5):
        seq = plan_sequence(seed, num_frames=10, num_distractors=2)
        for d in seq.distractors:
            assert np.array_equal(d.alpha, seq.target.alpha)  # same silhouette
            target_colour = seq.target.texture.reshape(-1, 3).mean(0)
            colour_gap = np.abs(d.texture.reshape(-1, 3).mean(0) - target_colour).sum()
            assert colour_gap > 20


def test_keeping_the_first_box_fails():
    """The main job relies on this: targets travel, so a static box has low overlap."""
    mean_ious = []
    for seed in range(30):
        seq = plan_sequence(seed)
        vis = ~seq.absent
        first = np.repeat(seq.boxes[:1], vis.sum(), axis=0)
        mean_ious.append(box_iou_xywh(first, seq.boxes[vis]).mean())
    assert np.mean(mean_ious) < 0.25
    assert np.max(mean_ious) < 0.6


def test_lasot_layout(tmp_path):
    split = write_lasot(
        str(tmp_path), classes=['stripes', 'rings'], seqs_per_class=2, test_per_class=1, **SMALL
    )
    assert _lines(tmp_path / 'training_set.txt') == ['stripes-1', 'stripes-2', 'rings-1', 'rings-2']
    assert _lines(tmp_path / 'testing_set.txt') == ['stripes-3', 'rings-3'] == split['test']
    ground_truths = {}
    for name in split['train'] + split['test']:
        folder = tmp_path / name.split('-')[0] / name
        gt = np.loadtxt(folder / 'groundtruth.txt', delimiter=',', dtype=np.int64, ndmin=2)
        frames = sorted(os.listdir(folder / 'img'))
        assert frames == [f'{i:08d}.jpg' for i in range(1, len(gt) + 1)]
        occlusion = [int(v) for v in _lines(folder / 'full_occlusion.txt')[0].split(',')]
        out_of_view = [int(v) for v in _lines(folder / 'out_of_view.txt')[0].split(',')]
        assert len(occlusion) == len(out_of_view) == len(gt) and set(occlusion + out_of_view) <= {0, 1}
        absent = np.array(occlusion, bool) | np.array(out_of_view, bool)
        assert np.array_equal(absent, (gt[:, 2] <= 0) | (gt[:, 3] <= 0)) and (gt[absent] == 0).all()
        assert _lines(folder / 'nlp.txt')[0].strip()
        assert read_image(str(folder / 'img' / frames[0])).shape == (72, 96, 3)
        ground_truths[name] = gt
    # held-out test sequences are not copies of training ones
    assert not np.array_equal(ground_truths['rings-3'][0], ground_truths['rings-1'][0])


def test_lasot_held_out_set_does_not_depend_on_the_training_count(tmp_path):
    # the same test sequences (ground truth and pixels) whether 1 or 3 training sequences come first,
    # so results on the held-out set stay comparable when the training set grows
    few = write_lasot(str(tmp_path / 'few'), classes=['rings'], seqs_per_class=1, test_per_class=2, **SMALL)
    many = write_lasot(str(tmp_path / 'many'), classes=['rings'], seqs_per_class=3, test_per_class=2, **SMALL)
    assert few['test'] == ['rings-2', 'rings-3'] and many['test'] == ['rings-4', 'rings-5']
    for a, b in zip(few['test'], many['test']):
        folder_a, folder_b = tmp_path / 'few' / 'rings' / a, tmp_path / 'many' / 'rings' / b
        assert (folder_a / 'groundtruth.txt').read_bytes() == (folder_b / 'groundtruth.txt').read_bytes()
        assert (folder_a / 'img' / '00000001.jpg').read_bytes() == (
            folder_b / 'img' / '00000001.jpg'
        ).read_bytes()
    # and the training sequences the two share are the same too
    assert (tmp_path / 'few' / 'rings' / 'rings-1' / 'groundtruth.txt').read_bytes() == (
        tmp_path / 'many' / 'rings' / 'rings-1' / 'groundtruth.txt'
    ).read_bytes()


def test_got10k_layout(tmp_path):
    names = write_got10k(str(tmp_path), n_train=2, n_val=1, n_test=1, **SMALL)
    assert _lines(tmp_path / 'train' / 'list.txt') == ['GOT-10k_Train_000001', 'GOT-10k_Train_000002']
    assert names['val'] == ['GOT-10k_Val_000001'] and names['test'] == ['GOT-10k_Test_000001']
    for split in ('train', 'val'):
        for name in names[split]:
            folder = tmp_path / split / name
            gt = np.loadtxt(folder / 'groundtruth.txt', delimiter=',', ndmin=2)
            assert all(len(v.split('.')[1]) == 4 for v in _lines(folder / 'groundtruth.txt')[0].split(','))
            frames = sorted(f for f in os.listdir(folder) if f.endswith('.jpg'))
            assert frames == [f'{i:08d}.jpg' for i in range(1, len(gt) + 1)]
            absence = np.array([int(v) for v in _lines(folder / 'absence.label')])
            cover = np.array([int(v) for v in _lines(folder / 'cover.label')])
            cut = np.array([int(v) for v in _lines(folder / 'cut_by_image.label')])
            assert len(absence) == len(cover) == len(cut) == len(gt)
            assert cover.min() >= 0 and cover.max() <= 8 and np.array_equal(absence == 1, cover == 0)
            with open(folder / 'meta_info.ini') as f:
                meta = f.readlines()  # parsed by line number, as the reader does
            fields = [meta[i].split(': ')[0] for i in range(5, 10)]
            assert fields == ['object_class', 'motion_class', 'major_class', 'root_class', 'motion_adverb']
            assert all(meta[i].split(': ')[-1][:-1] for i in range(5, 10))
    test_folder = tmp_path / 'test' / 'GOT-10k_Test_000001'
    assert len(_lines(test_folder / 'groundtruth.txt')) == 1
    assert len([f for f in os.listdir(test_folder) if f.endswith('.jpg')]) >= SMALL['frame_range'][0]


def test_trackingnet_layout(tmp_path):
    names = write_trackingnet(str(tmp_path), chunks=2, n_per_chunk=1, n_test=1, **SMALL)
    assert sorted(names) == ['TEST', 'TRAIN_0', 'TRAIN_1']
    for set_name, videos in names.items():
        for video in videos:
            rows = _lines(tmp_path / set_name / 'anno' / f'{video}.txt')
            frames = os.listdir(tmp_path / set_name / 'frames' / video)
            assert sorted(frames, key=lambda f: int(f[:-4])) == [f'{i}.jpg' for i in range(len(frames))]
            assert len(rows) == (1 if set_name == 'TEST' else len(frames))
            assert all(len(row.split(',')) == 4 for row in rows)


def test_coco_layout(tmp_path):
    path = write_coco(str(tmp_path), n_images=4, size=(160, 120))
    assert path == str(tmp_path / 'annotations' / 'instances_train2017.json')
    with open(path) as f:
        data = json.load(f)
    image_ids = {im['id'] for im in data['images']}
    category_ids = {c['id'] for c in data['categories']}
    assert len(image_ids) == 4 and data['annotations']
    assert len({a['id'] for a in data['annotations']}) == len(data['annotations'])
    for im in data['images']:
        assert read_image(str(tmp_path / 'images' / 'train2017' / im['file_name'])).shape == (120, 160, 3)
        assert im['file_name'] == f"{im['id']:012d}.jpg"
    for ann in data['annotations']:
        x, y, w, h = ann['bbox']
        assert ann['image_id'] in image_ids and ann['category_id'] in category_ids and ann['iscrowd'] == 0
        assert x >= 0 and y >= 0 and x + w <= 160 and y + h <= 120 and 0 < ann['area'] <= w * h
        poly = np.array(ann['segmentation'][0]).reshape(-1, 2)
        assert len(poly) >= 4 and (poly >= [x, y]).all() and (poly <= [x + w, y + h]).all()


def test_writers_are_byte_identical_for_a_seed(tmp_path):
    common = dict(classes=1, seqs_per_class=2, test_per_class=0, **SMALL)
    write_lasot(str(tmp_path / 'a'), seed=5, **common)
    write_lasot(str(tmp_path / 'b'), seed=5, workers=2, **common)
    write_lasot(str(tmp_path / 'c'), seed=6, **common)
    a, b, c = (_tree_bytes(str(tmp_path / k)) for k in 'abc')
    assert a == b
    gt = os.path.join('stripes', 'stripes-1', 'groundtruth.txt')
    assert a[gt] != c[gt]


def test_ensure_default_dataset_is_idempotent_and_recovers(tmp_path):
    root = str(tmp_path / 'synthetic')
    assert ensure_default_dataset(root, spec=TINY_SPEC, workers=1) == root
    assert is_complete(root, TINY_SPEC)
    for sub in (
        'lasot/training_set.txt',
        'lasot/testing_set.txt',
        'got10k/train/list.txt',
        'got10k/val/list.txt',
        'got10k/test/list.txt',
        'trackingnet/TRAIN_0/anno',
        'trackingnet/TEST/frames',
        'coco/annotations/instances_train2017.json',
        'coco/images/train2017',
    ):
        assert os.path.exists(os.path.join(root, sub)), sub
    first = _tree_bytes(root)
    marker = os.path.join(root, '.synthetic_complete.json')
    os.utime(marker, (1, 1))
    ensure_default_dataset(root, spec=TINY_SPEC, workers=1)
    assert os.path.getmtime(marker) == 1  # complete: nothing was regenerated
    # an interrupted run: a half-written temporary sibling, and a root that lost its marker
    os.makedirs(root + '.tmp-dead/lasot')
    open(root + '.tmp-dead/lasot/training_set.txt', 'w').close()
    os.remove(marker)
    os.remove(os.path.join(root, 'lasot', 'testing_set.txt'))
    assert not is_complete(root, TINY_SPEC)
    ensure_default_dataset(root, spec=TINY_SPEC, workers=1)
    assert _tree_bytes(root) == first
    assert sorted(os.listdir(tmp_path)) == ['synthetic', 'synthetic.lock']


def test_ensure_default_dataset_refuses_foreign_folder(tmp_path):
    root = tmp_path / 'synthetic'
    root.mkdir()
    (root / 'my_notes.txt').write_text('not generated')
    with pytest.raises(RuntimeError, match='my_notes.txt'):
        ensure_default_dataset(str(root), spec=TINY_SPEC, workers=1)
    assert (root / 'my_notes.txt').exists()


def _ensure_in_child(root):
    ensure_default_dataset(root, spec=TINY_SPEC, workers=1)


def test_concurrent_callers_get_one_complete_set(tmp_path):
    root = str(tmp_path / 'synthetic')
    methods = multiprocessing.get_all_start_methods()
    ctx = multiprocessing.get_context('fork' if 'fork' in methods else 'spawn')
    procs = [ctx.Process(target=_ensure_in_child, args=(root,)) for _ in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0, 0, 0]
    assert is_complete(root, TINY_SPEC)
    assert sorted(os.listdir(tmp_path)) == ['synthetic', 'synthetic.lock']
    reference = str(tmp_path / 'reference')
    ensure_default_dataset(reference, spec=TINY_SPEC, workers=1)
    assert _tree_bytes(root) == _tree_bytes(reference)


def test_cli_rejects_bad_workers():
    proc = subprocess.run(
        [
            sys.executable,
            os.path.join(REPO_ROOT, 'tracking', 'create_synthetic_data.py'),
            '--root',
            '/nonexistent/never',
            '--workers',
            '0',
        ],
        check=False,
        capture_output=True,
        text=True,
    )
    assert proc.returncode != 0 and '--workers must be at least 1' in proc.stderr
