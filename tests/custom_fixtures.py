"""Custom-format datasets for tests (docs/custom_dataset.md): written directly in the layout, or as the
inputs of tracking/create_custom_dataset.py (videos / image folders from the synthetic scenes, plus box
files)."""

import os

import cv2
import numpy as np
from datasets_fixtures import frame_image, seq_boxes

from lib.utils.image_io import write_image


def _write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
        f.write(text)


def box_lines(boxes):
    """One line per box; a NaN box (not visible) as an empty line."""
    return ''.join('\n' if np.isnan(b).all() else ','.join(f'{v:g}' for v in b) + '\n' for b in boxes)


def write_custom(root, names, n=4, ext='.jpg', splits=None, boxes=None):
    """The custom layout: list.txt, <seq>/groundtruth.txt (default seq_boxes: frame 1 has w == 0, or
    boxes[name]) and img/%08d<ext> (ext: one for all, or {name: ext}) with frame_image(k, i)."""
    _write(os.path.join(root, 'list.txt'), ''.join(s + '\n' for s in names))
    for split, members in (splits or {}).items():
        _write(os.path.join(root, 'splits', f'{split}.txt'), ''.join(s + '\n' for s in members))
    for k, name in enumerate(dict.fromkeys(names)):
        rows = boxes[name] if boxes and name in boxes else seq_boxes(n, k)
        _write(os.path.join(root, name, 'groundtruth.txt'), box_lines(np.asarray(rows, dtype=float)))
        folder = os.path.join(root, name, 'img')
        os.makedirs(folder, exist_ok=True)
        for i in range(len(rows)):
            suffix = ext.get(name, '.jpg') if isinstance(ext, dict) else ext
            write_image(os.path.join(folder, f'{i + 1:08d}{suffix}'), frame_image(k, i))
    return root


def synthetic_inputs(folder, kinds=('mp4', 'avi', 'png'), seed=7, size=(128, 96), frames=(10, 14)):
    """Videos (.mp4 with mp4v, .avi with MJPG) and image folders (.png / .jpg) of synthetic scenes, each
    with <name>.txt: its boxes, an empty line where the target is absent. Returns {name: boxes (N,4) with
    NaN rows where absent}."""
    from lib.utils.synthetic import plan_sequence

    os.makedirs(folder, exist_ok=True)
    out = {}
    for i, kind in enumerate(kinds):
        seq = plan_sequence(seed + i, size=size, frame_range=frames)
        name = f'seq{i}_{kind}'
        bgr = [cv2.cvtColor(seq.frame(t), cv2.COLOR_RGB2BGR) for t in range(len(seq))]
        if kind in ('mp4', 'avi'):
            codec = 'mp4v' if kind == 'mp4' else 'MJPG'
            writer = cv2.VideoWriter(
                os.path.join(folder, f'{name}.{kind}'), cv2.VideoWriter_fourcc(*codec), 10, size
            )
            for image in bgr:
                writer.write(image)
            writer.release()
        else:
            os.makedirs(os.path.join(folder, name))
            for t, image in enumerate(bgr):  # unpadded names: the builder orders them numerically
                cv2.imwrite(os.path.join(folder, name, f'{t}.{kind}'), image)
        boxes = seq.boxes.astype(np.float64)
        boxes[~((boxes[:, 2] > 0) & (boxes[:, 3] > 0))] = np.nan
        _write(os.path.join(folder, f'{name}.txt'), box_lines(boxes))
        out[name] = boxes
    return out
