"""One synthetic tracking sequence: a textured target among look-alike distractors on a cluttered,
slowly panning background, with occluders and an out-of-view excursion, plus exact ground truth.

`plan_sequence(seed, ...)` draws every random choice up front (so hiding the target, or rendering
frames in any order, never changes anything else); `SyntheticSequence.frame(t)` renders frame t.
The same seed always gives identical frames, boxes and flags.
"""

from dataclasses import dataclass, field

import cv2
import numpy as np

from . import motion, textures

MIN_VISIBLE_FRACTION = 1.0 / 16.0  # a target less visible than this is absent (GOT-10k cover level 0)
PAN_MARGIN = 12
HUE_NAMES = (
    (10, 'red'),
    (22, 'orange'),
    (35, 'yellow'),
    (80, 'green'),
    (100, 'cyan'),
    (130, 'blue'),
    (160, 'purple'),
    (180, 'red'),
)


@dataclass
class SceneObject:
    boxes: np.ndarray  # (N,4) int x,y,w,h, not clipped to the image
    texture: np.ndarray  # (P,P,3) uint8, resized to the box each frame
    alpha: np.ndarray  # (P,P) float32 silhouette
    shown: np.ndarray = None  # (N,) bool; None = every frame

    def visible_at(self, t):
        return self.shown is None or bool(self.shown[t])


@dataclass
class SyntheticSequence:
    seed: int
    width: int
    height: int
    object_class: str  # the target's texture family (a LaSOT-layout class)
    shape: str
    description: str  # one sentence (LaSOT nlp.txt)
    background: np.ndarray
    pan: np.ndarray
    target: SceneObject
    distractors: list
    occluders: list
    # ground truth, filled by _annotate
    boxes: np.ndarray = field(default=None)  # (N,4) x,y,w,h clipped to the image; 0 if absent
    visible_fraction: np.ndarray = field(default=None)  # (N,) share of the target's pixels that can be seen
    cover: np.ndarray = field(default=None)  # (N,) int 0..8 (GOT-10k cover.label)
    absent: np.ndarray = field(default=None)  # (N,) bool, cover == 0
    out_of_view: np.ndarray = field(default=None)  # (N,) bool, absent because it left the image
    full_occlusion: np.ndarray = field(default=None)  # (N,) bool, absent while inside the image
    cut_by_image: np.ndarray = field(default=None)  # (N,) bool, visible but partly outside the image

    def __len__(self):
        return len(self.target.boxes)

    @property
    def full_boxes(self):
        """(N,4) the target's whole box, also where it is outside the image or hidden."""
        return self.target.boxes.astype(np.float64)

    def frame(self, t, draw_target=True):
        """Frame t as RGB uint8 HxWx3."""
        ox, oy = self.pan[t]
        image = self.background[oy : oy + self.height, ox : ox + self.width].copy()
        layers = list(self.distractors) + ([self.target] if draw_target else []) + list(self.occluders)
        for obj in layers:
            if obj.visible_at(t):
                paste_object(image, obj.texture, obj.alpha, obj.boxes[t])
        return image

    def frames(self, draw_target=True):
        return [self.frame(t, draw_target) for t in range(len(self))]


def paste_object(image, texture, alpha, box):
    x, y, w, h = (int(v) for v in box)
    height, width = image.shape[:2]
    x1, y1, x2, y2 = max(0, x), max(0, y), min(width, x + w), min(height, y + h)
    if x2 <= x1 or y2 <= y1:
        return
    tex = cv2.resize(texture, (w, h), interpolation=cv2.INTER_LINEAR)[y1 - y : y2 - y, x1 - x : x2 - x]
    a = cv2.resize(alpha, (w, h), interpolation=cv2.INTER_LINEAR)[y1 - y : y2 - y, x1 - x : x2 - x, None]
    roi = image[y1:y2, x1:x2]
    roi[:] = (roi * (1.0 - a) + tex * a + 0.5).astype(np.uint8)


def _hue_name(hue):
    return next(name for limit, name in HUE_NAMES if hue < limit)


def _annotate(seq):
    """Ground truth from geometry: visibility of the target's silhouette inside the image and not
    under an occluder, the GOT-10k cover level, absence and its cause, and the clipped box."""
    n, width, height = len(seq), seq.width, seq.height
    vis, in_image = np.zeros(n), np.zeros(n)
    for t, (x, y, w, h) in enumerate(seq.target.boxes):
        mask = cv2.resize(seq.target.alpha, (int(w), int(h)), interpolation=cv2.INTER_LINEAR) >= 0.5
        total = max(int(mask.sum()), 1)
        x1, y1, x2, y2 = max(0, x), max(0, y), min(width, x + w), min(height, y + h)
        if x2 <= x1 or y2 <= y1:
            continue
        seen = mask[y1 - y : y2 - y, x1 - x : x2 - x].copy()
        in_image[t] = seen.sum() / total
        for occ in seq.occluders:
            if occ.visible_at(t):
                ox, oy, ow, oh = occ.boxes[t]
                seen[max(0, oy - y1) : max(0, oy + oh - y1), max(0, ox - x1) : max(0, ox + ow - x1)] = False
        vis[t] = seen.sum() / total
    seq.visible_fraction = vis
    seq.cover = np.clip(np.floor(vis * 8.0 + 0.5), 0, 8).astype(np.int64)
    seq.absent = seq.cover == 0
    seq.out_of_view = seq.absent & (in_image < MIN_VISIBLE_FRACTION)
    seq.full_occlusion = seq.absent & ~seq.out_of_view
    b = seq.target.boxes
    x1, y1 = np.clip(b[:, 0], 0, width), np.clip(b[:, 1], 0, height)
    x2, y2 = np.clip(b[:, 0] + b[:, 2], 0, width), np.clip(b[:, 1] + b[:, 3], 0, height)
    boxes = np.stack([x1, y1, x2 - x1, y2 - y1], axis=1).astype(np.float64)
    boxes[seq.absent] = 0.0
    seq.boxes = boxes
    outside = (b[:, 0] < 0) | (b[:, 1] < 0) | (b[:, 0] + b[:, 2] > width) | (b[:, 1] + b[:, 3] > height)
    seq.cut_by_image = outside & ~seq.absent
    return seq


def _pick_event_frame(rng, n, reserved, reach=12):
    """A frame for an occlusion event, away from the clean start, the end and reserved windows."""
    for _ in range(30):
        c = int(rng.integers(motion.CLEAN_START + reach, max(motion.CLEAN_START + reach + 1, n - 6)))
        if c < n and all(c < s - reach or c > e + reach for s, e in reserved):
            return c
    return None


def _object(rng, num_frames, width, height, size, aspect, shape, params, palette, start=None):
    sizes = motion.box_sizes(rng, num_frames, size, aspect)
    centers = motion.center_track(rng, num_frames, width, height, sizes, start=start)
    return (
        centers,
        sizes,
        SceneObject(
            motion.to_int_boxes(centers, sizes),
            textures.render_texture(params, palette),
            textures.shape_mask(shape),
        ),
    )


def plan_sequence(
    seed,
    num_frames=None,
    size=(320, 240),
    frame_range=(30, 100),
    pattern=None,
    full_occlusion=None,
    partial_occlusion=None,
    out_of_view=None,
    num_distractors=None,
):
    """Draws a whole sequence from `seed`. size = (width, height). num_frames None: random in
    frame_range. pattern: a texture family from textures.PATTERN_KINDS (None: random). The event
    switches (full_occlusion, partial_occlusion, out_of_view) force an event on or off; None draws it
    (probabilities 0.5, 0.5, 0.4). Returns an annotated SyntheticSequence."""
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0x5EED]))
    width, height = int(size[0]), int(size[1])
    n = int(num_frames) if num_frames is not None else int(rng.integers(frame_range[0], frame_range[1] + 1))
    if n < 2 or width < 32 or height < 32:
        raise ValueError(
            f'synthetic sequence too small: {n} frames of {width}x{height} '
            f'(expected at least 2 frames of 32x32)'
        )
    pattern = pattern or textures.PATTERN_KINDS[int(rng.integers(len(textures.PATTERN_KINDS)))]
    shape = textures.SHAPE_KINDS[int(rng.integers(len(textures.SHAPE_KINDS)))]
    background = textures.render_background(rng, width + 2 * PAN_MARGIN, height + 2 * PAN_MARGIN)
    pan = motion.pan_offsets(rng, n, PAN_MARGIN)

    base = rng.uniform(0.13, 0.24) * min(width, height)
    aspect = float(np.exp(rng.uniform(np.log(0.5), np.log(2.0))))
    palette, hue = textures.sample_palette(rng)
    params = textures.sample_pattern_params(rng, pattern)
    centers, sizes, target = _object(rng, n, width, height, base, aspect, shape, params, palette)

    draw = {'out_of_view': 0.4, 'full_occlusion': 0.5, 'partial_occlusion': 0.5}
    forced = {
        'out_of_view': out_of_view,
        'full_occlusion': full_occlusion,
        'partial_occlusion': partial_occlusion,
    }
    wanted = {k: (rng.random() < p) if forced[k] is None else bool(forced[k]) for k, p in draw.items()}
    reserved = []
    if wanted['out_of_view']:
        window = motion.add_out_of_view(rng, centers, sizes, width, height)
        if window is not None:
            reserved.append(window)
            target.boxes = motion.to_int_boxes(centers, sizes)
    occluders = []
    for kind in ('full_occlusion', 'partial_occlusion'):
        c = _pick_event_frame(rng, n, reserved) if wanted[kind] else None
        if c is None:
            continue
        occ_centers, occ_size, shown = motion.crossing_occluder(
            rng, centers, sizes, c, full=kind == 'full_occlusion'
        )
        occ_boxes = motion.to_int_boxes(occ_centers, np.broadcast_to(occ_size, (n, 2)))
        occluders.append(
            SceneObject(occ_boxes, textures.occluder_texture(rng), textures.shape_mask('rectangle'), shown)
        )
        reserved.append((c - 6, c + 6))

    distractors = []
    count = int(rng.integers(1, 4)) if num_distractors is None else int(num_distractors)
    for _ in range(count):
        d_palette, _ = textures.sample_palette(rng, textures.distractor_hue(rng, hue))
        d_params = textures.sample_pattern_params(rng, pattern)
        start = _away_from(rng, centers[0], width, height)
        d_size, d_aspect = base * rng.uniform(0.85, 1.15), aspect * float(np.exp(rng.uniform(-0.2, 0.2)))
        _, _, distractor = _object(rng, n, width, height, d_size, d_aspect, shape, d_params, d_palette, start)
        distractors.append(distractor)

    _keep_start_clean(target, occluders + distractors)
    description = f'{_hue_name(hue)} {pattern} {shape} moving among look-alikes'
    seq = SyntheticSequence(
        int(seed), width, height, pattern, shape, description, background, pan, target, distractors, occluders
    )
    return _annotate(seq)


def _away_from(rng, point, width, height):
    """A start point at least a third of the frame away from `point` (best of a few draws)."""
    scale = np.array([width, height], dtype=np.float64)
    best, best_dist = None, -1.0
    for _ in range(10):
        cand = rng.uniform([0, 0], scale)
        dist = np.linalg.norm((cand - point) / scale)
        if dist > best_dist:
            best, best_dist = cand, dist
        if dist >= 0.34:
            break
    return best


def _keep_start_clean(target, others):
    """Hides every other object where it touches the target during the first frames, so the target
    starts fully visible and its first frame is a clean template."""
    for obj in others:
        for t in range(min(motion.CLEAN_START, len(target.boxes))):
            tx, ty, tw, th = target.boxes[t]
            ox, oy, ow, oh = obj.boxes[t]
            if ox < tx + tw and tx < ox + ow and oy < ty + th and ty < oy + oh:
                if obj.shown is None:
                    obj.shown = np.ones(len(target.boxes), bool)
                obj.shown[t] = False


def render_sequence(seed, **kwargs):
    """Alias of plan_sequence: the returned sequence renders frames on demand (`.frame(t)`, `.frames()`)."""
    return plan_sequence(seed, **kwargs)
