"""Gaussian centre heatmaps (the CenterNet-style score-map labels of the OSTrack lineage).

A box's label is a 2D Gaussian on an S x S grid (S = search size // stride) peaking at exactly 1.0 in
the cell that holds the box centre. Its radius comes from CornerNet's radius formula in the variant
the lineage uses (each root divided by 2 instead of 2a; kept for parity, it gives smaller radii), and
sigma = (2 * radius + 1) / 6. Gaussians are combined with an element-wise max and clipped at the
map border.
"""

import math

import numpy as np
import torch


def gaussian_radius(width, height, min_overlap=0.7):
    """The lineage's CornerNet radius (the 'bug-version': roots divided by 2 instead of 2a)."""
    a1, b1 = 1.0, height + width
    c1 = width * height * (1 - min_overlap) / (1 + min_overlap)
    r1 = (b1 + math.sqrt(max(b1**2 - 4 * a1 * c1, 0.0))) / 2
    a2, b2 = 4.0, 2 * (height + width)
    c2 = (1 - min_overlap) * width * height
    r2 = (b2 + math.sqrt(max(b2**2 - 4 * a2 * c2, 0.0))) / 2
    a3, b3 = 4 * min_overlap, -2 * min_overlap * (height + width)
    c3 = (min_overlap - 1) * width * height
    r3 = (b3 + math.sqrt(max(b3**2 - 4 * a3 * c3, 0.0))) / 2
    return min(r1, r2, r3)


def gaussian_patch(radius):
    """(2r+1) x (2r+1) Gaussian with peak 1 and sigma (2r+1)/6; negligible tails set to 0."""
    sigma = (2 * radius + 1) / 6
    offsets = np.arange(-radius, radius + 1, dtype=np.float64)
    patch = np.exp(-(offsets[None, :] ** 2 + offsets[:, None] ** 2) / (2 * sigma * sigma))
    patch[patch < np.finfo(np.float64).eps * patch.max()] = 0
    return patch


def draw_gaussian(heatmap, center_x, center_y, radius):
    """Max-combines a Gaussian centred on integer cell (center_x, center_y) into heatmap (H, W),
    keeping only the part that lies on the map."""
    height, width = heatmap.shape
    patch = torch.from_numpy(gaussian_patch(radius)).to(heatmap.dtype)
    y0, x0 = center_y - radius, center_x - radius
    top, left = max(y0, 0), max(x0, 0)
    bottom, right = min(center_y + radius + 1, height), min(center_x + radius + 1, width)
    if bottom <= top or right <= left:
        return heatmap
    region = heatmap[top:bottom, left:right]
    heatmap[top:bottom, left:right] = torch.maximum(
        region, patch[top - y0 : bottom - y0, left - x0 : right - x0]
    )
    return heatmap


def gaussian_heatmap(boxes_xywh, map_size, min_overlap=0.7):
    """Labels for a batch of boxes normalised to [0, 1] of the crop, x, y, w, h (B, 4).

    Returns (B, map_size, map_size) float32 on the boxes' device. The centre cell is
    round((x + w/2) * map_size), round((y + h/2) * map_size) (half-to-even, as torch.round)."""
    boxes = torch.as_tensor(boxes_xywh, dtype=torch.float32).detach()
    if boxes.ndim != 2 or boxes.shape[-1] != 4:
        raise ValueError(f'gaussian_heatmap: expected boxes of shape (B, 4), got {tuple(boxes.shape)}')
    scaled = boxes.cpu() * map_size
    centers = (scaled[:, :2] + scaled[:, 2:] / 2).round()
    maps = torch.zeros(boxes.shape[0], map_size, map_size)
    for i in range(boxes.shape[0]):
        w, h = float(scaled[i, 2]), float(scaled[i, 3])
        radius = max(int(gaussian_radius(w, h, min_overlap)), 0)
        draw_gaussian(maps[i], int(centers[i, 0]), int(centers[i, 1]), radius)
    return maps.to(boxes_xywh.device if isinstance(boxes_xywh, torch.Tensor) else 'cpu')
