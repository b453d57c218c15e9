"""COCO-layout writer: still images of several textured objects on a cluttered background with
instances_train2017.json in the real COCO format (images, annotations with polygon segmentation,
area, iscrowd, bbox x,y,w,h, category_id; categories). Categories are the texture families."""

import json
import os

import numpy as np

from lib.utils.image_io import encode_jpeg

from .layouts import DEFAULT_SIZE, run_jobs, sequence_seed, write_bytes
from .scene import paste_object
from .textures import (
    PATTERN_KINDS,
    SHAPE_KINDS,
    render_background,
    render_texture,
    sample_palette,
    sample_pattern_params,
    shape_mask,
)


def _polygon(shape, box, points=24):
    x, y, w, h = box
    if shape == 'rectangle':
        return [x, y, x + w, y, x + w, y + h, x, y + h]
    angles = np.linspace(0.0, 2 * np.pi, points, endpoint=False)
    xs, ys = x + w / 2.0 * (1 + np.cos(angles)), y + h / 2.0 * (1 + np.sin(angles))
    return [float(round(v, 2)) for pair in zip(xs, ys) for v in pair]


def _polygon_area(flat):
    xs, ys = np.asarray(flat[0::2], float), np.asarray(flat[1::2], float)
    return float(0.5 * abs(np.dot(xs, np.roll(ys, 1)) - np.dot(ys, np.roll(xs, 1))))


def _coco_image_job(job):
    """Renders one image with 2-5 non-overlapping objects; returns its annotations (without ids)."""
    rng = np.random.default_rng(job['seed'])
    width, height = job['size']
    image = render_background(rng, width, height)
    placed, annotations = [], []
    for _ in range(int(rng.integers(2, 6))):
        kind = PATTERN_KINDS[int(rng.integers(len(PATTERN_KINDS)))]
        shape = SHAPE_KINDS[int(rng.integers(len(SHAPE_KINDS)))]
        side = rng.uniform(0.17, 0.5) * min(width, height)
        aspect = float(np.exp(rng.uniform(np.log(0.6), np.log(1.7))))
        w = int(min(width - 2, max(8, round(side * np.sqrt(aspect)))))
        h = int(min(height - 2, max(8, round(side / np.sqrt(aspect)))))
        palette, _ = sample_palette(rng)
        texture = render_texture(sample_pattern_params(rng, kind), palette)
        for _ in range(20):
            x, y = int(rng.integers(0, width - w + 1)), int(rng.integers(0, height - h + 1))
            if all(x >= px + pw or px >= x + w or y >= py + ph or py >= y + h for px, py, pw, ph in placed):
                break
        else:
            continue
        placed.append((x, y, w, h))
        paste_object(image, texture, shape_mask(shape), (x, y, w, h))
        polygon = _polygon(shape, (x, y, w, h))
        annotations.append(
            {
                'segmentation': [polygon],
                'area': round(_polygon_area(polygon), 2),
                'iscrowd': 0,
                'bbox': [float(x), float(y), float(w), float(h)],
                'category_id': PATTERN_KINDS.index(kind) + 1,
            }
        )
    write_bytes(job['path'], encode_jpeg(image, quality=job['quality']))
    return annotations


def write_coco(root, n_images=20, seed=0, size=DEFAULT_SIZE, quality=85, workers=1):
    """COCO 2017 layout: <root>/annotations/instances_train2017.json and <root>/images/train2017/%012d.jpg.
    Returns the path of the annotation file."""
    image_dir = os.path.join(root, 'images', 'train2017')
    os.makedirs(image_dir, exist_ok=True)
    os.makedirs(os.path.join(root, 'annotations'), exist_ok=True)
    images = [
        {'id': i, 'file_name': f'{i:012d}.jpg', 'width': int(size[0]), 'height': int(size[1])}
        for i in range(1, n_images + 1)
    ]
    jobs = [
        {
            'path': os.path.join(image_dir, im['file_name']),
            'seed': sequence_seed(seed, 'coco', im['id']),
            'size': (int(size[0]), int(size[1])),
            'quality': quality,
        }
        for im in images
    ]
    annotations = []
    for im, anns in zip(images, run_jobs(_coco_image_job, jobs, workers)):
        for ann in anns:
            annotations.append(dict(ann, id=len(annotations) + 1, image_id=im['id']))
    data = {
        'info': {'description': 'OneStream synthetic COCO-layout set', 'version': '1.0'},
        'licenses': [],
        'images': images,
        'annotations': annotations,
        'categories': [
            {'id': k + 1, 'name': kind, 'supercategory': 'texture'} for k, kind in enumerate(PATTERN_KINDS)
        ],
    }
    path = os.path.join(root, 'annotations', 'instances_train2017.json')
    write_bytes(path, json.dumps(data).encode('utf-8'))
    return path
