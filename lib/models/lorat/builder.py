"""Building LoRAT from a config: the LoRA training layout, the merged inference layout, freezing.

Training layout (`build(cfg, training=True)`): DINOv2 weights from MODEL.PRETRAIN_FILE, backbone frozen
(patch_embed, blocks, pos_embed, norm), LoRA on every block linear (qkv split into q, k, v; proj;
fc1/fc2 or w12/w3); trainable: LoRA A/B, token_type_embed, head. Its state_dict equals the official
unmerged model's, including the `lora_alpha` / `use_rslora` scalars the official model appends when
alpha != 1 or rsLoRA is on. Inference layout (`training=False`, or `merged_model`): plain linears,
keys `blocks.N.attn.qkv.weight` ... as in the official merged model and the pytracking reproduction.
"""

import contextlib
import copy

import torch

from lib.models.backbones.dinov2 import PATCH_SIZE, build_dinov2
from lib.models.layers.lora import LORA_META_KEYS, LinearWithLoRA, add_lora_, merge_lora_
from lib.models.lorat.lorat import LoRAT


def feature_grids(cfg):
    """(template (H, W), search (H, W)) patch grids from DATA.TEMPLATE.SIZE / DATA.SEARCH.SIZE."""
    stride = cfg.MODEL.BACKBONE.STRIDE
    if stride != PATCH_SIZE:
        raise ValueError(f"MODEL.BACKBONE.STRIDE must be {PATCH_SIZE} for DINOv2, got {stride}")
    grids = []
    for name in ('TEMPLATE', 'SEARCH'):
        size = cfg.DATA[name].SIZE
        if size % stride:
            raise ValueError(f"DATA.{name}.SIZE {size} is not a multiple of the patch size {stride}")
        grids.append((size // stride, size // stride))
    return tuple(grids)


@contextlib.contextmanager
def _seeded(seed):
    """Deterministic parameter init without touching the caller's global RNG state."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def build_backbone(cfg, training):
    bb = cfg.MODEL.BACKBONE
    return build_dinov2(
        bb.TYPE,
        drop_path_rate=cfg.TRAIN.DROP_PATH_RATE if training else 0.0,
        embed_dim=bb.EMBED_DIM,
        depth=bb.DEPTH,
        num_heads=bb.NUM_HEADS,
    )


def build(cfg, training=True, checkpoint=None):
    """The LoRAT model of a merged config. training: pretrained DINOv2 from MODEL.PRETRAIN_FILE (seeded
    random weights when it is empty), frozen backbone + LoRA when MODEL.LORA.ENABLED. Otherwise the
    merged inference layout (random weights; `checkpoint` or `load_checkpoint` fills it)."""
    from lib.models.lorat.weights import load_checkpoint, load_pretrained_file

    z_hw, x_hw = feature_grids(cfg)
    with _seeded(cfg.MODEL.SEED):
        backbone = build_backbone(cfg, training)
        init_tensors = None
        if training and cfg.MODEL.PRETRAIN_FILE:
            init_tensors = load_pretrained_file(backbone, cfg.MODEL.PRETRAIN_FILE)
        else:
            set_layer_scale_(backbone, cfg.MODEL.BACKBONE.LAYER_SCALE_INIT)
        model = LoRAT(backbone, z_hw, x_hw)  # model.cfg is set by lib.models.build_model_from_cfg
        if init_tensors is not None:  # PRETRAIN_FILE is itself a LoRAT checkpoint: start from it
            load_checkpoint(model, init_tensors, source=cfg.MODEL.PRETRAIN_FILE, cfg=cfg)
        if checkpoint is not None:
            load_checkpoint(model, checkpoint, cfg=cfg)
        if training and cfg.MODEL.LORA.ENABLED:
            lora = cfg.MODEL.LORA
            enable_lora_(model, lora.R, lora.ALPHA, lora.DROPOUT, lora.USE_RSLORA, lora.INIT)
    return model


def set_layer_scale_(backbone, value):
    """Sets every LayerScale gamma of a (randomly initialised) backbone to `value`."""
    from timm.layers import LayerScale

    with torch.no_grad():
        for module in backbone.modules():
            if isinstance(module, LayerScale):
                module.gamma.fill_(float(value))
    return backbone


def freeze_backbone_(model):
    """Freezes patch_embed, blocks, pos_embed and norm (the official freeze set)."""
    for module in (model.patch_embed, model.blocks, model.norm):
        module.requires_grad_(False)
    model.pos_embed.requires_grad_(False)
    return model


def enable_lora_(model, r, alpha, dropout=0.0, use_rslora=False, init='bert'):
    """Freezes the backbone and wraps every block linear with LoRA (in place)."""
    freeze_backbone_(model)
    for block in model.blocks:
        add_lora_(block, r, alpha, dropout, use_rslora, init)
    model.lora_alpha, model.use_rslora = float(alpha), bool(use_rslora)
    if not getattr(model, '_lora_meta_hooks', None):
        model._lora_meta_hooks = (
            model.register_state_dict_post_hook(_add_lora_meta),
            model.register_load_state_dict_pre_hook(_pop_lora_meta),
        )
    return model


def _add_lora_meta(module, state_dict, prefix, local_metadata):
    if has_lora(module) and (module.lora_alpha != 1.0 or module.use_rslora):
        state_dict[prefix + 'lora_alpha'] = torch.tensor(module.lora_alpha)
        state_dict[prefix + 'use_rslora'] = torch.tensor(module.use_rslora)


def _pop_lora_meta(module, state_dict, prefix, *args):
    for key in LORA_META_KEYS:
        state_dict.pop(prefix + key, None)


def has_lora(model):
    return any(isinstance(m, LinearWithLoRA) for m in model.modules())


def trainable_parameter_names(model):
    return [name for name, p in model.named_parameters() if p.requires_grad]


def trainable_state_dict(model):
    """The official checkpoint content: parameters with requires_grad only, no lora_alpha/use_rslora."""
    return {name: p.detach() for name, p in model.named_parameters() if p.requires_grad}


def merge_lora_weights_(model):
    """Training layout -> inference layout, in place: LoRA merged into plain linears, nothing frozen."""
    for block in model.blocks:
        merge_lora_(block)
    model.requires_grad_(True)
    return model


def merged_model(model):
    """A merged inference copy of a (LoRA) training model, in eval mode; `model` is unchanged."""
    return merge_lora_weights_(copy.deepcopy(model)).eval()
