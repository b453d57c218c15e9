"""Augmentations for training crops, driven by an explicit numpy Generator so that a sample is a pure
function of (seed, sample index) whatever the worker layout.

An item is a dict with 'image' (HxWx3 uint8 numpy before ToTensor, 3xHxW float tensor after), and
optionally 'box' (x, y, w, h tensor; pixels, or normalised to [0, 1] when the transform says so),
'att' (HxW bool) and 'mask' (HxW float tensor). `Compose(..., joint=True)` rolls each transform's
random decision once for all items (the lineage's joint template/search augmentation);
joint=False rolls per item.
"""

import cv2
import numpy as np
import torch

from lib.utils import box_ops


class Transform:
    """Base class: `roll(rng)` draws the random parameters, `apply(item, params)` uses them."""

    def roll(self, rng):
        return None

    def apply(self, item, params):
        raise NotImplementedError


class Compose:
    def __init__(self, *transforms, joint=False):
        self.transforms = transforms
        self.joint = joint

    def __call__(self, items, rng):
        return self.apply_rolled(items, self.roll(rng, len(items)))

    def roll(self, rng, num_items):
        """Every random decision for num_items items, in the order the lineage draws them (transform by
        transform; one draw per transform when joint, else one per item): a list per transform of the
        per-item parameters. Applying transforms draws nothing, so rolling first changes nothing."""
        rolled = []
        for transform in self.transforms:
            if self.joint:
                rolled.append([transform.roll(rng)] * num_items)
            else:
                rolled.append([transform.roll(rng) for _ in range(num_items)])
        return rolled

    def apply_rolled(self, items, rolled):
        for transform, params in zip(self.transforms, rolled):
            items = [transform.apply(item, p) for item, p in zip(items, params)]
        return items

    def __repr__(self):
        return f"Compose({', '.join(type(t).__name__ for t in self.transforms)}, joint={self.joint})"


class ToGrayscale(Transform):
    """With probability p, replaces the RGB image by its luminance repeated on 3 channels."""

    def __init__(self, probability=0.05):
        self.probability = probability

    def roll(self, rng):
        return rng.random() < self.probability

    def apply(self, item, do_it):
        if do_it:
            gray = cv2.cvtColor(np.ascontiguousarray(item['image']), cv2.COLOR_RGB2GRAY)
            item = dict(item, image=np.stack([gray, gray, gray], axis=2))
        return item


def mirror_box(box: torch.Tensor, right: float) -> torch.Tensor:
    """lib/utils/box_ops.mirror_box as a new float32 tensor: x -> right - (x + w), right = W - 1 for
    pixel boxes, 1 for boxes normalised to the crop."""
    return torch.from_numpy(box_ops.mirror_box(box, right))


class RandomHorizontalFlip(Transform):
    """Flips image, box, att and mask with probability p.

    Pixel boxes map x -> W - 1 - (x + w) (the lineage's pixel-centre convention); normalised boxes
    (normalized=True) map x -> 1 - (x + w)."""

    def __init__(self, probability=0.5, normalized=False):
        self.probability = probability
        self.normalized = normalized

    def roll(self, rng):
        return rng.random() < self.probability

    def apply(self, item, do_it):
        if not do_it:
            return item
        item = dict(item)
        image = item['image']
        if isinstance(image, torch.Tensor):
            width = image.shape[-1]
            item['image'] = image.flip(-1)
        else:
            width = image.shape[1]
            item['image'] = np.ascontiguousarray(image[:, ::-1])
        for key in ('att', 'mask'):
            if item.get(key) is not None:
                value = item[key]
                item[key] = (
                    value.flip(-1)
                    if isinstance(value, torch.Tensor)
                    else np.ascontiguousarray(value[..., ::-1])
                )
        if item.get('box') is not None:
            item['box'] = mirror_box(item['box'], 1.0 if self.normalized else width - 1)
        return item


class ToTensorAndJitter(Transform):
    """uint8 HxWx3 -> float 3xHxW in [0, 1], multiplied by a brightness factor drawn from
    U[max(0, 1 - jitter), 1 + jitter] and clamped (jitter 0: plain conversion)."""

    def __init__(self, brightness_jitter=0.0):
        self.brightness_jitter = brightness_jitter

    def roll(self, rng):
        if not self.brightness_jitter:
            return 1.0
        return rng.uniform(max(0.0, 1 - self.brightness_jitter), 1 + self.brightness_jitter)

    @staticmethod
    def scale(image, factor):
        """uint8 levels (as float) -> brightness-scaled values in [0, 1]."""
        return (image * (factor / 255.0)).clamp_(0.0, 1.0)

    def apply(self, item, factor):
        image = torch.from_numpy(np.ascontiguousarray(item['image'])).permute(2, 0, 1).float()
        out = dict(item, image=self.scale(image, factor))
        if isinstance(out.get('att'), np.ndarray):
            out['att'] = torch.from_numpy(out['att'])
        return out


class ToTensor(ToTensorAndJitter):
    def __init__(self):
        super().__init__(0.0)


class Normalize(Transform):
    def __init__(self, mean, std):
        self.mean = torch.tensor(mean, dtype=torch.float32).view(-1, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32).view(-1, 1, 1)

    def normalize(self, image):
        return (image - self.mean) / self.std

    def apply(self, item, params):
        return dict(item, image=self.normalize(item['image']))


class CropTransformPlan:
    """The lineage's transform pair applied to crops instead of full frames, for the fast processing
    path. Every random decision is drawn through the Compose objects' own roll(), in the same order,
    so a sample is the same with either path. Supported (anything else: `supports` is False):
    - joint (frame) transforms: ToGrayscale and RandomHorizontalFlip(normalized=False), any order;
      per frame they reduce to (grayscale?, mirrored?), and the crop is cut from the mirrored frame
      without mirroring it (lib/utils/warp_crop.py);
    - per-crop transforms: ToTensorAndJitter (or ToTensor) first, then RandomHorizontalFlip(
      normalized=True) and at most one Normalize; conversion, brightness and normalisation become one
      256-entry table per channel, computed with the same float32 operations as the plain path (so the
      values are identical), applied with cv2.LUT."""

    def __init__(self, joint, per_crop):
        if not self.supports(joint, per_crop):
            raise ValueError(f'CropTransformPlan: unsupported transforms {joint!r} / {per_crop!r}')
        self.joint, self.per_crop = joint, per_crop
        steps = per_crop.transforms
        self.to_tensor = steps[0]
        self.normalize = next((t for t in steps if isinstance(t, Normalize)), None)
        self._mean_std = (
            None
            if self.normalize is None
            else tuple(t.reshape(-1, 1).numpy() for t in (self.normalize.mean, self.normalize.std))
        )

    @staticmethod
    def supports(joint, per_crop):
        frame_ok = joint is None or (
            isinstance(joint, Compose)
            and all(
                isinstance(t, ToGrayscale) or (type(t) is RandomHorizontalFlip and not t.normalized)
                for t in joint.transforms
            )
        )
        if not (frame_ok and isinstance(per_crop, Compose) and per_crop.transforms):
            return False
        first, rest = per_crop.transforms[0], per_crop.transforms[1:]
        return (
            isinstance(first, ToTensorAndJitter)
            and all(
                isinstance(t, Normalize) or (type(t) is RandomHorizontalFlip and t.normalized) for t in rest
            )
            and sum(isinstance(t, Normalize) for t in rest) <= 1
        )

    def roll_frames(self, rng, num_items):
        """Per frame: (grayscale, mirrored)."""
        gray, mirror = [False] * num_items, [False] * num_items
        if self.joint is None:
            return list(zip(gray, mirror))
        for transform, params in zip(self.joint.transforms, self.joint.roll(rng, num_items)):
            for i, p in enumerate(params):
                if isinstance(transform, ToGrayscale):
                    gray[i] = gray[i] or bool(p)
                else:
                    mirror[i] = mirror[i] != bool(p)
        return list(zip(gray, mirror))

    def roll_crops(self, rng, num_items):
        """Per crop: (brightness factor, mirrored)."""
        rolled = self.per_crop.roll(rng, num_items)
        mirror = [False] * num_items
        for transform, params in zip(self.per_crop.transforms[1:], rolled[1:]):
            if isinstance(transform, RandomHorizontalFlip):
                mirror = [m != bool(p) for m, p in zip(mirror, params)]
        return list(zip(rolled[0], mirror))

    def value_table(self, factor, channels=3):
        """(C, 256) float32: the plain path's output value for every uint8 level and channel
        (ToTensorAndJitter.scale, then Normalize.normalize), in numpy: the same correctly rounded float32
        product, clamp, difference and quotient, without torch's per-op cost (tests/test_data_speed.py
        checks it against the torch ops)."""
        f32 = np.float32
        values = np.arange(256, dtype=f32) * f32(factor / 255.0)
        values = np.broadcast_to(np.clip(values, f32(0.0), f32(1.0)), (channels, 256))
        if self._mean_std is not None:
            mean, std = self._mean_std
            values = (values - mean) / std
        return np.ascontiguousarray(values, dtype=f32)

    def to_tensor_image(self, crop, factor):
        """uint8 H x W x C crop -> contiguous float32 C x H x W, as ToTensorAndJitter(factor) [+ Normalize]
        would give."""
        table = self.value_table(factor, crop.shape[2])
        out = np.empty((crop.shape[2],) + crop.shape[:2], dtype=np.float32)
        for channel, plane in enumerate(cv2.split(crop)):
            cv2.LUT(plane, table[channel], dst=out[channel])
        return torch.from_numpy(out)


def lineage_transforms(mean, std, training=True):
    """The official augmentation set: (joint transform on the full frames, per-crop transform).

    Joint (one roll for template and search): grayscale p=0.05, horizontal flip p=0.5.
    Per crop (independent rolls): brightness jitter 0.2, horizontal flip p=0.5, normalisation.
    Validation keeps the joint transform (as the lineage does) and only converts and normalises."""
    joint = Compose(ToGrayscale(0.05), RandomHorizontalFlip(0.5), joint=True)
    if training:
        per_crop = Compose(
            ToTensorAndJitter(0.2), RandomHorizontalFlip(0.5, normalized=True), Normalize(mean, std)
        )
    else:
        per_crop = Compose(ToTensor(), Normalize(mean, std))
    return joint, per_crop
