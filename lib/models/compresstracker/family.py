"""CompressTracker: an OSTrack student distilled from a trained OSTrack teacher; OSTrack's tracker and
profiling inputs on the student network."""

import dataclasses
import functools

from lib.families import lazy
from lib.models.ostrack.family import OSTRACK

COMPRESSTRACKER = dataclasses.replace(
    OSTRACK,
    name='compresstracker',
    defaults=lazy('lib.config.compresstracker.config:defaults'),
    build_model=lazy('lib.models.compresstracker.builder:build_compresstracker'),
    tracker=functools.partial(lazy('lib.test.tracker.ostrack:tracker_for_network'), 'compresstracker'),
    # released students, and the official training checkpoints with the teacher stripped
    load_checkpoint=functools.partial(
        lazy('lib.models.ostrack.weights:load_checkpoint'), family='compresstracker'
    ),
    pretrained_weights=lazy('lib.models.compresstracker.builder:teacher_weights'),  # the OSTrack teacher
    build_actor=lazy('lib.train.actors.compresstracker:build_actor'),
    param_groups=lazy('lib.train.actors.compresstracker:param_groups'),
    checkpoint_name='CompressTracker',  # CompressTracker_ep%04d.pth.tar, the official name
    quickstart_config=None,
    benchmark_configs=None,
)
