"""Procedural textures for the synthetic scenes: colour palettes, target patterns, shape masks and a
cluttered background. Everything is drawn from a numpy Generator, so a seed fixes every pixel."""

import cv2
import numpy as np

# Texture families. A LaSOT-layout class is one family; distractors share the family of the target.
PATTERN_KINDS = ('stripes', 'checks', 'blobs', 'rings')
SHAPE_KINDS = ('rectangle', 'ellipse')
PATCH_SIZE = 64  # textures are drawn once at this size and resized to the object's box every frame


def hsv_to_rgb(hsv_rows):
    """(K,3) OpenCV HSV (H 0..179, S, V 0..255) to (K,3) uint8 RGB."""
    hsv = np.asarray(hsv_rows, dtype=np.uint8).reshape(1, -1, 3)
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB).reshape(-1, 3)


def sample_palette(rng, hue=None):
    """Three colours around one hue: a bright main colour, a dark shade and a contrasting accent.
    Returns (palette (3,3) uint8 RGB, hue)."""
    hue = int(rng.integers(0, 180)) if hue is None else int(hue) % 180
    accent_hue = (hue + int(rng.integers(20, 40))) % 180
    rows = [
        (hue, int(rng.integers(170, 256)), int(rng.integers(190, 256))),
        (hue, int(rng.integers(150, 256)), int(rng.integers(40, 100))),
        (accent_hue, int(rng.integers(0, 80)), int(rng.integers(200, 256))),
    ]
    return hsv_to_rgb(rows), hue


def distractor_hue(rng, target_hue):
    """A hue clearly apart from the target's (90 to 270 degrees away), so a look-alike stays separable."""
    return (target_hue + int(rng.integers(45, 136))) % 180


def sample_pattern_params(rng, kind):
    """The random parameters of one pattern; drawing them separately lets look-alikes share a family."""
    if kind not in PATTERN_KINDS:
        raise ValueError(f'unknown pattern kind {kind!r}; expected one of {PATTERN_KINDS}')
    return {
        'kind': kind,
        'angle': float(rng.uniform(0, np.pi)),
        'period': float(rng.uniform(10, 22)),
        'phase': float(rng.uniform(0, 2 * np.pi)),
        'noise': rng.standard_normal((5, 5)).astype(np.float32),
        'accent_dots': rng.uniform(0, PATCH_SIZE, size=(int(rng.integers(3, 7)), 2)).astype(np.float32),
    }


def _pattern_levels(params, size=PATCH_SIZE):
    """Per-pixel palette index 0/1 of the pattern (float map thresholded)."""
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32)
    kind, period, phase = params['kind'], params['period'], params['phase']
    if kind == 'stripes':
        u = xs * np.cos(params['angle']) + ys * np.sin(params['angle'])
        field = np.sin(2 * np.pi * u / period + phase)
    elif kind == 'checks':
        c, s = np.cos(params['angle'] / 4), np.sin(params['angle'] / 4)
        u, v = xs * c + ys * s, -xs * s + ys * c
        field = np.sin(np.pi * u / (period / 1.5) + phase) * np.sin(np.pi * v / (period / 1.5) + phase)
    elif kind == 'blobs':
        field = cv2.resize(params['noise'], (size, size), interpolation=cv2.INTER_CUBIC)
    else:  # rings
        r = np.hypot(xs - size / 2 + 0.5, ys - size / 2 + 0.5)
        field = np.sin(2 * np.pi * r / (period * 0.8) + phase)
    return (field > 0).astype(np.uint8)


def render_texture(params, palette, size=PATCH_SIZE):
    """(size,size,3) uint8 RGB texture: the pattern in the palette's first two colours with accent dots
    and a thin accent frame, which make a target recognisable across scale changes."""
    levels = _pattern_levels(params, size)
    tex = np.where(levels[..., None] == 1, palette[0], palette[1]).astype(np.uint8)
    accent = tuple(int(v) for v in palette[2])
    for x, y in params['accent_dots']:
        centre = (int(x * size / PATCH_SIZE), int(y * size / PATCH_SIZE))
        cv2.circle(tex, centre, max(2, size // 20), accent, -1)
    cv2.rectangle(tex, (1, 1), (size - 2, size - 2), accent, max(1, size // 32))
    return tex


def shape_mask(kind, size=PATCH_SIZE):
    """(size,size) float32 alpha in [0,1] of the object's silhouette."""
    mask = np.zeros((size, size), np.uint8)
    if kind == 'rectangle':
        mask[:] = 255
    elif kind == 'ellipse':
        cv2.ellipse(
            mask,
            (size // 2, size // 2),
            (size // 2 - 1, size // 2 - 1),
            0,
            0,
            360,
            255,
            -1,
            lineType=cv2.LINE_AA,
        )
    else:
        raise ValueError(f'unknown shape kind {kind!r}; expected one of {SHAPE_KINDS}')
    return mask.astype(np.float32) / 255.0


def occluder_texture(rng, size=PATCH_SIZE):
    """A low-saturation noisy panel: clearly not a target look-alike."""
    base = hsv_to_rgb([(int(rng.integers(0, 180)), int(rng.integers(0, 60)), int(rng.integers(60, 200)))])[0]
    noise = cv2.resize(
        rng.standard_normal((8, 8)).astype(np.float32), (size, size), interpolation=cv2.INTER_LINEAR
    )
    tex = base.astype(np.float32)[None, None, :] + 25.0 * noise[..., None]
    return np.clip(tex, 0, 255).astype(np.uint8)


def render_background(rng, width, height):
    """A cluttered, textured background: a smooth colour field, many random shapes (some of them
    patterned, none with the target's silhouette and palette) and fixed grain."""
    grid = rng.integers(40, 200, size=(4, 5, 3)).astype(np.float32)
    bg = cv2.resize(grid, (width, height), interpolation=cv2.INTER_CUBIC)
    bg = np.clip(bg, 0, 255).astype(np.uint8)
    for _ in range(int(rng.integers(25, 45))):
        colour = tuple(int(v) for v in rng.integers(20, 236, size=3))
        x, y = int(rng.integers(0, width)), int(rng.integers(0, height))
        a, b = int(rng.integers(4, max(5, width // 8))), int(rng.integers(4, max(5, height // 8)))
        choice = rng.integers(0, 4)
        if choice == 0:
            cv2.rectangle(bg, (x - a, y - b), (x + a, y + b), colour, -1)
        elif choice == 1:
            cv2.ellipse(bg, (x, y), (a, b), float(rng.uniform(0, 180)), 0, 360, colour, -1)
        elif choice == 2:
            x2, y2 = int(rng.integers(0, width)), int(rng.integers(0, height))
            cv2.line(bg, (x, y), (x2, y2), colour, int(rng.integers(1, 5)))
        else:
            pts = np.stack([x + rng.integers(-a, a + 1, 3), y + rng.integers(-b, b + 1, 3)], 1)
            cv2.fillPoly(bg, [pts.astype(np.int32)], colour)
    grain = rng.normal(0, 4, size=(height, width, 1)).astype(np.float32)
    return np.clip(bg.astype(np.float32) + grain, 0, 255).astype(np.uint8)
