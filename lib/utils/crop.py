"""Square crops around a target box, with the OSTrack lineage's exact geometry.

Training (processing) and tracking both cut their template/search patches here, so a box predicted
in crop coordinates maps back to the same image pixels as in the official trackers.

Geometry of `sample_target(image, (x, y, w, h), factor, output_sz)`:
- side `crop_sz = ceil(sqrt(w * h) * factor)` image pixels;
- origin `x1 = round(x + w/2 - crop_sz/2)` (Python's round: halves go to the even integer), same for y;
- the crop spans image columns [x1, x1 + crop_sz); parts outside the image are zero, and the
  attention mask marks them True;
- quirk kept for parity: the official padding amount on the right/bottom is `x2 - W + 1`, one more
  than needed, so the image's last column (and last row) never enters a crop: a crop reaching the
  right border shows a zero, masked column where image column W-1 would be;
- the patch is resized to output_sz x output_sz with cv2.resize's default bilinear interpolation; the
  float 0/1 padding mask is resized the same way and every non-zero value counts as padding, so a
  resized pixel touched by any padded source pixel is masked.

crop_window and source_span are the one definition of this geometry. Its pixel backends: sample_target
here (numpy/cv2, the reference), lib/utils/warp_crop.WarpCrop (the training path's one cv2 warp from the
decoded or mirrored frame) and lib/test/tracker/device_crop.sample_target_device (torch on the
tracker's device); tests/test_data_speed.py and tests/test_inference_paths.py hold them to the
reference on generated images.
"""

import math

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from lib.utils.box_ops import box_in_crop


def crop_window(box_xywh, search_area_factor):
    """(x1, y1, crop_sz): integer top-left corner and side, in image pixels, of the square crop."""
    x, y, w, h = (float(v) for v in box_xywh)
    area_side = math.sqrt(w * h) if w > 0 and h > 0 else 0.0
    if not math.isfinite(area_side * search_area_factor):
        raise ValueError(f'sample_target: box {list(box_xywh)} (x, y, w, h) is not finite')
    crop_sz = math.ceil(area_side * search_area_factor)
    if crop_sz < 1:
        raise ValueError(
            f'sample_target: box {list(box_xywh)} (x, y, w, h) with factor '
            f'{search_area_factor} gives an empty crop; w and h must be positive'
        )
    x1 = round(x + 0.5 * w - 0.5 * crop_sz)
    y1 = round(y + 0.5 * h - 0.5 * crop_sz)
    return x1, y1, crop_sz


def source_span(start, crop_sz, image_len):
    """Image index range [lo, hi) copied into a crop that starts at `start`. The upper end stops at
    image_len - 1 (not image_len): the official padding drops the last row/column."""
    lo = max(start, 0)
    hi = min(start + crop_sz, image_len - 1)
    return lo, hi


def _as_box_list(box):
    if isinstance(box, torch.Tensor):
        return box.detach().cpu().reshape(-1).tolist()
    return [float(v) for v in np.asarray(box, dtype=np.float64).reshape(-1)]


def sample_target(image, box_xywh, search_area_factor, output_sz=None, mask=None):
    """Crops a square of side ceil(sqrt(w*h) * search_area_factor) centred on the box, zero-pads what
    falls outside the image and resizes it to output_sz x output_sz.

    image: HxWxC (or HxW) numpy array, usually RGB uint8. box_xywh: [x, y, w, h] (list, array or tensor).
    mask: optional HxW segmentation mask (numpy or tensor), cropped and padded the same way and resized
    bilinearly (align_corners=False).
    Returns (crop, resize_factor, att_mask) or, with a mask, (crop, resize_factor, att_mask, mask_crop):
    resize_factor = output_sz / crop_sz (1.0 when output_sz is None); att_mask is a bool array, True on
    padding. (The official function swaps the order to (crop, att_mask, 1.0) when output_sz is None;
    we keep one order.)
    """
    box = _as_box_list(box_xywh)
    if len(box) != 4:
        raise ValueError(f'sample_target: expected a box [x, y, w, h], got {box_xywh!r}')
    if image.ndim not in (2, 3):
        raise ValueError(f'sample_target: expected an HxW or HxWxC image, got shape {image.shape}')
    x1, y1, crop_sz = crop_window(box, search_area_factor)
    img_h, img_w = image.shape[:2]
    col_lo, col_hi = source_span(x1, crop_sz, img_w)
    row_lo, row_hi = source_span(y1, crop_sz, img_h)
    overlaps = col_hi > col_lo and row_hi > row_lo

    if overlaps:
        dst_rows = slice(row_lo - y1, row_hi - y1)
        dst_cols = slice(col_lo - x1, col_hi - x1)
    has_padding = not overlaps or (row_hi - row_lo, col_hi - col_lo) != (crop_sz, crop_sz)

    att = None  # float 0/1 padding mask at crop resolution, built only when there is padding
    if has_padding:
        att = np.ones((crop_sz, crop_sz), dtype=np.float64)
        if overlaps:
            att[dst_rows, dst_cols] = 0
        patch = np.zeros((crop_sz, crop_sz) + image.shape[2:], dtype=image.dtype)
        if overlaps:
            patch[dst_rows, dst_cols] = image[row_lo:row_hi, col_lo:col_hi]
    else:  # fully inside: resize straight from a view, no copy
        patch = image[row_lo:row_hi, col_lo:col_hi]

    mask_patch = None
    if mask is not None:
        mask_t = torch.as_tensor(np.asarray(mask) if not isinstance(mask, torch.Tensor) else mask).float()
        mask_patch = mask_t.new_zeros((crop_sz, crop_sz))
        if overlaps:
            mask_patch[dst_rows, dst_cols] = mask_t[row_lo:row_hi, col_lo:col_hi]

    if output_sz is None:
        crop = np.ascontiguousarray(patch)
        att_mask = att.astype(np.bool_) if has_padding else np.zeros((crop_sz, crop_sz), dtype=np.bool_)
        resize_factor = 1.0
    else:
        output_sz = int(output_sz)
        resize_factor = output_sz / crop_sz
        crop = cv2.resize(patch, (output_sz, output_sz))
        if has_padding:
            att_mask = cv2.resize(att, (output_sz, output_sz)) != 0
        else:
            att_mask = np.zeros((output_sz, output_sz), dtype=np.bool_)
        if mask_patch is not None:
            mask_patch = F.interpolate(
                mask_patch[None, None], (output_sz, output_sz), mode='bilinear', align_corners=False
            )[0, 0]
    if mask_patch is None:
        return crop, resize_factor, att_mask
    return crop, resize_factor, att_mask, mask_patch


def transform_image_to_crop(box_in, box_extract, resize_factor, crop_sz, normalize=False) -> torch.Tensor:
    """lib/utils/box_ops.box_in_crop as a float32 tensor (4,): box_in mapped into the crop that
    sample_target cut around box_extract, in crop pixels or normalised by crop_sz."""
    return torch.from_numpy(box_in_crop(box_in, box_extract, resize_factor, crop_sz, normalize=normalize))
