"""LoRAT's crop augmentations (official config/LoRAT/run.yaml, training and validation pairs alike), on
float CxHxW crops in [0, 1] with their x1, y1, x2, y2 pixel boxes, driven by a numpy Generator:

1. horizontal flip, p = 0.5, decided separately for template and search;
2. colour jitter: brightness, contrast and saturation factors from U(1 - s, 1 + s) (s = 0.4, lower end
   clipped at 0), applied in a random order, drawn separately for template and search;
3. DeiT-III augmentation: one of grayscale / solarize / Gaussian blur (radius U(0.1, 2)), picked
   uniformly, the same operation (and blur radius) on both crops. As in the official code this step
   goes through 8-bit PIL images (values truncated to whole levels).
"""
import numpy as np
import torch
import torchvision.transforms.functional as TF
from PIL import Image, ImageFilter, ImageOps


def hflip(image, box_xyxy):
    """Mirrors a CxHxW crop and its x1, y1, x2, y2 box (x -> W - x)."""
    width = image.shape[-1]
    box = np.array(box_xyxy, dtype=np.float64)
    box[0], box[2] = width - box[2], width - box[0]
    return image.flip(-1), box


def color_jitter(image, strength, rng):
    """Brightness, contrast and saturation jitter (torchvision semantics) in a random order."""
    if not strength:
        return image
    low, high = max(0.0, 1 - strength), 1 + strength
    order = rng.permutation(4)  # hue (op 3) is drawn in the order but not configured
    factors = [float(rng.uniform(low, high)) for _ in range(3)]
    ops = (TF.adjust_brightness, TF.adjust_contrast, TF.adjust_saturation)
    for op in order:
        if op < 3:
            image = ops[op](image, factors[op])
    return image


def _to_pil(image):
    array = image.clamp(0, 1).mul(255).byte().permute(1, 2, 0).numpy()
    return Image.fromarray(array, mode='RGB')


def _from_pil(pil):
    return torch.from_numpy(np.asarray(pil.convert('RGB'), dtype=np.float32) / 255.0).permute(2, 0, 1).contiguous()


DEIT3_OPS = ('grayscale', 'solarize', 'blur')


def deit3(images, rng, blur_sigma=(0.1, 2.0)):
    """One DeiT-III operation, the same for every image in `images`. Returns (images, op name)."""
    op = DEIT3_OPS[int(rng.choice(3))]
    pils = [_to_pil(img) for img in images]
    if op == 'grayscale':
        pils = [p.convert('L') for p in pils]
    elif op == 'solarize':
        pils = [ImageOps.solarize(p) for p in pils]
    else:
        blur = ImageFilter.GaussianBlur(radius=float(rng.uniform(*blur_sigma)))
        pils = [p.filter(blur) for p in pils]
    return [_from_pil(p) for p in pils], op


class LoRATAugmentation:
    """Callable (template, search, rng) -> (template, search), each a (image, box_xyxy) pair."""

    def __init__(self, hflip_prob=0.5, hflip_joint=False, color_jitter=0.4, deit3=True,
                 blur_sigma=(0.1, 2.0)):
        self.hflip_prob = hflip_prob
        self.hflip_joint = hflip_joint
        self.color_jitter = color_jitter
        self.deit3 = deit3
        self.blur_sigma = tuple(blur_sigma)

    @classmethod
    def from_cfg(cls, cfg):
        aug = cfg.DATA.AUG
        return cls(aug.HFLIP_PROB, aug.HFLIP_JOINT, aug.COLOR_JITTER, aug.DEIT3, aug.BLUR_SIGMA)

    def __call__(self, template, search, rng):
        pairs = [template, search]
        if self.hflip_prob > 0:
            flips = [rng.random() < self.hflip_prob]
            flips.append(flips[0] if self.hflip_joint else rng.random() < self.hflip_prob)
            pairs = [hflip(*p) if f else p for p, f in zip(pairs, flips)]
        pairs = [(color_jitter(img, self.color_jitter, rng), box) for img, box in pairs]
        if self.deit3:
            images, _ = deit3([img for img, _ in pairs], rng, self.blur_sigma)
            pairs = [(img, box) for img, (_, box) in zip(images, pairs)]
        return pairs[0], pairs[1]
