"""CompressTracker family: OSTrack compressed into a student of MODEL.BACKBONE.DISTILL_LAYER blocks.

`build(cfg, training=True)`: training -> CompressTrackerDistill (student + frozen teacher from
MODEL.PRETRAIN_FILE); otherwise the student network CompressTracker (what trackers and the profiler run).
"""

from lib.models.compresstracker.builder import build_compresstracker, build_teacher  # noqa: F401
from lib.models.compresstracker.distill import (
    CompressTrackerDistill,
    replacement_probability,  # noqa: F401
    sample_student_stages,
)
from lib.models.compresstracker.student import CompressTracker, StudentViT  # noqa: F401
from lib.models.ostrack.ostrack import profile_inputs  # noqa: F401

build = build_compresstracker

__all__ = [
    'build',
    'build_compresstracker',
    'build_teacher',
    'CompressTracker',
    'CompressTrackerDistill',
    'StudentViT',
    'replacement_probability',
    'sample_student_stages',
    'profile_inputs',
]
