"""LoRAT's crop augmentations (official config/LoRAT/run.yaml, training and validation pairs alike), on
float CxHxW crops in [0, 1] with their x1, y1, x2, y2 pixel boxes, driven by a numpy Generator:

1. horizontal flip, p = 0.5, decided separately for template and search;
2. colour jitter: brightness, contrast and saturation factors from U(1 - s, 1 + s) (s = 0.4, lower end
   clipped at 0), applied in a random order, drawn separately for template and search;
3. DeiT-III augmentation: one of grayscale / solarize / Gaussian blur (radius U(0.1, 2)), picked
   uniformly, the same operation (and blur radius) on both crops. As in the official code this step
   goes through 8-bit PIL images (values truncated to whole levels).

`LoRATAugmentation.fast(...)` does the same on H x W x 3 numpy crops (the fast processing path): the
same random draws in the same order (shared roll_* methods), the colour jitter with torchvision's
formulas in single cv2 passes (equal up to float32 rounding), grayscale and solarize computed on the
8-bit levels with PIL's own integer formulas, only the blur through PIL, and no tensor <-> PIL round trips.
"""

import cv2
import numpy as np
import torch
import torchvision.transforms.functional as TF
from PIL import Image, ImageFilter, ImageOps

GRAY_WEIGHTS = (0.2989, 0.587, 0.114)  # torchvision's rgb_to_grayscale for tensors


def hflip(image, box_xyxy):
    """Mirrors a CxHxW crop and its x1, y1, x2, y2 box (x -> W - x)."""
    width = image.shape[-1]
    return image.flip(-1), mirror_xyxy(box_xyxy, width)


def mirror_xyxy(box_xyxy, width):
    box = np.array(box_xyxy, dtype=np.float64)
    box[0], box[2] = width - box[2], width - box[0]
    return box


def roll_color_jitter(strength, rng):
    """(op order, brightness/contrast/saturation factors), or None for no jitter."""
    if not strength:
        return None
    low, high = max(0.0, 1 - strength), 1 + strength
    order = rng.permutation(4)  # hue (op 3) is drawn in the order but not configured
    factors = [float(rng.uniform(low, high)) for _ in range(3)]
    return order, factors


def color_jitter(image, strength, rng):
    """Brightness, contrast and saturation jitter (torchvision semantics) in a random order."""
    rolled = roll_color_jitter(strength, rng)
    if rolled is None:
        return image
    ops = (TF.adjust_brightness, TF.adjust_contrast, TF.adjust_saturation)
    order, factors = rolled
    for op in order:
        if op < 3:
            image = ops[op](image, factors[op])
    return image


def _to_pil(image):
    array = image.clamp(0, 1).mul(255).byte().permute(1, 2, 0).numpy()
    return Image.fromarray(array, mode='RGB')


def _from_pil(pil):
    return (
        torch.from_numpy(np.asarray(pil.convert('RGB'), dtype=np.float32) / 255.0)
        .permute(2, 0, 1)
        .contiguous()
    )


DEIT3_OPS = ('grayscale', 'solarize', 'blur')


def roll_deit3(rng, blur_sigma=(0.1, 2.0)):
    """(op name, blur radius or None)."""
    op = DEIT3_OPS[int(rng.choice(3))]
    return op, (float(rng.uniform(*blur_sigma)) if op == 'blur' else None)


def deit3(images, rng, blur_sigma=(0.1, 2.0)):
    """One DeiT-III operation, the same for every image in `images`. Returns (images, op name)."""
    op, radius = roll_deit3(rng, blur_sigma)
    pils = [_to_pil(img) for img in images]
    if op == 'grayscale':
        pils = [p.convert('L') for p in pils]
    elif op == 'solarize':
        pils = [ImageOps.solarize(p) for p in pils]
    else:
        blur = ImageFilter.GaussianBlur(radius=radius)
        pils = [p.filter(blur) for p in pils]
    return [_from_pil(p) for p in pils], op


# ---------------------------------------------------------------- numpy (fast path) forms
_GRAY_MATRIX = np.array([GRAY_WEIGHTS], dtype=np.float32)


def _gray(image):
    """H x W float32 luminance with torchvision's weights (one cv2.transform pass)."""
    return cv2.transform(image, _GRAY_MATRIX)


def _blend(image, other, ratio):
    """torchvision's _blend, ratio * image + (1 - ratio) * other clamped to [0, 1], in single cv2 passes;
    other: None (zero), a scalar, or an H x W gray image."""
    if other is None or np.ndim(other) == 0:
        offset = 0.0 if other is None else float(np.float32(1.0 - ratio) * np.float32(other))
        out = cv2.addWeighted(image, ratio, image, 0.0, offset)
    else:
        out = cv2.addWeighted(image, ratio, cv2.cvtColor(other, cv2.COLOR_GRAY2RGB), 1.0 - ratio, 0.0)
    cv2.threshold(out, 1.0, 1.0, cv2.THRESH_TRUNC, dst=out)
    cv2.threshold(out, 0.0, 0.0, cv2.THRESH_TOZERO, dst=out)
    return out


def color_jitter_numpy(image, rolled):
    """The jitter of color_jitter() on an H x W x 3 float32 image in [0, 1] (equal up to float32
    rounding)."""
    if rolled is None:
        return image
    order, factors = rolled
    for op in order:
        if op == 0:
            image = _blend(image, None, factors[0])
        elif op == 1:
            image = _blend(image, _gray(image).mean(dtype=np.float32), factors[1])
        elif op == 2:
            image = _blend(image, _gray(image), factors[2])
    return image


def _pil_luminance(levels):
    """PIL's RGB -> L conversion (ITU-R 601-2 in 16-bit fixed point) of an H x W x 3 uint8 array."""
    rgb = levels.astype(np.int32)
    return ((rgb[..., 0] * 19595 + rgb[..., 1] * 38470 + rgb[..., 2] * 7471 + 0x8000) >> 16).astype(np.uint8)


_SOLARIZE = np.array([i if i < 128 else 255 - i for i in range(256)], dtype=np.uint8)  # ImageOps default


def deit3_numpy(images, rolled):
    """deit3() on H x W x 3 float32 images in [0, 1] with the op already rolled: uint8 H x W x 3 results."""
    op, radius = rolled
    out = []
    for image in images:
        levels = (np.clip(image, 0.0, 1.0) * np.float32(255)).astype(np.uint8)  # truncation, as .byte()
        if op == 'grayscale':
            levels = cv2.cvtColor(_pil_luminance(levels), cv2.COLOR_GRAY2RGB)
        elif op == 'solarize':
            levels = _SOLARIZE[levels]
        else:
            blur = ImageFilter.GaussianBlur(radius=radius)
            levels = np.asarray(Image.fromarray(levels, mode='RGB').filter(blur))
        out.append(levels)
    return out


class LoRATAugmentation:
    """Callable (template, search, rng) -> (template, search), each a (image, box_xyxy) pair."""

    def __init__(
        self, hflip_prob=0.5, hflip_joint=False, color_jitter=0.4, deit3=True, blur_sigma=(0.1, 2.0)
    ):
        self.hflip_prob = hflip_prob
        self.hflip_joint = hflip_joint
        self.color_jitter = color_jitter
        self.deit3 = deit3
        self.blur_sigma = tuple(blur_sigma)

    @classmethod
    def from_cfg(cls, cfg):
        aug = cfg.DATA.AUG
        return cls(aug.HFLIP_PROB, aug.HFLIP_JOINT, aug.COLOR_JITTER, aug.DEIT3, aug.BLUR_SIGMA)

    def roll_flips(self, rng):
        """[template flipped, search flipped]."""
        if self.hflip_prob <= 0:
            return [False, False]
        flips = [rng.random() < self.hflip_prob]
        flips.append(flips[0] if self.hflip_joint else rng.random() < self.hflip_prob)
        return flips

    def __call__(self, template, search, rng):
        pairs = [template, search]
        pairs = [hflip(*p) if f else p for p, f in zip(pairs, self.roll_flips(rng))]
        pairs = [(color_jitter(img, self.color_jitter, rng), box) for img, box in pairs]
        if self.deit3:
            images, _ = deit3([img for img, _ in pairs], rng, self.blur_sigma)
            pairs = [(img, box) for img, (_, box) in zip(images, pairs)]
        return pairs[0], pairs[1]

    def fast(self, template, search, rng):
        """The same augmentation of (H x W x 3 float32 image in [0, 1], box) pairs: returns pairs whose
        images are uint8 levels (after the DeiT-III step) or float32 in [0, 1] (without it)."""
        pairs = [
            (cv2.flip(img, 1), mirror_xyxy(box, img.shape[1])) if f else (img, box)
            for (img, box), f in zip((template, search), self.roll_flips(rng))
        ]
        pairs = [
            (color_jitter_numpy(img, roll_color_jitter(self.color_jitter, rng)), box) for img, box in pairs
        ]
        if self.deit3:
            images = deit3_numpy([img for img, _ in pairs], roll_deit3(rng, self.blur_sigma))
            pairs = [(img, box) for img, (_, box) in zip(images, pairs)]
        return pairs[0], pairs[1]
