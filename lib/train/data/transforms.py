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
        for transform in self.transforms:
            if self.joint:
                params = transform.roll(rng)
                items = [transform.apply(item, params) for item in items]
            else:
                items = [transform.apply(item, transform.roll(rng)) for item in items]
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
                item[key] = value.flip(-1) if isinstance(value, torch.Tensor) else np.ascontiguousarray(
                    value[..., ::-1])
        if item.get('box') is not None:
            box = item['box'].clone()
            right = 1.0 if self.normalized else width - 1
            box[0] = right - (box[0] + box[2])
            item['box'] = box
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

    def apply(self, item, factor):
        image = torch.from_numpy(np.ascontiguousarray(item['image'])).permute(2, 0, 1).float()
        image = (image * (factor / 255.0)).clamp_(0.0, 1.0)
        out = dict(item, image=image)
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

    def apply(self, item, params):
        return dict(item, image=(item['image'] - self.mean) / self.std)


def lineage_transforms(mean, std, training=True):
    """The official augmentation set: (joint transform on the full frames, per-crop transform).

    Joint (one roll for template and search): grayscale p=0.05, horizontal flip p=0.5.
    Per crop (independent rolls): brightness jitter 0.2, horizontal flip p=0.5, normalisation.
    Validation keeps the joint transform (as the lineage does) and only converts and normalises."""
    joint = Compose(ToGrayscale(0.05), RandomHorizontalFlip(0.5), joint=True)
    if training:
        per_crop = Compose(ToTensorAndJitter(0.2), RandomHorizontalFlip(0.5, normalized=True),
                           Normalize(mean, std))
    else:
        per_crop = Compose(ToTensor(), Normalize(mean, std))
    return joint, per_crop
