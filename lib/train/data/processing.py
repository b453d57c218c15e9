"""Template/search processing (the lineage's STARKProcessing): joint augmentation of the full frames,
box jitter, square crops around the jittered box, per-crop augmentation, validity checks.

Input `data` (from the sampler): 'template_images'/'search_images' (lists of RGB uint8 frames),
'template_anno'/'search_anno' (lists of x, y, w, h pixel boxes), optional 'template_masks'/
'search_masks' (lists of HxW masks or None). Output per kind s in (template, search):
  s_images (N, 3, H, W) float normalised, s_anno (N, 4) x, y, w, h normalised to [0, 1] of the crop
  (not clipped), s_att (N, H, W) bool (True = padding), s_masks (N, H, W) float;
plus 'valid' (bool). An invalid sample (degenerate box, crop entirely padding) is for the sampler to
redraw; it is reported with valid False and the reason under 'invalid_reason'.

Two paths compute the same sample (same random draws, boxes, masks and labels):
- plain (fast=False), the lineage's way: joint grayscale/flip on the full frames, pad + crop + resize
  with a float padding mask (lib/utils/crop.py::sample_target), then the per-crop transforms;
- fast (default): the crop is cut straight from the decoded frame, from the mirrored frame through
  the crop map instead of a mirrored copy (lib/utils/warp_crop.py), the per-crop flip is applied to
  the small crop, and conversion + brightness + normalisation are one table look-up. Images are
  bit-identical for windows inside the frame; windows that need padding are resampled by
  cv2.warpAffine (a few grey levels apart at edges, see warp_crop.py). It
  covers the lineage's transform set (transforms.CropTransformPlan); other transforms, and samples
  carrying segmentation masks, take the plain path (with a warning naming the transforms).
Both paths share one box arithmetic (lib/utils/box_ops.py: jitter_box, box_in_crop, mirror_box).
  It also takes frames still encoded (accepts_encoded_images; the sampler then asks datasets for
  lib.utils.image_io.EncodedImage frames): every crop is planned from the JPEG header, and each frame
  is decoded once, only over the rows and columns its crops read (lib/utils/jpeg_region.py), with
  the pixels a full decode gives there. Grayscale is applied to those pixels only (per pixel, so the
  same values).
"""

import math
import warnings

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from lib.train.data.transforms import CropTransformPlan
from lib.utils.box_ops import as_box_f32, box_in_crop, jitter_box, mirror_box
from lib.utils.crop import sample_target, transform_image_to_crop
from lib.utils.image_io import EncodedImage, decode_for_crops, region_union
from lib.utils.warp_crop import WarpCrop

KINDS = ('template', 'search')
ALL_PADDING = '{kind} crop is entirely padding'
ALL_PADDING_AT_FEATURES = '{kind} crop is entirely padding at feature resolution'


class FastPathFallbackWarning(UserWarning):
    """Processing built for the fast path runs the plain one: its transforms are not covered."""


def nearest_indices(in_size: int, out_size: int) -> np.ndarray:
    """The source index of each output position of F.interpolate(mode='nearest') along one axis:
    min(floor(i * (in / out)), in - 1) with float32 scale and product, as ATen computes it."""
    if in_size == out_size:
        return np.arange(out_size)
    scale = np.float32(in_size) / np.float32(out_size)
    index = np.floor(np.arange(out_size, dtype=np.float32) * scale).astype(np.int64)
    return np.minimum(index, in_size - 1)


def _stack(tensors):
    """torch.stack without the copy for the usual single frame."""
    return tensors[0][None] if len(tensors) == 1 else torch.stack(tensors)


class TemplateSearchProcessing:
    """search_area_factor, output_sz, center_jitter, scale_jitter: dicts keyed by 'template' and
    'search'. joint_transform / transform: Compose objects (lib/train/data/transforms.py). stride: the
    backbone stride; a crop whose feature-size attention mask is all padding is invalid. fast: use the
    fast path where it applies (module doc)."""

    def __init__(
        self,
        search_area_factor,
        output_sz,
        center_jitter,
        scale_jitter,
        joint_transform=None,
        transform=None,
        stride=16,
        fast=True,
    ):
        for name, value in (
            ('search_area_factor', search_area_factor),
            ('output_sz', output_sz),
            ('center_jitter', center_jitter),
            ('scale_jitter', scale_jitter),
        ):
            if not isinstance(value, dict) or set(value) != set(KINDS):
                raise ValueError(
                    f"TemplateSearchProcessing: {name} must be a dict with keys "
                    f"'template' and 'search', got {value!r}"
                )
        self.search_area_factor = search_area_factor
        self.output_sz = output_sz
        self.center_jitter = center_jitter
        self.scale_jitter = scale_jitter
        self.joint_transform = joint_transform
        self.transform = transform
        self.stride = stride
        self.fast = bool(fast)
        self.transform_plan = None
        if self.fast and CropTransformPlan.supports(joint_transform, transform):
            self.transform_plan = CropTransformPlan(joint_transform, transform)
        elif self.fast:
            warnings.warn(
                f'the fast processing path covers the lineage transforms only (CropTransformPlan); '
                f'with joint transforms {joint_transform!r} and per-crop transforms {transform!r} every '
                f'sample takes the plain path (pass fast=False to choose it explicitly)',
                FastPathFallbackWarning,
                stacklevel=2,
            )

    @property
    def accepts_encoded_images(self):
        """Whether frames may come still encoded (the fast path decodes only what it crops)."""
        return self.transform_plan is not None

    def __call__(self, data, rng):
        has_masks = any(m is not None for s in KINDS for m in (data.get(f'{s}_masks') or ()))
        if self.transform_plan is not None and not has_masks:
            return self._call_fast(data, rng)
        return self._call_plain(data, rng)

    def _call_plain(self, data, rng):
        consumed = {f'{s}_{part}' for s in KINDS for part in ('images', 'anno', 'masks')}
        out = {k: v for k, v in data.items() if k not in consumed}
        frames = {s: self._frame_items(data, s) for s in KINDS}
        if self.joint_transform is not None:
            # One roll for template and search frames: they share grayscale and flip.
            joined = self.joint_transform(frames['template'] + frames['search'], rng)
            n_template = len(frames['template'])
            frames = {'template': joined[:n_template], 'search': joined[n_template:]}
        for s in KINDS:
            crops, reason = self._crop_all(frames[s], s, rng)
            if crops is None:
                out.update(valid=False, invalid_reason=reason)
                return out
            if self.transform is not None:
                crops = self.transform(crops, rng)
            out[f'{s}_images'] = torch.stack([c['image'] for c in crops])
            out[f'{s}_anno'] = torch.stack([c['box'] for c in crops])
            out[f'{s}_att'] = torch.stack([torch.as_tensor(c['att']) for c in crops])
            out[f'{s}_masks'] = torch.stack([c['mask'] for c in crops])
        out['valid'] = True
        return out

    @staticmethod
    def _frame_items(data, kind, decode=True):
        images, boxes = data[f'{kind}_images'], data[f'{kind}_anno']
        masks = data.get(f'{kind}_masks') or [None] * len(images)
        if len(boxes) != len(images) or len(masks) != len(images):
            raise ValueError(
                f"processing: {kind} has {len(images)} images, {len(boxes)} boxes and "
                f"{len(masks)} masks; expected one box (and mask) per image"
            )
        return [
            {
                'image': img.decode() if decode and isinstance(img, EncodedImage) else img,
                'box': torch.as_tensor(box, dtype=torch.float32).reshape(4),
                'mask': None if mask is None else torch.as_tensor(np.asarray(mask)).float(),
            }
            for img, box, mask in zip(images, boxes, masks)
        ]

    def _jitter_all(self, items, kind, rng):
        """(jittered boxes, None) or (None, reason) when a jittered box gives an empty crop."""
        factor = self.search_area_factor[kind]
        jittered = [
            jitter_box(it['box'], self.center_jitter[kind], self.scale_jitter[kind], rng) for it in items
        ]
        for box in jittered:
            if not math.ceil(math.sqrt(max(float(box[2] * box[3]), 0.0)) * factor) >= 1:
                return None, f'{kind} box too small after jitter: {box.tolist()}'
        return jittered, None

    def _feat_sz(self, kind):
        return max(int(self.output_sz[kind]) // self.stride, 1)

    def _padding_reason(self, att, kind):
        """Why a crop with padding mask `att` is unusable, or None."""
        if att.all():
            return ALL_PADDING.format(kind=kind)
        feat_sz = self._feat_sz(kind)
        att_feat = F.interpolate(torch.from_numpy(att)[None, None].float(), size=(feat_sz, feat_sz))
        if att_feat.bool().all():
            return ALL_PADDING_AT_FEATURES.format(kind=kind)
        return None

    def _separable_padding_reason(self, plan, kind):
        """_padding_reason(plan.att, kind) from WarpCrop's separable mask (att = rows[:, None] |
        cols[None, :]): it is all padding exactly when rows or cols is, at full or feature resolution."""
        rows, cols = plan.padding_rows, plan.padding_cols
        if rows.all() or cols.all():
            return ALL_PADDING.format(kind=kind)
        feat_sz = self._feat_sz(kind)
        if rows[nearest_indices(len(rows), feat_sz)].all() or cols[nearest_indices(len(cols), feat_sz)].all():
            return ALL_PADDING_AT_FEATURES.format(kind=kind)
        return None

    def _crop_all(self, items, kind, rng):
        factor, size = self.search_area_factor[kind], int(self.output_sz[kind])
        jittered, reason = self._jitter_all(items, kind, rng)
        if jittered is None:
            return None, reason
        crops = []
        for item, box in zip(items, jittered):
            if item['mask'] is None:
                image, resize_factor, att = sample_target(item['image'], box, factor, size)
                mask = torch.zeros(size, size)
            else:
                image, resize_factor, att, mask = sample_target(
                    item['image'], box, factor, size, mask=item['mask']
                )
            reason = self._padding_reason(att, kind)
            if reason is not None:
                return None, reason
            crop_box = transform_image_to_crop(item['box'], box, resize_factor, size, normalize=True)
            crops.append({'image': image, 'box': crop_box, 'att': att, 'mask': mask})
        return crops, None

    # ------------------------------------------------------------------ fast path
    def _call_fast(self, data, rng):
        consumed = {f'{s}_{part}' for s in KINDS for part in ('images', 'anno', 'masks')}
        out = {k: v for k, v in data.items() if k not in consumed}
        frames = {s: self._frame_items(data, s, decode=False) for s in KINDS}
        n_template = len(frames['template'])
        rolled = self.transform_plan.roll_frames(rng, n_template + len(frames['search']))
        for item, (gray, mirror) in zip(frames['template'] + frames['search'], rolled):
            item.update(gray=gray, mirror=mirror)
            item['box'] = as_box_f32(item['box'])  # float32 numpy from here
            if mirror:
                item['box'] = mirror_box(item['box'], item['image'].shape[1] - 1)
        # Every random draw and validity check first, in the plain path's order; pixels afterwards, so
        # that each frame is decoded once, over what its crops read.
        planned = {}
        for s in KINDS:
            size = int(self.output_sz[s])
            jittered, reason = self._jitter_all(frames[s], s, rng)
            plans = []
            for item, box in zip(frames[s], jittered or ()):
                plan = WarpCrop(
                    item['image'].shape[:2],
                    box,
                    self.search_area_factor[s],
                    size,
                    mirror_frame=item['mirror'],
                )
                reason = self._separable_padding_reason(plan, s)
                if reason is not None:
                    break
                plans.append(plan)
            if reason is not None:
                out.update(valid=False, invalid_reason=reason)
                return out
            planned[s] = jittered, plans, self.transform_plan.roll_crops(rng, len(plans))
        pixels = _frame_pixels([(item, plan) for s in KINDS for item, plan in zip(frames[s], planned[s][1])])
        for s in KINDS:
            size = int(self.output_sz[s])
            jittered, plans, crop_rolls = planned[s]
            images, boxes, atts = [], [], []
            for item, box, plan, (factor, mirror) in zip(frames[s], jittered, plans, crop_rolls):
                crop, att = plan.crop(pixels[id(plan)]), plan.att
                crop_box = box_in_crop(item['box'], box, plan.resize_factor, size, normalize=True)
                if mirror:
                    crop, att = cv2.flip(crop, 1), att[:, ::-1]
                    crop_box = mirror_box(crop_box, 1.0)
                images.append(self.transform_plan.to_tensor_image(crop, factor))
                boxes.append(torch.from_numpy(crop_box))
                atts.append(torch.from_numpy(np.ascontiguousarray(att)))
            out[f'{s}_images'] = _stack(images)
            out[f'{s}_anno'] = _stack(boxes)
            out[f'{s}_att'] = _stack(atts)
            out[f'{s}_masks'] = torch.zeros(len(images), size, size)
        out['valid'] = True
        return out


def _frame_pixels(items_and_plans):
    """{id(plan): the frame array plan.crop reads}: each EncodedImage decoded once, over the union of its
    crops' source regions; made grey, over the regions of the crops that rolled grayscale."""
    regions = [plan.source_region() for _, plan in items_and_plans]
    frames = [
        array
        for array, _ in decode_for_crops(
            [(item['image'], region, False) for (item, _), region in zip(items_and_plans, regions)]
        )
    ]
    grey_regions = {}
    for (item, _), frame, region in zip(items_and_plans, frames, regions):
        if item['gray'] and region is not None:
            grey_regions[id(frame)] = region_union(grey_regions.get(id(frame)), region)
    greys = {}
    out = {}
    for (item, plan), frame in zip(items_and_plans, frames):
        if item['gray'] and id(frame) in grey_regions:
            if id(frame) not in greys:
                greys[id(frame)] = _grayscale(frame, grey_regions[id(frame)])
            frame = greys[id(frame)]
        out[id(plan)] = frame
    return out


def _grayscale(image, region):
    """A new frame array whose pixels in region are those of `image` made grey as the plain path does
    (luminance repeated on 3 channels; per pixel, so converting the region alone gives the same values)."""
    x0, y0, x1, y1 = region
    grey = cv2.cvtColor(
        cv2.cvtColor(np.ascontiguousarray(image[y0:y1, x0:x1]), cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB
    )
    out = np.empty_like(image)
    out[y0:y1, x0:x1] = grey
    return out
