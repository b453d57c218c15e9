"""LoRAT training-pair processing (the official siamese_tracker_train 'default' transform): SiamFC
context crops (template without jitter, search with scale/translation jitter), LoRAT's augmentations,
ImageNet normalisation, and the labels of the IoU-aware BCE + GIoU loss.

Called by the shared TrackingSampler as `processing(data, rng)` on one template and one search frame
(RGB uint8, x, y, w, h boxes). Output (each with a leading frame dimension of 1, so that the shared
collate gives (1, B, ...)):
  template_images (1, 3, Hz, Wz), search_images (1, 3, Hx, Wx)   normalised crops
  template_feat_mask (1, Hz/14, Wz/14) int64   1 on template patches the target box touches
  search_box (1, 4)        target x1, y1, x2, y2 normalised to the search crop, clipped to it
  search_positive (1, Hx/14, Wx/14) bool   response-map cells the target box covers (the positives)
  template_anno / search_anno (1, 4)   x, y, w, h normalised (the lineage's box format)
plus 'valid'. A search crop whose jitter draws all failed is invalid: the sampler draws a new pair
(the official worker does the same).

fast=True (default) cuts the crops with lib/utils/warp_crop.py::siamfc_resize_crop (cv2.resize from a
view of the uint8 frame; the frame mean only when padding is needed) instead of converting the whole
frame to float, augments the H x W x 3 arrays with LoRATAugmentation.fast and normalises the 8-bit
result with a table: same random draws, blocks, boxes and labels; pixels within a few grey levels
(the crop is rounded to whole levels before the augmentation). It also takes frames still encoded
(accepts_encoded_images): each frame is decoded once, over the image blocks its crops read
(lib/utils/jpeg_region.py); when a crop needs padding, its colour, the frame mean, comes from the
JPEG's DC coefficients (within a small fraction of a level of the decoded pixels' mean), so the
pixels outside the blocks are not decoded either.
"""

import cv2
import numpy as np
import torch

from lib.train.data.lorat_augment import LoRATAugmentation
from lib.utils.image_io import EncodedImage, decode_for_crops
from lib.utils.siamfc_crop import (
    clip_boxes,
    crop_image,
    crop_params,
    jittered_crop_params,
    map_boxes,
    rasterize,
)
from lib.utils.warp_crop import siamfc_resize_crop, siamfc_source


def xywh_to_xyxy(box):
    x, y, w, h = (float(v) for v in torch.as_tensor(box).reshape(-1)[:4])
    return np.array([x, y, x + w, y + h], dtype=np.float64)


def positive_cells(box_xyxy, map_hw, crop_hw):
    """(H, W) bool: response-map cells covered by the box (crop pixels), rasterised end-exclusive."""
    h, w = map_hw
    scale = np.array([w / crop_hw[1], h / crop_hw[0]] * 2, dtype=np.float64)
    x1, y1, x2, y2 = (int(v) for v in rasterize(np.asarray(box_xyxy, dtype=np.float64) * scale))
    mask = torch.zeros(h, w, dtype=torch.bool)
    mask[max(y1, 0) : max(y2, 0), max(x1, 0) : max(x2, 0)] = True
    return mask


def _xyxy_to_xywh_normalised(box, size_wh):
    return torch.tensor(
        [
            box[0] / size_wh[0],
            box[1] / size_wh[1],
            (box[2] - box[0]) / size_wh[0],
            (box[3] - box[1]) / size_wh[1],
        ],
        dtype=torch.float32,
    )


class LoRATProcessing:
    def __init__(
        self,
        template_size,
        search_size,
        template_factor,
        search_factor,
        scale_jitter,
        translation_jitter,
        min_object_size,
        stride,
        mean,
        std,
        augmentation=None,
        retry=10,
        fast=True,
    ):
        self.template_size, self.search_size = int(template_size), int(search_size)
        self.template_factor, self.search_factor = float(template_factor), float(search_factor)
        self.scale_jitter, self.translation_jitter = float(scale_jitter), float(translation_jitter)
        self.min_object_size = float(min_object_size)
        self.stride = int(stride)
        self.mean = torch.tensor(mean, dtype=torch.float32).view(3, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32).view(3, 1, 1)
        self.augmentation = augmentation
        self.retry = retry
        self.fast = bool(fast)
        self._level_table = None  # (3, 256) normalised value of each 8-bit level, made on first use
        for name, size in (('template', self.template_size), ('search', self.search_size)):
            if size % self.stride:
                raise ValueError(
                    f'LoRAT processing: {name} size {size} is not a multiple of the stride {self.stride}'
                )

    @property
    def accepts_encoded_images(self):
        """Whether frames may come still encoded (the fast path decodes only what it crops)."""
        return self.fast

    @classmethod
    def from_cfg(cls, cfg, training=True, fast=True):
        """The official recipe for training and validation pairs (both are augmented, as in run.yaml);
        training=False gives plain crops (no jitter, no augmentation)."""
        data = cfg.DATA
        return cls(
            data.TEMPLATE.SIZE,
            data.SEARCH.SIZE,
            data.TEMPLATE.FACTOR,
            data.SEARCH.FACTOR,
            data.SEARCH.SCALE_JITTER if training else 0.0,
            data.SEARCH.CENTER_JITTER if training else 0.0,
            data.SEARCH.MIN_OBJECT_SIZE,
            cfg.MODEL.BACKBONE.STRIDE,
            data.MEAN,
            data.STD,
            augmentation=LoRATAugmentation.from_cfg(cfg) if training else None,
            retry=data.JITTER_RETRY,
            fast=fast,
        )

    def __call__(self, data, rng):
        for kind in ('template', 'search'):
            if len(data[f'{kind}_images']) != 1 or len(data[f'{kind}_anno']) != 1:
                raise ValueError(
                    f"LoRAT processing takes one {kind} frame per sample, got "
                    f"{len(data[f'{kind}_images'])} (DATA.TEMPLATE.NUMBER / DATA.SEARCH.NUMBER)"
                )
        consumed = {f'{s}_{part}' for s in ('template', 'search') for part in ('images', 'anno', 'masks')}
        out = {k: v for k, v in data.items() if k not in consumed}
        z_box, x_box = xywh_to_xyxy(data['template_anno'][0]), xywh_to_xyxy(data['search_anno'][0])
        for kind, box in (('template', z_box), ('search', x_box)):
            if not (np.isfinite(box).all() and box[2] > box[0] and box[3] > box[1]):
                out.update(valid=False, invalid_reason=f'{kind} box {box.tolist()} is empty')
                return out
        x_params, ok = jittered_crop_params(
            x_box,
            self.search_factor,
            self.search_size,
            self.scale_jitter,
            self.translation_jitter,
            rng,
            self.min_object_size,
            self.retry,
        )
        if not ok:
            out.update(valid=False, invalid_reason='search crop jitter failed (box outside or too small)')
            return out
        z_params = crop_params(z_box, self.template_factor, self.template_size)
        crops = (
            ('template', z_box, z_params, self.template_size),
            ('search', x_box, x_params, self.search_size),
        )
        frames = _decoded_frames([(data[f'{k}_images'][0], params, size) for k, _, params, size in crops])
        template, search = (
            self._crop(frame, box, params, size, padding)
            for (frame, padding), (_, box, params, size) in zip(frames, crops)
        )
        if self.augmentation is not None:
            augment = self.augmentation.fast if self.fast else self.augmentation
            template, search = augment(template, search, rng)
        (z_img, z_crop_box), (x_img, x_crop_box) = template, search
        z_crop_box = clip_boxes(z_crop_box, (self.template_size, self.template_size))
        x_crop_box = clip_boxes(x_crop_box, (self.search_size, self.search_size))
        positive = positive_cells(x_crop_box, self._grid(self.search_size), (self.search_size,) * 2)
        if not positive.any():
            out.update(valid=False, invalid_reason=f'search box {x_crop_box.tolist()} covers no map cell')
            return out
        from lib.models.lorat import template_foreground_mask

        out.update(
            template_images=self._normalise(z_img)[None],
            search_images=self._normalise(x_img)[None],
            template_feat_mask=template_foreground_mask(
                z_crop_box[None], (self.template_size,) * 2, self._grid(self.template_size)
            ),
            search_box=torch.tensor(x_crop_box / self.search_size, dtype=torch.float32)[None],
            search_positive=positive[None],
            template_anno=_xyxy_to_xywh_normalised(z_crop_box, (self.template_size,) * 2)[None],
            search_anno=_xyxy_to_xywh_normalised(x_crop_box, (self.search_size,) * 2)[None],
            valid=True,
        )
        return out

    def _grid(self, size):
        return size // self.stride, size // self.stride

    def _crop(self, image, box, params, size, padding=None):
        """(crop in [0, 1], box in crop pixels) padded with the frame mean (padding, when the decoder
        gave it; else computed from image, then the whole frame): a float 3 x H x W tensor, or on the
        fast path an H x W x 3 float32 array."""
        if self.fast:
            crop, _, realised = siamfc_resize_crop(np.asarray(image, dtype=np.uint8), size, params, padding)
            crop = crop.permute(1, 2, 0).numpy()
            crop /= 255.0
        else:
            crop, _, realised = crop_image(image, size, params)
            crop.div_(255.0)
        return crop, map_boxes(box, realised)

    def _normalise(self, image):
        """Normalised float 3 x H x W tensor from a tensor in [0, 1] or, on the fast path, an H x W x 3
        array (uint8 levels after the DeiT-III step: through a table with the plain path's operations)."""
        if isinstance(image, torch.Tensor):
            return (image - self.mean) / self.std
        if image.dtype == np.uint8:
            if self._level_table is None:
                levels = torch.from_numpy(np.arange(256, dtype=np.float32) / np.float32(255.0)).view(
                    1, 1, 256
                )
                self._level_table = ((levels - self.mean) / self.std)[:, 0].numpy()
            out = np.empty((3,) + image.shape[:2], dtype=np.float32)
            for channel, plane in enumerate(cv2.split(image)):
                cv2.LUT(plane, self._level_table[channel], dst=out[channel])
            return torch.from_numpy(out)
        return (torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1) - self.mean) / self.std


def _decoded_frames(crops):
    """Per (frame, params, size): (the frame array its crop reads, the frame mean colour or None). An
    EncodedImage is decoded once, over the image blocks its crops read; when one of them needs padding,
    the decoder also gives the frame mean (from the DC coefficients: lib/utils/jpeg_region.py)."""
    requests = []
    for frame, params, size in crops:
        region, needs_mean = None, False
        if isinstance(frame, EncodedImage):
            height, width = frame.shape[:2]
            region, needs_mean = siamfc_source((width, height), size, params)
        requests.append((frame, region, needs_mean))
    return decode_for_crops(requests)
