"""The one box module: conversions, IoU, GIoU, clipping, and the crops' box arithmetic.

Conventions: boxes are continuous coordinates in pixels. xywh is (x, y, w, h) with (x, y) the top-left
corner; xyxy is (x1, y1, x2, y2) with x2 = x + w; cxcywh is (cx, cy, w, h). The conversions, IoU and
clipping functions work on the last dimension of a torch tensor or a numpy array and return the same
kind they were given.

The crops' box arithmetic (jitter_box, box_in_crop, mirror_box) is defined once, on single (4,) boxes in
numpy float32, and serves both training paths and the tracker. It gives the values of the lineage's
torch float32 code bit for bit (tests/test_data_speed.py holds that code as the oracle):
- the same IEEE float32 operations in the same order, every constant a float32 first (as torch casts
  a Python scalar to the tensor's dtype, and as NumPy 1 would not);
- exp and sqrt are torch's: NumPy's float32 exp and sqrt round differently on some inputs;
- products, sums, differences and divisions are correctly rounded in both libraries.
Numpy, not torch, because each torch op on a (4,) tensor costs microseconds of dispatch, a large part
of a training sample's time.
"""

import numpy as np
import torch


def _stack(parts, like):
    return torch.stack(parts, dim=-1) if isinstance(like, torch.Tensor) else np.stack(parts, axis=-1)


def _unbind(b):
    return b[..., 0], b[..., 1], b[..., 2], b[..., 3]


def box_xywh_to_xyxy(b):
    x, y, w, h = _unbind(b)
    return _stack([x, y, x + w, y + h], b)


def box_xyxy_to_xywh(b):
    x1, y1, x2, y2 = _unbind(b)
    return _stack([x1, y1, x2 - x1, y2 - y1], b)


def box_cxcywh_to_xyxy(b):
    cx, cy, w, h = _unbind(b)
    return _stack([cx - 0.5 * w, cy - 0.5 * h, cx + 0.5 * w, cy + 0.5 * h], b)


def box_xyxy_to_cxcywh(b):
    x1, y1, x2, y2 = _unbind(b)
    return _stack([(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1], b)


def box_xywh_to_cxcywh(b):
    x, y, w, h = _unbind(b)
    return _stack([x + 0.5 * w, y + 0.5 * h, w, h], b)


def box_cxcywh_to_xywh(b):
    cx, cy, w, h = _unbind(b)
    return _stack([cx - 0.5 * w, cy - 0.5 * h, w, h], b)


def _clamp_min0(v):
    return v.clamp(min=0) if isinstance(v, torch.Tensor) else np.clip(v, 0, None)


def _maximum(a, b):
    return torch.maximum(a, b) if isinstance(a, torch.Tensor) else np.maximum(a, b)


def _minimum(a, b):
    return torch.minimum(a, b) if isinstance(a, torch.Tensor) else np.minimum(a, b)


def box_area_xyxy(b):
    x1, y1, x2, y2 = _unbind(b)
    return _clamp_min0(x2 - x1) * _clamp_min0(y2 - y1)


def box_iou_xyxy(a, b, eps=0.0):
    """Element-wise IoU of paired boxes (broadcasting over leading dims). Returns (iou, union)."""
    inter_w = _clamp_min0(_minimum(a[..., 2], b[..., 2]) - _maximum(a[..., 0], b[..., 0]))
    inter_h = _clamp_min0(_minimum(a[..., 3], b[..., 3]) - _maximum(a[..., 1], b[..., 1]))
    inter = inter_w * inter_h
    union = box_area_xyxy(a) + box_area_xyxy(b) - inter
    if eps:
        return inter / (union + eps), union
    if isinstance(union, torch.Tensor):
        iou = torch.where(union > 0, inter / union.clamp(min=torch.finfo(union.dtype).tiny), 0.0)
    else:
        with np.errstate(divide='ignore', invalid='ignore'):
            iou = np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)
    return iou, union


def box_iou_xywh(a, b):
    """Element-wise IoU of paired x,y,w,h boxes (the tracking benchmarks' overlap)."""
    return box_iou_xyxy(box_xywh_to_xyxy(a), box_xywh_to_xyxy(b))[0]


def box_iou_matrix_xyxy(a, b):
    """IoU of every box in a (N,4) against every box in b (M,4): (N, M)."""
    return box_iou_xyxy(a[:, None, :], b[None, :, :])[0]


def generalized_box_iou_xyxy(a, b, eps=1e-7):
    """Element-wise GIoU of paired boxes. Returns (giou, iou)."""
    iou, union = box_iou_xyxy(a, b)
    enclose_w = _clamp_min0(_maximum(a[..., 2], b[..., 2]) - _minimum(a[..., 0], b[..., 0]))
    enclose_h = _clamp_min0(_maximum(a[..., 3], b[..., 3]) - _minimum(a[..., 1], b[..., 1]))
    enclose = enclose_w * enclose_h
    return iou - (enclose - union) / (enclose + eps), iou


def giou_loss(pred_xyxy, target_xyxy):
    """Mean (1 - GIoU) over paired boxes, and the mean IoU (the lineage's giou_loss)."""
    giou, iou = generalized_box_iou_xyxy(pred_xyxy, target_xyxy)
    return (1 - giou).mean(), iou.mean()


def clip_box_xywh(box, height: float, width: float, margin: float = 0) -> list:
    """Clips an x,y,w,h box to the image, keeping at least `margin` pixels of width and height
    (the lineage's clip_box used when mapping a prediction back to the frame)."""

    def clip_axis(start, length, size):
        # the near edge stays at least `margin` inside the far image border, the far edge at least
        # `margin` past the near one; the constant comes first so that a NaN edge clips to it
        near = min(max(0, start), size - margin)
        far = min(max(margin, start + length), size)
        return near, max(margin, far - near)

    x, w = clip_axis(box[0], box[2], width)
    y, h = clip_axis(box[1], box[3], height)
    return [x, y, w, h]


def clip_boxes_xyxy(b, height, width):
    """Clips xyxy boxes to [0, width] x [0, height]."""
    if isinstance(b, torch.Tensor):
        limits = b.new_tensor([width, height, width, height])
        return torch.minimum(b.clamp(min=0), limits)
    return np.minimum(np.clip(b, 0, None), np.array([width, height, width, height], dtype=b.dtype))


F32 = np.float32


def as_box_f32(box) -> np.ndarray:
    """(4,) float32 array from a box tensor, array or list (float32 rounding, as torch.as_tensor)."""
    if isinstance(box, torch.Tensor):
        box = box.detach().cpu().numpy()
    return np.asarray(box, dtype=F32).reshape(4)


def jitter_box(box, center_jitter: float, scale_jitter: float, rng: np.random.Generator) -> np.ndarray:
    """The lineage's box jitter: size * exp(N(0, 1) * scale_jitter) per axis, then the centre moved by
    up to +-0.5 * sqrt(area') * center_jitter per axis (uniform); two normal then two uniform draws from
    `rng`. Returns a new (4,) float32 x, y, w, h."""
    box = as_box_f32(box)
    scale = torch.exp(torch.from_numpy(rng.standard_normal(2)).float() * scale_jitter).numpy()
    size = box[2:4] * scale
    root = torch.from_numpy(np.asarray(size[0] * size[1])).sqrt().numpy()
    max_offset = root * F32(center_jitter)
    shift = rng.random(2).astype(F32) - F32(0.5)
    center = box[0:2] + F32(0.5) * box[2:4] + max_offset * shift
    return np.concatenate((center - F32(0.5) * size, size))


def box_in_crop(box_in, box_extract, resize_factor: float, crop_sz, normalize: bool = False) -> np.ndarray:
    """Maps box_in (x, y, w, h, image pixels) into the crop that lib/utils/crop.sample_target cut
    around box_extract with `resize_factor` (crop pixels per image pixel).

    The crop centre is placed at (crop_sz - 1) / 2 (the lineage's convention; sample_target rounds the
    crop origin, so this is exact only up to that rounding). crop_sz: the output side (a number or a
    (w, h) pair). Returns a new (4,) float32 x, y, w, h in crop pixels, or divided by crop_sz (its first
    element for a pair) with normalize (not clipped to [0, 1])."""
    box_in, box_extract = as_box_f32(box_in), as_box_f32(box_extract)
    if isinstance(crop_sz, torch.Tensor):
        crop_sz = crop_sz.detach().cpu().numpy()
    size, factor = np.asarray(crop_sz, dtype=F32).reshape(-1), F32(resize_factor)
    extract_centre = box_extract[:2] + F32(0.5) * box_extract[2:]
    in_centre = box_in[:2] + F32(0.5) * box_in[2:]
    out_wh = box_in[2:] * factor
    out_centre = (size - F32(1)) / F32(2) + (in_centre - extract_centre) * factor
    box_out = np.concatenate((out_centre - F32(0.5) * out_wh, out_wh))
    return box_out / size[0] if normalize else box_out


def mirror_box(box, right: float) -> np.ndarray:
    """A box mirrored horizontally: x -> right - (x + w); right = W - 1 for pixel boxes (the lineage's
    pixel-centre convention), 1 for boxes normalised to the crop. Returns a new (4,) float32 array."""
    box = as_box_f32(box).copy()
    box[0] = F32(right) - (box[0] + box[2])
    return box
