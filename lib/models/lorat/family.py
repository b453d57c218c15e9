"""LoRAT (DINOv2 with LoRA, one-stream) as the shared core sees it."""

import functools

from lib.families import Family, lazy

LORAT = Family(
    name='lorat',
    defaults=lazy('lib.config.lorat.config:defaults'),
    build_model=lazy('lib.models.lorat.builder:build'),
    load_checkpoint=lazy('lib.models.lorat.weights:load_checkpoint'),  # trainable-only, unmerged or merged
    checkpoint_layout=lazy('lib.models.lorat.weights:detect_layout'),
    pretrained_weights=lazy('lib.models.lorat.weights:pretrained_weights'),  # DINOv2 official / timm
    tracker=functools.partial(lazy('lib.test.tracker.lorat:tracker_for_network'), 'lorat'),
    build_actor=lazy('lib.train.actors.lorat:build_actor'),
    build_processing=lazy('lib.train.actors.lorat:build_processing'),
    param_groups=lazy('lib.train.actors.lorat:param_groups'),
    checkpoint_name='LoRAT',  # LoRAT_ep%04d.pth.tar (+ LoRAT_ep%04d.safetensors release weights)
    checkpoint_schedule=lazy('lib.train.actors.lorat:checkpoint_schedule'),
    profile_inputs=lazy('lib.models.lorat.profile:profile_inputs'),
    export_inputs=lazy('lib.models.lorat.profile:export_inputs'),
    stand_in=lazy('lib.models.lorat.stand_in:stand_in'),
    synthetic_batch=lazy('lib.train.actors.lorat:synthetic_batch'),
    quickstart_config='tiny_quickstart',
    benchmark_configs=('base_224', 'tiny'),
)
