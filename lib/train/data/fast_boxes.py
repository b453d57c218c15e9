"""The fast processing path's per-sample box arithmetic in numpy float32: twins of
lib/train/data/processing.py::jitter_box, lib/utils/crop.py::transform_image_to_crop (normalised),
lib/train/data/transforms.py::mirror_box, and the index map of F.interpolate(mode='nearest').

Why: on (4,) tensors each torch op costs 5-10 us of dispatch, about 1.3 ms a training sample in all,
a tenth of a fast sample. The plain path keeps the torch versions (it is the reference that works the
way the official code does); these give the same float32 values bit for bit, which
tests/test_data_speed.py checks over many random boxes:
- the same IEEE float32 operations in the same order, every constant cast to float32 first (as torch
  casts a Python scalar to the tensor's dtype; NumPy 1 would otherwise promote scalars to float64);
- exp and sqrt stay torch ops: NumPy's float32 exp and sqrt round differently from torch's (on this
  machine on about 4 values in 10 and 2 in 10);
- products, sums, differences and divisions are correctly rounded in both libraries.
"""

import numpy as np
import torch

F32 = np.float32


def as_box(box):
    """(4,) float32 array from a box tensor, array or list (float32 rounding, as torch.as_tensor)."""
    return np.asarray(box, dtype=F32).reshape(4)


def jitter_box(box, center_jitter, scale_jitter, rng):
    """processing.jitter_box with the same draws from `rng`: (4,) float32 x, y, w, h."""
    box = as_box(box)
    scale = torch.exp(torch.from_numpy(rng.standard_normal(2)).float() * scale_jitter).numpy()
    size = box[2:4] * scale
    root = torch.from_numpy(np.asarray(size[0] * size[1])).sqrt().numpy()  # a 0-dim tensor, as size.prod()
    max_offset = root * F32(center_jitter)
    shift = rng.random(2).astype(F32) - F32(0.5)
    center = box[0:2] + F32(0.5) * box[2:4] + max_offset * shift
    return np.concatenate((center - F32(0.5) * size, size))


def box_in_crop(box_in, box_extract, resize_factor, crop_sz):
    """transform_image_to_crop(box_in, box_extract, resize_factor, crop_sz, normalize=True) for an int
    crop side: (4,) float32 x, y, w, h divided by crop_sz."""
    box_in, box_extract = as_box(box_in), as_box(box_extract)
    size, factor = F32(crop_sz), F32(resize_factor)
    extract_centre = box_extract[:2] + F32(0.5) * box_extract[2:]
    in_centre = box_in[:2] + F32(0.5) * box_in[2:]
    out_wh = box_in[2:] * factor
    out_centre = (size - F32(1)) / F32(2) + (in_centre - extract_centre) * factor
    return np.concatenate((out_centre - F32(0.5) * out_wh, out_wh)) / size


def mirror_box(box, right):
    """transforms.mirror_box: x -> right - (x + w), a new (4,) float32 array."""
    box = as_box(box).copy()
    box[0] = F32(right) - (box[0] + box[2])
    return box


def nearest_indices(in_size, out_size):
    """The source index of each output position of F.interpolate(mode='nearest') along one axis:
    min(floor(i * (in / out)), in - 1) with float32 scale and product, as ATen computes it."""
    if in_size == out_size:
        return np.arange(out_size)
    scale = F32(in_size) / F32(out_size)
    index = np.floor(np.arange(out_size, dtype=F32) * scale).astype(np.int64)
    return np.minimum(index, in_size - 1)
