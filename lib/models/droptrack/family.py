"""DropTrack: OSTrack with frame identity embeddings (its config defaults), OSTrack's actor, tracker and
checkpoint name, and DropTrack's checkpoint schedule."""

import dataclasses
import functools

from lib.families import lazy
from lib.models.ostrack.family import OSTRACK

DROPTRACK = dataclasses.replace(
    OSTRACK,
    name='droptrack',
    defaults=lazy('lib.config.droptrack.config:defaults'),
    tracker=functools.partial(lazy('lib.test.tracker.ostrack:tracker_for_network'), 'droptrack'),
    load_checkpoint=functools.partial(lazy('lib.models.ostrack.weights:load_checkpoint'), family='droptrack'),
    checkpoint_schedule=lazy('lib.train.actors.droptrack:checkpoint_schedule'),
    quickstart_config=None,
    benchmark_configs=None,
)
