"""SiamFC-style context crops (the LoRAT recipe's cropping), shared by LoRAT training and tracking.

Boxes are continuous x1, y1, x2, y2 in pixel-edge coordinates (a w-pixel-wide image spans [0, w]).
A crop is an axis-aligned affine map `crop = image * scale + translation` per axis, stored as a (2, 2)
array [[scale_x, scale_y], [translation_x, translation_y]]:
- context: with box size (w, h) and area factor f, the padded size is (w + (f-1)(w+h)/2,
  h + (f-1)(w+h)/2) and scale = sqrt(out_w * out_h / (padded_w * padded_h)), the same on both axes;
  the box centre goes to the crop centre (out_w / 2, out_h / 2);
- jitter (training): scale divided by exp(N(0,1) * scale_jitter) drawn per axis, then the translation
  moved by uniform(-1, 1) * 0.5 * translation_jitter * (w * scale_x + h * scale_y) per axis; a draw is
  rejected when the mapped box misses the crop or, clipped to it, is smaller than min_object_size,
  and after `retry` further rejections the crop fails;
- sampling is pixel aligned: the image rectangle mapped into the crop is clipped and rasterised to
  whole output pixels, mapped back and rasterised to whole source pixels, and that source block is
  resized bilinearly (align_corners False) into the output block; outside it the crop holds the
  padding colour (the frame's per-channel mean by default). The affine map actually realised by the
  integer blocks is returned and is the one boxes are mapped with (both ways).

crop_params / jittered_crop_params and pixel_blocks are the one definition of this geometry. Its pixel
backends: crop_image here (torch, the reference), lib/utils/warp_crop.siamfc_resize_crop (cv2, the
training path) and lib/test/tracker/device_crop.siamfc_crop_device (torch on the tracker's device),
held to the reference by tests/test_data_speed.py and tests/test_inference_paths.py.
"""

import math

import numpy as np
import torch
import torch.nn.functional as F

RASTER_EPS = 1e-4


def as_size(output_size):
    """(w, h) int array from an int or a (w, h) pair."""
    size = np.asarray(output_size if np.ndim(output_size) else (output_size, output_size), dtype=np.int64)
    if size.shape != (2,) or (size <= 0).any():
        raise ValueError(f'crop output size must be a positive int or (w, h), got {output_size!r}')
    return size


def rasterize(box_xyxy):
    """Whole-pixel cover of continuous boxes: x1, y1 floored; x2, y2 -> floor(x2 + 1 - 1e-4) (end
    exclusive)."""
    box = np.array(box_xyxy, dtype=np.float64)
    box[..., 2:] += 1 - RASTER_EPS
    return np.floor(box)


def clip_boxes(box_xyxy, size_wh):
    """Boxes clipped to [0, w] x [0, h] (new array)."""
    box = np.array(box_xyxy, dtype=np.float64)
    box[..., 0::2] = box[..., 0::2].clip(0, size_wh[0])
    box[..., 1::2] = box[..., 1::2].clip(0, size_wh[1])
    return box


def map_boxes(box_xyxy, params):
    """Boxes through the affine crop map `params` ((2, 2) [[sx, sy], [tx, ty]])."""
    box = np.array(box_xyxy, dtype=np.float64)
    scale, translation = np.asarray(params, dtype=np.float64)
    box[..., 0::2] = box[..., 0::2] * scale[0] + translation[0]
    box[..., 1::2] = box[..., 1::2] * scale[1] + translation[1]
    return box


def inverse_params(params):
    """The map from crop coordinates back to image coordinates."""
    scale, translation = np.asarray(params, dtype=np.float64)
    return np.stack((1.0 / scale, -translation / scale))


def context_scale(box_xyxy, area_factor, output_size):
    """(sx, sy): the SiamFC context scale (equal on both axes)."""
    wh = np.asarray(box_xyxy[2:], dtype=np.float64) - np.asarray(box_xyxy[:2], dtype=np.float64)
    padded = wh + (area_factor - 1) * wh.sum() * 0.5
    area = padded.prod()
    if not (np.isfinite(area) and area > 0):
        raise ValueError(
            f'SiamFC crop: box {list(box_xyxy)} (x1, y1, x2, y2) with area factor {area_factor} '
            f'has no positive context area'
        )
    return np.repeat(math.sqrt(float(as_size(output_size).prod()) / area), 2)


def crop_params(box_xyxy, area_factor, output_size, scale=None):
    """(2, 2) params centring the box in the crop with the context scale (or `scale`)."""
    box = np.asarray(box_xyxy, dtype=np.float64)
    scale = context_scale(box, area_factor, output_size) if scale is None else scale
    centre = (box[:2] + box[2:]) * 0.5
    return np.stack((scale, as_size(output_size) / 2.0 - centre * scale))


def jittered_crop_params(
    box_xyxy,
    area_factor,
    output_size,
    scale_jitter,
    translation_jitter,
    rng,
    min_object_size=(0.0, 0.0),
    retry=10,
):
    """(params, ok): a jittered crop of the box (see the module doc); ok False when every draw failed."""
    box = np.asarray(box_xyxy, dtype=np.float64)
    size = as_size(output_size)
    if not scale_jitter and not translation_jitter:
        return crop_params(box, area_factor, size), True
    base_scale = context_scale(box, area_factor, size)
    min_size = np.broadcast_to(np.asarray(min_object_size, dtype=np.float64), (2,))
    wh = box[2:] - box[:2]
    params = None
    for _ in range(retry + 2):
        scale = base_scale / np.exp(rng.standard_normal(2) * scale_jitter)
        params = crop_params(box, area_factor, size, scale=scale)
        max_shift = (wh * scale).sum() * 0.5 * translation_jitter
        params[1] += rng.uniform(-1, 1, size=2) * max_shift
        out = map_boxes(box, params)
        if out[0] >= size[0] or out[1] >= size[1] or out[2] <= 0 or out[3] <= 0:
            continue
        out = clip_boxes(out, size)
        if ((out[2:] - out[:2]) >= min_size).all():
            return params, True
    return params, False


def _as_chw_float(image):
    if isinstance(image, np.ndarray):
        if image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f'SiamFC crop: expected an HxWx3 image, got shape {image.shape}')
        image = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)
    if image.dim() != 3:
        raise ValueError(f'SiamFC crop: expected a CxHxW tensor, got shape {tuple(image.shape)}')
    return image.float()


def pixel_blocks(image_wh, output_size, params):
    """The whole-pixel blocks a crop copies: ((ox1, oy1, ox2, oy2) in the crop, (ix1, iy1, ix2, iy2) in
    the image), end exclusive, or None when the image does not reach the crop."""
    out_box = rasterize(clip_boxes(map_boxes([0, 0, image_wh[0], image_wh[1]], params), as_size(output_size)))
    in_box = clip_boxes(rasterize(map_boxes(out_box, inverse_params(params))), image_wh)
    ox1, oy1, ox2, oy2 = (int(v) for v in out_box)
    ix1, iy1, ix2, iy2 = (int(v) for v in in_box)
    if ox2 <= ox1 or oy2 <= oy1 or ix2 <= ix1 or iy2 <= iy1:
        return None
    return (ox1, oy1, ox2, oy2), (ix1, iy1, ix2, iy2)


def realised_params(blocks):
    """The affine map (2, 2) that the integer blocks of pixel_blocks() actually realise."""
    (ox1, oy1, ox2, oy2), (ix1, iy1, ix2, iy2) = blocks
    scale = np.array([(ox2 - ox1) / (ix2 - ix1), (oy2 - oy1) / (iy2 - iy1)], dtype=np.float64)
    translation = np.array([ox1 - ix1 * scale[0], oy1 - iy1 * scale[1]], dtype=np.float64)
    return np.stack((scale, translation))


def crop_image(image, output_size, params, padding=None):
    """Crops `image` (HxWx3 numpy, any dtype, or CxHxW tensor) with the affine map `params`.

    padding: per-channel fill (C,) tensor; None = the image's per-channel mean. Returns
    (crop float32 CxHxW in the image's value range, padding (C,), realised params (2, 2))."""
    image = _as_chw_float(image)
    _, img_h, img_w = image.shape
    padding = image.mean(dim=(1, 2)) if padding is None else padding
    blocks = pixel_blocks((img_w, img_h), as_size(output_size), params)
    block = None
    if blocks is not None:
        ix1, iy1, ix2, iy2 = blocks[1]
        block = image[:, iy1:iy2, ix1:ix2]
    return paste_block(block, blocks, output_size, padding, params, image.device)


def paste_block(block, blocks, output_size, padding, params, device):
    """The crop of crop_image from its source block alone: `block` (C x (iy2-iy1) x (ix2-ix1) float on
    `device`, the image pixels of blocks[1], or None when `blocks` is None) resized into blocks[0] of a
    crop filled with `padding`. Returns what crop_image returns."""
    size = as_size(output_size)
    padding = torch.as_tensor(padding, dtype=torch.float32)
    out = padding.to(device).view(-1, 1, 1).expand(-1, int(size[1]), int(size[0])).clone()
    if blocks is None:
        return out, padding, np.asarray(params, dtype=np.float64)
    ox1, oy1, ox2, oy2 = blocks[0]
    out[:, oy1:oy2, ox1:ox2] = F.interpolate(
        block[None], size=(oy2 - oy1, ox2 - ox1), mode='bilinear', align_corners=False
    )[0]
    return out, padding, realised_params(blocks)
