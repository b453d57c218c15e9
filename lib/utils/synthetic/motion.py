"""Trajectories for the synthetic scenes: smooth keyframed motion with occasional fast jumps, scale and
aspect drift, an out-of-view excursion, and occluders that cross the target."""

import numpy as np

CLEAN_START = 8  # frames at the start that stay smooth, fully visible and unoccluded


def smoothstep(u):
    return u * u * (3.0 - 2.0 * u)


def interpolate_keyframes(keys, values, num_frames):
    """Smoothstep interpolation between keyframes (velocity zero at each key). keys: increasing ints
    starting at 0 and reaching at least num_frames - 1; values: (K, D). Returns (num_frames, D)."""
    values = np.asarray(values, dtype=np.float64)
    out = np.empty((keys[-1] + 1, values.shape[1]))
    for k in range(len(keys) - 1):
        a, b = keys[k], keys[k + 1]
        u = smoothstep((np.arange(a, b + 1) - a) / float(b - a))
        out[a : b + 1] = values[k] + (values[k + 1] - values[k]) * u[:, None]
    return out[:num_frames]


def log_drift(rng, num_frames, low, high, step=(15, 30)):
    """A smooth multiplicative factor starting at 1 and wandering within [low, high]."""
    keys, values = [0], [[0.0]]
    while keys[-1] < num_frames - 1:
        keys.append(keys[-1] + int(rng.integers(*step)))
        values.append([rng.uniform(np.log(low), np.log(high))])
    return np.exp(interpolate_keyframes(keys, values, num_frames)[:, 0])


def box_sizes(rng, num_frames, base_size, aspect, scale_range=(0.75, 1.35), aspect_range=(0.85, 1.18)):
    """(N, 2) widths and heights: base_size = sqrt(w*h) at frame 0, aspect = w/h at frame 0."""
    scale = base_size * log_drift(rng, num_frames, *scale_range)
    ratio = aspect * log_drift(rng, num_frames, *aspect_range)
    return np.stack([scale * np.sqrt(ratio), scale / np.sqrt(ratio)], axis=1)


def center_track(rng, num_frames, width, height, sizes, start=None, fast_prob=0.15, min_travel=0.3):
    """(N, 2) centres that keep the box inside the frame, moving between random waypoints at least
    `min_travel` of the frame apart; some legs take only 2-4 frames (fast jumps)."""
    half = sizes.max(axis=0) / 2.0 + 2.0
    lo = np.minimum(half, [width / 2.0, height / 2.0])
    hi = np.maximum([width - half[0], height - half[1]], lo)
    frame_scale = np.array([width, height], dtype=np.float64)
    pos = rng.uniform(lo, hi) if start is None else np.clip(start, lo, hi)
    keys, values = [0], [pos]
    while keys[-1] < num_frames - 1:
        fast = keys[-1] >= CLEAN_START and rng.random() < fast_prob
        duration = int(rng.integers(2, 5)) if fast else int(rng.integers(12, 28))
        for _ in range(20):
            candidate = rng.uniform(lo, hi)
            if np.linalg.norm((candidate - values[-1]) / frame_scale) >= min_travel:
                break
        keys.append(keys[-1] + duration)
        values.append(candidate)
    return interpolate_keyframes(keys, values, num_frames)


def add_out_of_view(rng, centers, sizes, width, height):
    """Sends the target out through its nearest edge, keeps it outside for 3-8 frames and brings it
    back onto its track. Modifies centers in place; returns the (start, end) frames of the excursion
    or None when the sequence is too short."""
    n = len(centers)
    exit_len, out_len = int(rng.integers(3, 7)), int(rng.integers(3, 9))
    first = CLEAN_START + 2 + exit_len
    last = n - out_len - exit_len - 2
    if last <= first:
        return None
    a = int(rng.integers(first, last))
    s, b, r = a - exit_len, a + out_len, a + out_len + exit_len
    cx, cy = centers[a]
    half = sizes.max(axis=0) / 2.0 + 6.0
    edge = int(np.argmin([cx, width - cx, cy, height - cy]))
    out = np.array(
        [
            -half[0] if edge == 0 else width + half[0] if edge == 1 else cx,
            -half[1] if edge == 2 else height + half[1] if edge == 3 else cy,
        ]
    )
    u = smoothstep(np.linspace(0.0, 1.0, exit_len + 1))[:, None]
    leave = centers[s] + (out - centers[s]) * u
    back = out + (centers[r] - out) * u
    centers[s : a + 1] = leave
    centers[a : b + 1] = out
    centers[b : r + 1] = back
    return s, r


def crossing_occluder(rng, target_centers, target_sizes, center_frame, full, extend=15):
    """An occluder panel that slides across the target around `center_frame`.

    full=True: the panel is larger than the target and stays over it for 3-6 frames (full occlusion).
    full=False: a narrow bar crossing the target over 10-16 frames (partial occlusion).
    Near the crossing the panel moves relative to the target; before and after it continues in a straight
    line for `extend` frames. Returns (centers (N,2), size (2,), shown (N,) bool)."""
    n = len(target_centers)
    axis = int(rng.integers(0, 2))  # 0: crosses horizontally, 1: vertically
    lo, hi = max(0, center_frame - 12), min(n, center_frame + 13)
    t_max = target_sizes[lo:hi].max(axis=0)
    size = t_max * 1.3 + 8.0
    if full:
        margin = 0.35 * t_max[axis] + 4.0
        size[axis] = t_max[axis] + 2.0 * margin
        speed = 2.0 * margin / (int(rng.integers(3, 7)) - 0.5)
    else:
        size[axis] = t_max[axis] * rng.uniform(0.25, 0.4)
        speed = (size[axis] + t_max[axis]) / float(rng.integers(10, 17))
    reach = int(np.ceil(((size[axis] + t_max[axis]) / 2.0 + 4.0) / speed))
    a, b = max(0, center_frame - reach), min(n - 1, center_frame + reach)
    direction = 1.0 if rng.random() < 0.5 else -1.0
    centers = np.array(target_centers, dtype=np.float64)
    offsets = (np.arange(a, b + 1) - center_frame) * speed * direction
    centers[a : b + 1, axis] += offsets
    if b > a:
        v_before, v_after = centers[a + 1] - centers[a], centers[b] - centers[b - 1]
        steps = np.arange(n)[:, None]
        centers[:a] = centers[a] + (steps[:a] - a) * v_before
        centers[b + 1 :] = centers[b] + (steps[b + 1 :] - b) * v_after
    shown = np.zeros(n, bool)
    shown[max(0, a - extend) : min(n, b + extend + 1)] = True
    return centers, size, shown


def pan_offsets(rng, num_frames, margin):
    """(N, 2) integer crop offsets into a background larger by `margin` on each side: a slow camera pan."""
    start, end = rng.integers(0, 2 * margin + 1, size=2), rng.integers(0, 2 * margin + 1, size=2)
    u = np.linspace(0.0, 1.0, num_frames)[:, None]
    return np.rint(start + (end - start) * u).astype(np.int64)


def to_int_boxes(centers, sizes, min_size=4):
    """(N,4) integer x,y,w,h boxes from float centres and sizes."""
    wh = np.maximum(np.rint(sizes), min_size)
    xy = np.rint(centers - wh / 2.0)
    return np.concatenate([xy, wh], axis=1).astype(np.int64)
