"""What the GOT-10k toolkit needs beyond the boxes to score a validation sequence: which frames count
(cover label > 0, i.e. the target is at least partly visible) and the image size boxes are clipped to.

Sources, first found wins:
- visibility: `seq.cover` (array of cover labels), <sequence folder>/cover.label, `seq.target_visible`,
  else every frame counts;
- image size: `seq.image_size` (width, height), the 'resolution' line of <sequence folder>/meta_info.ini,
  the header of the first frame, else no clipping.
The sequence folder is the folder of the first frame (GOT-10k keeps frames and labels together).
"""

import ast
import os

import numpy as np


def _sequence_folder(seq):
    return os.path.dirname(seq.frames[0]) if seq.frames else None


def got10k_visible_frames(seq):
    cover = getattr(seq, 'cover', None)
    folder = _sequence_folder(seq)
    if cover is None and folder and os.path.isfile(os.path.join(folder, 'cover.label')):
        path = os.path.join(folder, 'cover.label')
        try:
            cover = np.loadtxt(path, ndmin=1)
        except ValueError as e:
            raise ValueError(f'{path}: expected one cover label per line ({e})') from None
    if cover is not None:
        return np.asarray(cover).reshape(-1) > 0
    if seq.target_visible is not None:
        return np.asarray(seq.target_visible, dtype=bool)
    return None


def _resolution_from_meta(path):
    with open(path) as f:
        for line in f:
            key, _, value = line.partition(':')
            if key.strip() == 'resolution':
                try:
                    width, height = ast.literal_eval(value.strip())
                    return float(width), float(height)
                except (ValueError, SyntaxError, TypeError):
                    raise ValueError(
                        f"{path}: expected 'resolution: (width, height)', got {line.strip()!r}"
                    ) from None
    return None


def got10k_image_size(seq):
    size = getattr(seq, 'image_size', None)
    if size is not None:
        return float(size[0]), float(size[1])
    folder = _sequence_folder(seq)
    if folder and os.path.isfile(os.path.join(folder, 'meta_info.ini')):
        size = _resolution_from_meta(os.path.join(folder, 'meta_info.ini'))
        if size is not None:
            return size
    if seq.frames and os.path.isfile(seq.frames[0]):
        from PIL import Image  # reads the header only

        with Image.open(seq.frames[0]) as image:
            return float(image.size[0]), float(image.size[1])
    return None


def got10k_scoring_info(seq):
    """(visible frames bool array or None, (width, height) or None) for one GOT-10k sequence."""
    visible = got10k_visible_frames(seq)
    if visible is not None and len(visible) != len(seq.ground_truth_rect):
        raise ValueError(
            f"sequence '{seq.name}': {len(visible)} cover/visibility labels for "
            f'{len(seq.ground_truth_rect)} ground-truth boxes'
        )
    return visible, got10k_image_size(seq)
