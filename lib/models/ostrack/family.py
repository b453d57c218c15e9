"""The OSTrack family (with and without candidate elimination) as the shared core sees it."""

import functools

from lib.families import Family, lazy

OSTRACK = Family(
    name='ostrack',
    defaults=lazy('lib.config.ostrack.config:defaults'),
    build_model=lazy('lib.models.ostrack.ostrack:build_ostrack'),
    # every lineage layout (OSTrack / DropTrack / CompressTracker, official and converted files);
    # the sidecar of a converted file must name this family
    load_checkpoint=functools.partial(lazy('lib.models.ostrack.weights:load_checkpoint'), family='ostrack'),
    checkpoint_layout=lazy('lib.models.ostrack.weights:detect_layout'),
    pretrained_weights=lazy('lib.models.ostrack.weights:pretrained_weights'),  # MAE / DropMAE / timm ViT
    tracker=functools.partial(lazy('lib.test.tracker.ostrack:tracker_for_network'), 'ostrack'),
    build_actor=lazy('lib.train.actors.ostrack:build_actor'),
    param_groups=lazy('lib.train.actors.ostrack:param_groups'),
    checkpoint_name='OSTrack',  # OSTrack_ep0300.pth.tar, the official file name
    profile_inputs=lazy('lib.models.ostrack.ostrack:profile_inputs'),
    export_inputs=lazy('lib.models.ostrack.ostrack:export_inputs'),
    stand_in=lazy('lib.models.ostrack.stand_in:stand_in'),
    quickstart_config='tiny_ce',
    benchmark_configs=('vitb_256_mae_ce_32x4_ep300', 'tiny_ce'),
)
