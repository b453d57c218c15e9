"""Template/search processing (the lineage's STARKProcessing): joint augmentation of the full frames,
box jitter, square crops around the jittered box, per-crop augmentation, validity checks.

Input `data` (from the sampler): 'template_images'/'search_images' (lists of RGB uint8 frames),
'template_anno'/'search_anno' (lists of x, y, w, h pixel boxes), optional 'template_masks'/
'search_masks' (lists of HxW masks or None). Output per kind s in (template, search):
  s_images (N, 3, H, W) float normalised, s_anno (N, 4) x, y, w, h normalised to [0, 1] of the crop
  (not clipped), s_att (N, H, W) bool (True = padding), s_masks (N, H, W) float;
plus 'valid' (bool). An invalid sample (degenerate box, crop entirely padding) is for the sampler to
redraw; it is reported with valid False and the reason under 'invalid_reason'.
"""
import math

import numpy as np
import torch
import torch.nn.functional as F

from lib.utils.crop import sample_target, transform_image_to_crop

KINDS = ('template', 'search')


def jitter_box(box, center_jitter, scale_jitter, rng):
    """The lineage's box jitter: size * exp(N(0,1) * scale_jitter) per axis, then the centre moved
    by up to +-0.5 * sqrt(area') * center_jitter per axis (uniform)."""
    box = torch.as_tensor(box, dtype=torch.float32)
    size = box[2:4] * torch.exp(torch.from_numpy(rng.standard_normal(2)).float() * scale_jitter)
    max_offset = size.prod().sqrt() * center_jitter
    center = box[0:2] + 0.5 * box[2:4] + max_offset * (torch.from_numpy(rng.random(2)).float() - 0.5)
    return torch.cat((center - 0.5 * size, size))


class TemplateSearchProcessing:
    """search_area_factor, output_sz, center_jitter, scale_jitter: dicts keyed by 'template' and
    'search'. joint_transform / transform: Compose objects (lib/train/data/transforms.py). stride: the
    backbone stride; a crop whose feature-size attention mask is all padding is invalid."""

    def __init__(self, search_area_factor, output_sz, center_jitter, scale_jitter, joint_transform=None,
                 transform=None, stride=16):
        for name, value in (('search_area_factor', search_area_factor), ('output_sz', output_sz),
                            ('center_jitter', center_jitter), ('scale_jitter', scale_jitter)):
            if not isinstance(value, dict) or set(value) != set(KINDS):
                raise ValueError(f"TemplateSearchProcessing: {name} must be a dict with keys "
                                 f"'template' and 'search', got {value!r}")
        self.search_area_factor = search_area_factor
        self.output_sz = output_sz
        self.center_jitter = center_jitter
        self.scale_jitter = scale_jitter
        self.joint_transform = joint_transform
        self.transform = transform
        self.stride = stride

    def __call__(self, data, rng):
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
    def _frame_items(data, kind):
        images, boxes = data[f'{kind}_images'], data[f'{kind}_anno']
        masks = data.get(f'{kind}_masks') or [None] * len(images)
        if len(boxes) != len(images) or len(masks) != len(images):
            raise ValueError(f"processing: {kind} has {len(images)} images, {len(boxes)} boxes and "
                             f"{len(masks)} masks; expected one box (and mask) per image")
        return [{'image': img, 'box': torch.as_tensor(box, dtype=torch.float32).reshape(4),
                 'mask': None if mask is None else torch.as_tensor(np.asarray(mask)).float()}
                for img, box, mask in zip(images, boxes, masks)]

    def _crop_all(self, items, kind, rng):
        factor, size = self.search_area_factor[kind], int(self.output_sz[kind])
        jittered = [jitter_box(it['box'], self.center_jitter[kind], self.scale_jitter[kind], rng)
                    for it in items]
        for box in jittered:
            if not math.ceil(math.sqrt(max(float(box[2] * box[3]), 0.0)) * factor) >= 1:
                return None, f'{kind} box too small after jitter: {box.tolist()}'
        crops = []
        for item, box in zip(items, jittered):
            if item['mask'] is None:
                image, resize_factor, att = sample_target(item['image'], box, factor, size)
                mask = torch.zeros(size, size)
            else:
                image, resize_factor, att, mask = sample_target(item['image'], box, factor, size,
                                                                mask=item['mask'])
            if att.all():
                return None, f'{kind} crop is entirely padding'
            feat_sz = max(size // self.stride, 1)
            att_feat = F.interpolate(torch.from_numpy(att)[None, None].float(), size=(feat_sz, feat_sz))
            if att_feat.bool().all():
                return None, f'{kind} crop is entirely padding at feature resolution'
            crop_box = transform_image_to_crop(item['box'], box, resize_factor, size, normalize=True)
            crops.append({'image': image, 'box': crop_box, 'att': att, 'mask': mask})
        return crops, None
