"""BaseTracker: the contract every tracker implements, plus the model-independent helpers they share.

Contract (what lib/test/evaluation/tracker.py calls):
    tracker.start_sequence(name)                       # optional hook, BaseTracker provides it
    tracker.initialize(image, {'init_bbox': [x, y, w, h]})
    out = tracker.track(image, info=None)              # out['target_bbox'] == [x, y, w, h] floats
`image` is an RGB uint8 HxWx3 numpy array; boxes are in pixels of that image.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import torch

from lib.utils.box_ops import clip_box_xywh

# The lineage keeps every predicted box at least this many pixels wide/high and inside the frame.
CLIP_MARGIN = 10


def resolve_device(device=None):
    """torch.device from a name/device; None means cuda when available, else cpu."""
    if device is None:
        device = 'cuda' if torch.cuda.is_available() else 'cpu'
    return torch.device(device)


def hann1d(size, centered=True):
    """1-D Hann window of `size` samples (float32).

    centered: 0.5 * (1 - cos(2*pi*k / (size + 1))) for k = 1..size; peaks at the middle and is
    strictly positive at both ends. Not centered: the same shape with its peak at index 0 and wrapping
    around (for FFT-style maps), 0.5 * (1 + cos(2*pi*k / (size + 2))) mirrored.
    """
    if centered:
        k = torch.arange(1, size + 1, dtype=torch.float32)
        # scalar step first, as the official window: a different multiplication order changes the
        # last float32 bit, which can flip a near-tie in the argmax
        return 0.5 * (1 - torch.cos((2 * math.pi / (size + 1)) * k))
    k = torch.arange(0, size // 2 + 1, dtype=torch.float32)
    half = 0.5 * (1 + torch.cos((2 * math.pi / (size + 2)) * k))
    return torch.cat([half, half[1 : size - size // 2].flip(0)])


@functools.cache
def _hann2d_cached(height, width, centered, device):
    # A normal tensor even when first asked for under torch.inference_mode, so later grad-mode use works.
    with torch.inference_mode(False):
        return (hann1d(height, centered).reshape(-1, 1) * hann1d(width, centered).reshape(1, -1)).to(device)


def hann2d(size, centered=True, device='cpu'):
    """2-D Hann window, shape (1, 1, H, W), cached per (size, centered, device).

    size: int or (H, W). The returned tensor is shared between callers: do not modify it in place.
    """
    height, width = (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))
    return _hann2d_cached(height, width, bool(centered), str(torch.device(device)))[None, None]


def crop_box_to_image(pred_box_cxcywh, prev_box_xywh, resize_factor, crop_size, normalized=True):
    """Maps a box predicted in the search crop back to image pixels (x, y, w, h floats).

    pred_box_cxcywh: (cx, cy, w, h) in the crop, normalized to [0, 1] of `crop_size` (or in crop
    pixels when normalized=False). The crop was centred on the previous box and scaled by
    `resize_factor` (crop pixels per image pixel). As in the lineage, the crop origin is taken as
    previous centre - crop_size / (2 * resize_factor), without the rounding the crop itself applied.
    """
    scale = (crop_size if normalized else 1.0) / resize_factor
    cx, cy, w, h = (float(v) * scale for v in pred_box_cxcywh)
    x, y, pw, ph = (float(v) for v in prev_box_xywh)
    half_side = 0.5 * crop_size / resize_factor
    cx_img = cx + (x + 0.5 * pw - half_side)
    cy_img = cy + (y + 0.5 * ph - half_side)
    return [cx_img - 0.5 * w, cy_img - 0.5 * h, w, h]


def clip_to_image(box_xywh, image, margin=CLIP_MARGIN):
    """Clips a box to the frame, keeping it at least `margin` px wide/high (the lineage's clip_box)."""
    height, width = image.shape[:2]
    return [float(v) for v in clip_box_xywh(box_xywh, height, width, margin=margin)]


class BaseTracker:
    """Base of all trackers. Subclasses implement initialize() and track().

    name: used for debug output (visdom env / PNG folder). debug > 0 makes `self.debug_sink` a
    DebugSink (created on first use) that subclasses send images and heatmaps to.
    """

    def __init__(self, name: str, device: str | torch.device | None = None, debug: int = 0) -> None:
        self.name = name
        self.device = resolve_device(device)
        self.debug = int(debug or 0)
        self.sequence_name = None
        self._debug_sink = None

    def start_sequence(self, name: str) -> None:
        """Called by the runner before each sequence (names the debug output folder)."""
        self.sequence_name = name
        if self._debug_sink is not None:
            self._debug_sink.set_sequence(name)

    @property
    def debug_sink(self):
        """The DebugSink when debug > 0, else None."""
        if not self.debug:
            return None
        if self._debug_sink is None:
            from lib.test.tracker.debug import DebugSink

            self._debug_sink = DebugSink(self.name, sequence=self.sequence_name)
        return self._debug_sink

    def initialize(self, image: np.ndarray, info: dict) -> None:
        """Starts tracking `info['init_bbox']` ([x, y, w, h]) in the first frame `image`."""
        raise NotImplementedError

    def track(self, image: np.ndarray, info: dict | None = None) -> dict:
        """Returns {'target_bbox': [x, y, w, h]} for the next frame `image`."""
        raise NotImplementedError
