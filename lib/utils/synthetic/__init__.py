"""Deterministic synthetic tracking data: the tests' fixture and the default dataset of a fresh clone.

seq = render_sequence(seed)                 # frames on demand (seq.frame(t)), boxes and flags
ensure_default_dataset(root)                # the default set, generated once, atomically
write_lasot / write_got10k / write_trackingnet / write_coco(root, ..., seed=0)   # real layouts
"""

from .coco import write_coco
from .default import DEFAULT_SPEC, build_dataset, default_root, ensure_default_dataset, is_complete
from .layouts import sequence_seed, write_got10k, write_lasot, write_trackingnet
from .scene import MIN_VISIBLE_FRACTION, SyntheticSequence, plan_sequence, render_sequence
from .textures import PATTERN_KINDS, SHAPE_KINDS

__all__ = [
    'DEFAULT_SPEC',
    'MIN_VISIBLE_FRACTION',
    'PATTERN_KINDS',
    'SHAPE_KINDS',
    'SyntheticSequence',
    'build_dataset',
    'default_root',
    'ensure_default_dataset',
    'is_complete',
    'plan_sequence',
    'render_sequence',
    'sequence_seed',
    'write_coco',
    'write_got10k',
    'write_lasot',
    'write_trackingnet',
]
