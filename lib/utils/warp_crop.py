"""Training crops straight from the decoded frame: no mirrored copy of the frame, no padded copy of
large windows, no float64 padding mask at crop resolution.

`WarpCrop` reproduces lib/utils/crop.py::sample_target (the official geometry: same window, same
half-pixel mapping of cv2.resize, zero padding, the official quirk that drops the frame's last row and
column, the bilinearly resized padding mask where any touched padded pixel counts). Per window:
- inside the frame: cv2.resize straight from a view of the frame, sample_target's own call, so the
  crop is bit-identical;
- padded, crop_sz <= copy_limit * output_sz (default 3): the zero-padded window is built with
  cv2.copyMakeBorder from a view and resized, again bit-identical (cheaper than a warp while the
  window is small);
- padded and larger: one cv2.warpAffine (INTER_LINEAR, BORDER_CONSTANT 0) over the frame without its
  last row and column, with cv2.resize's sampling map (source = x1 + (d + 0.5) * crop_sz /
  output_sz - 0.5); its cost depends on the output size only. It differs from pad + resize in two
  ways: warpAffine quantises sample positions to 1/32 pixel (cv2.resize to 1/2048), a few grey levels
  at strong edges; and where the crop is upscaled (crop_sz < output_sz, only reachable with
  copy_limit < 1) the output pixels that sample less than half a source pixel beyond the window's
  edge (at most ceil(0.5 * output_sz / crop_sz) rows/columns per side) differ: cv2.resize repeats
  the window's edge pixel there, the warp blends in the frame pixel just outside the window (or a
  padding zero).
  Why both: the warp's cost is set by the output size, pad + resize's grows with the window, so small
  windows are cheaper copied and resized, large ones warped (`copy_limit` is the switch).
- the padding mask is separable: a row or column of the resized mask is non-zero exactly when the
  1-D resize of that axis's padding indicator is, so it is built from two 1-D cv2.resize calls;
- mirror_frame=True gives the crop sample_target would cut from the horizontally mirrored frame
  (box and window in mirrored coordinates) without mirroring the frame: only the window view is
  mirrored (cv2.flip), or the warp's map is.

`siamfc_resize_crop` is the same idea for the SiamFC crops of lib/utils/siamfc_crop.py::crop_image (used
by LoRAT training): the image block is resized with cv2.resize from a view of the uint8 frame instead
of converting the whole frame to float, and the frame mean (the padding colour) is computed only when
the crop needs padding.
"""

import cv2
import numpy as np
import torch

from lib.utils.crop import crop_window, source_span
from lib.utils.siamfc_crop import as_size, pixel_blocks, realised_params

_INTERP = cv2.INTER_LINEAR
COPY_LIMIT = 3.0  # see the module doc: pad + resize below, warpAffine above


def axis_padding(start, crop_sz, image_len, output_sz):
    """(output_sz,) bool: output rows (or columns) of sample_target's resized padding mask that are
    padding, for a window [start, start + crop_sz) over an axis of image_len pixels."""
    lo, hi = source_span(start, crop_sz, image_len)
    if lo == start and hi == start + crop_sz:
        return np.zeros(output_sz, dtype=np.bool_)
    indicator = np.ones((1, crop_sz), dtype=np.float64)
    if hi > lo:
        indicator[0, lo - start : hi - start] = 0
    return cv2.resize(indicator, (output_sz, 1), interpolation=_INTERP)[0] != 0


class WarpCrop:
    """The geometry of one sample_target crop of a frame of size image_hw (computed without touching
    pixels, so that validity can be checked before any pixel work):
    x1, y1, crop_sz (window in the possibly mirrored frame), resize_factor, att (bool output_sz^2,
    True on padding; padding_rows[:, None] | padding_cols[None, :]), inside (the window needs no
    padding), overlaps (some frame pixel is in it), spans (the frame columns and rows in the window,
    mirrored-frame coordinates)."""

    def __init__(self, image_hw, box_xywh, search_area_factor, output_sz, mirror_frame=False):
        self.height, self.width = int(image_hw[0]), int(image_hw[1])
        self.x1, self.y1, self.crop_sz = crop_window(box_xywh, search_area_factor)
        self.output_sz = int(output_sz)
        self.resize_factor = self.output_sz / self.crop_sz
        self.mirror_frame = bool(mirror_frame)
        self.spans = [
            source_span(start, self.crop_sz, length)
            for start, length in ((self.x1, self.width), (self.y1, self.height))
        ]
        self.overlaps = all(hi > lo for lo, hi in self.spans)
        self.inside = all(
            span == (start, start + self.crop_sz) for span, start in zip(self.spans, (self.x1, self.y1))
        )
        self.padding_rows = axis_padding(self.y1, self.crop_sz, self.height, self.output_sz)
        self.padding_cols = axis_padding(self.x1, self.crop_sz, self.width, self.output_sz)
        self.att = self.padding_rows[:, None] | self.padding_cols[None, :]

    def source_region(self):
        """(x0, y0, x1, y1): the frame pixels crop() reads, in the frame's own (unmirrored) coordinates,
        end-exclusive; None when it reads none. The window's spans widened by one pixel per side,
        for the warp's bilinear taps (sample positions lie in [x1 - 0.5, x1 + crop_sz))."""
        if not self.overlaps:
            return None
        (c0, c1), (r0, r1) = self.spans
        c0, c1 = max(c0 - 1, 0), min(c1 + 1, self.width)
        r0, r1 = max(r0 - 1, 0), min(r1 + 1, self.height)
        if self.mirror_frame:  # mirrored column f is original column W - 1 - f
            c0, c1 = self.width - c1, self.width - c0
        return c0, r0, c1, r1

    def _view(self, image, col_span, row_span):
        """The frame's pixels for mirrored-frame columns col_span and rows row_span, as the mirrored
        frame shows them (a view, flipped only when mirror_frame)."""
        (c0, c1), (r0, r1) = col_span, row_span
        if self.mirror_frame:  # mirrored column f is original column W - 1 - f
            return cv2.flip(image[r0:r1, self.width - c1 : self.width - c0], 1)
        return image[r0:r1, c0:c1]

    def crop(self, image, copy_limit=COPY_LIMIT):
        """The uint8 crop (output_sz, output_sz, C) of `image` (H x W x C or H x W). copy_limit: largest
        crop_sz / output_sz for which a padded window is copied and resized (bit-identical to
        sample_target) rather than warped (module doc)."""
        if image.shape[:2] != (self.height, self.width):
            raise ValueError(
                f'WarpCrop: planned for a {self.height}x{self.width} frame, got an image of '
                f'shape {image.shape}'
            )
        size = (self.output_sz, self.output_sz)
        cs = self.crop_sz
        if not self.overlaps:
            return np.zeros(size + image.shape[2:], dtype=image.dtype)
        (c0, c1), (r0, r1) = self.spans
        if self.inside or cs <= copy_limit * self.output_sz:
            window = self._view(image, (c0, c1), (r0, r1))
            if not self.inside:
                window = cv2.copyMakeBorder(
                    window,
                    r0 - self.y1,
                    self.y1 + cs - r1,
                    c0 - self.x1,
                    self.x1 + cs - c1,
                    cv2.BORDER_CONSTANT,
                    value=0,
                )
            return cv2.resize(window, size, interpolation=_INTERP)
        # The frame without its last row and column (the official padding quirk), mirrored through the
        # map when asked: mirrored column f is original column W - 1 - f, i.e. column W - 2 - f of
        # image[:, 1:].
        scale = cs / self.output_sz
        offset = 0.5 * scale - 0.5
        if self.mirror_frame:
            source = image[: self.height - 1, 1:]
            row_x = (-scale, self.width - 2 - (self.x1 + offset))
        else:
            source = image[: self.height - 1, : self.width - 1]
            row_x = (scale, self.x1 + offset)
        matrix = np.array([[row_x[0], 0.0, row_x[1]], [0.0, scale, self.y1 + offset]], dtype=np.float64)
        return cv2.warpAffine(
            source,
            matrix,
            size,
            flags=_INTERP | cv2.WARP_INVERSE_MAP,
            borderMode=cv2.BORDER_CONSTANT,
            borderValue=0,
        )


def warp_sample_target(
    image, box_xywh, search_area_factor, output_sz, mirror_frame=False, copy_limit=COPY_LIMIT
):
    """sample_target(image, box, factor, output_sz) through WarpCrop: (crop, resize_factor, att_mask)."""
    plan = WarpCrop(image.shape[:2], box_xywh, search_area_factor, output_sz, mirror_frame=mirror_frame)
    return plan.crop(image, copy_limit), plan.resize_factor, plan.att.copy()


def frame_mean(image):
    """(C,) float32 tensor: the per-channel mean of an H x W x C frame (LoRAT's padding colour)."""
    channels = image.shape[2] if image.ndim == 3 else 1
    return torch.tensor(cv2.mean(image)[:channels], dtype=torch.float32)


def _siamfc_blocks(image_wh, output_size, params):
    """(pixel_blocks(...), covers: the image block fills the whole crop, so no padding is needed)."""
    out_w, out_h = (int(v) for v in as_size(output_size))
    blocks = pixel_blocks(image_wh, (out_w, out_h), params)
    return blocks, blocks is not None and blocks[0] == (0, 0, out_w, out_h)


def siamfc_source(image_wh, output_size, params):
    """What siamfc_resize_crop reads of a frame of size image_wh (w, h): (region (x0, y0, x1, y1),
    end-exclusive, or None, needs_mean). needs_mean is True when the crop needs padding: without a given
    colour, that is the mean of the whole frame."""
    blocks, covers = _siamfc_blocks(image_wh, output_size, params)
    return (None if blocks is None else blocks[1]), not covers


def siamfc_resize_crop(image, output_size, params, padding=None):
    """crop_image(image, output_size, params, padding) of lib/utils/siamfc_crop.py from a uint8 H x W x 3
    frame: the same pixel-aligned blocks and realised map, the block resized by cv2.resize (the same
    bilinear half-pixel sampling as F.interpolate(align_corners=False), rounded to uint8).
    Returns (crop float32 3 x h x w tensor in [0, 255] (a channels-last view: .permute(1, 2, 0).numpy()
    gives the contiguous h x w x 3 array), padding (3,) float32 tensor or None when the crop needed
    none and none was given, realised params (2, 2))."""
    if not (isinstance(image, np.ndarray) and image.ndim == 3 and image.shape[2] == 3):
        raise ValueError(
            f'SiamFC crop: expected an HxWx3 numpy image, got {getattr(image, "shape", type(image).__name__)}'
        )
    out_w, out_h = (int(v) for v in as_size(output_size))
    blocks, covers = _siamfc_blocks((image.shape[1], image.shape[0]), (out_w, out_h), params)
    if padding is None and not covers:
        padding = frame_mean(image)
    elif padding is not None:
        padding = torch.as_tensor(padding, dtype=torch.float32)
    out = np.empty((out_h, out_w, 3), dtype=np.float32)
    if not covers:  # one row, then copied down: numpy's broadcast of a 3-vector is ~25x slower
        out[0] = padding.numpy()
        out[1:] = out[0]
    realised = np.asarray(params, dtype=np.float64)
    if blocks is not None:
        (ox1, oy1, ox2, oy2), (ix1, iy1, ix2, iy2) = blocks
        out[oy1:oy2, ox1:ox2] = cv2.resize(
            image[iy1:iy2, ix1:ix2], (ox2 - ox1, oy2 - oy1), interpolation=_INTERP
        )
        realised = realised_params(blocks)
    return torch.from_numpy(out).permute(2, 0, 1), padding, realised
