"""LoRAT (DINOv2 one-stream tracker with LoRA): `build(cfg, training=True, checkpoint=None)`."""

from lib.models.lorat.builder import (
    build,
    enable_lora_,
    freeze_backbone_,
    merge_lora_weights_,
    merged_model,
    trainable_parameter_names,
    trainable_state_dict,
)
from lib.models.lorat.lorat import LoRAT, template_foreground_mask
from lib.models.lorat.profile import profile_inputs
from lib.models.lorat.weights import load_checkpoint, save_weights

__all__ = [
    'build',
    'enable_lora_',
    'freeze_backbone_',
    'merge_lora_weights_',
    'merged_model',
    'trainable_parameter_names',
    'trainable_state_dict',
    'LoRAT',
    'template_foreground_mask',
    'load_checkpoint',
    'save_weights',
    'profile_inputs',
]
