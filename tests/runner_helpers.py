"""Tiny generated sequences for the runner tests."""

import os

import numpy as np

from lib.test.evaluation.data import Sequence, SequenceList
from lib.utils.image_io import write_image


def make_sequence(
    root,
    name,
    n_frames=4,
    dataset='lasot',
    init_box=(3.25, 4.5, 10.75, 8.5),
    missing_frame=None,
    size=(24, 32),
):
    """A sequence of n_frames small JPEGs under root/name; frame `missing_frame` is not written."""
    folder = os.path.join(root, name)
    os.makedirs(folder, exist_ok=True)
    frames = []
    rng = np.random.default_rng(len(name))
    for i in range(n_frames):
        path = os.path.join(folder, f'{i + 1:08d}.jpg')
        if i != missing_frame:
            write_image(path, rng.integers(0, 255, size=(*size, 3), dtype=np.uint8))
        frames.append(path)
    gt = np.tile(np.asarray(init_box, dtype=np.float64), (n_frames, 1))
    return Sequence(name, frames, dataset, gt)


def make_dataset(root, specs):
    """specs: list of (name, n_frames[, dataset label[, missing frame]])."""
    seqs = []
    for spec in specs:
        name, n = spec[0], spec[1]
        label = spec[2] if len(spec) > 2 else 'lasot'
        missing = spec[3] if len(spec) > 3 else None
        seqs.append(make_sequence(root, name, n, label, missing_frame=missing))
    return SequenceList(seqs)


def crashing_reader(path):
    """An image reader that kills its process (as a segfault or an out-of-memory kill would)."""
    os._exit(3)
