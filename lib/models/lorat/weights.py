"""Loading and writing LoRAT weights: the checkpoint layouts, their filters to our keys, and the loader.

Layouts (files are read tensor-only: .safetensors, .bin, .pth, .pth.tar), as `lorat_layout` names them:
- 'lorat-trainable': the official training checkpoint `model.safetensors` / released `.bin` (safetensors
  inside): only the trainable tensors (LoRA A/B, token_type_embed, head); it goes on top of the DINOv2
  base of MODEL.PRETRAIN_FILE;
- 'lorat-unmerged': a complete unmerged state dict (our training checkpoints' 'net', official full
  dumps), possibly with the `lora_alpha` / `use_rslora` scalars;
- 'lorat-merged': a complete merged state dict (the pytracking reproduction's `.pth` files, our merged
  release files, converted files).
Into an inference (merged) model the LoRA updates are merged on load (`merged_state`); into a training
(LoRA) model the tensors load as they are (`lora_model_state`). DINOv2 backbone files (MODEL.PRETRAIN_FILE)
are lib/models/backbones/dinov2.py's layouts.
"""

import math

from lib.models.backbones.dinov2 import (
    SwiGLUFFN,
    dinov2_checkpoint_filter,
    dinov2_layout,
    interpolate_pos_embed,
    load_dinov2_state_dict,
    read_weights,
)
from lib.models.layers.lora import LORA_META_KEYS, merge_lora_state_dict
from lib.models.lorat.builder import has_lora, trainable_state_dict
from lib.utils.io import atomic_save_safetensors
from lib.utils.local_settings import resolve_pretrained_path

LORAT_ONLY_KEYS = ('token_type_embed',)
LORAT_LAYOUTS = ('lorat-trainable', 'lorat-unmerged', 'lorat-merged')
# What a DINOv2 file gives a merged LoRAT model; the rest (token type embedding, head) comes from the
# LoRAT checkpoint.
_DINOV2_BASE_PREFIXES = ('patch_embed.', 'blocks.', 'norm.')


def is_lorat_state_dict(tensors):
    """LoRAT weights (any layout) rather than a DINOv2 backbone file."""
    return any(k in tensors for k in LORAT_ONLY_KEYS) or any(k.startswith('head.cls_mlp.') for k in tensors)


def is_complete(tensors):
    """Holds the backbone too (not only the trainable tensors)."""
    return 'patch_embed.proj.weight' in tensors and 'pos_embed' in tensors


def lorat_layout(tensors: dict) -> str | None:
    """The LoRAT layout of `tensors` (module doc), or None when they are no LoRAT weights."""
    if not is_lorat_state_dict(tensors):
        return None
    if not is_complete(tensors):
        return 'lorat-trainable'
    return 'lorat-unmerged' if any('.lora.' in k for k in tensors) else 'lorat-merged'


def detect_layout(tensors: dict, source: str = 'state dict') -> str:
    """lorat_layout, or a ValueError naming `source`, what it looks like and what was expected."""
    layout = lorat_layout(tensors)
    if layout is not None:
        return layout
    backbone = dinov2_layout(tensors)
    if backbone is not None:
        raise ValueError(
            f"{source}: not a LoRAT checkpoint but a DINOv2 backbone file (layout '{backbone}'): set it as "
            f"MODEL.PRETRAIN_FILE, or convert it with --pretrained"
        )
    raise ValueError(
        f"{source}: not a LoRAT checkpoint (no token_type_embed / head.* keys; expected one of "
        f"{', '.join(LORAT_LAYOUTS)}; first keys {sorted(tensors)[:5]})"
    )


def dinov2_base_state(tensors: dict, swiglu: bool, x_hw: tuple[int, int], source: str = 'state dict') -> dict:
    """The part of a merged LoRAT state dict a DINOv2 file (official or timm layout) gives: patch_embed,
    blocks, norm, and the pretrained position embedding resized to the search grid `x_hw`. Pure."""
    base = {
        k: v
        for k, v in dinov2_checkpoint_filter(tensors, swiglu, source).items()
        if k.startswith(_DINOV2_BASE_PREFIXES)
    }
    if 'pos_embed' not in tensors:
        raise ValueError(f"{source}: no 'pos_embed'; not a DINOv2 backbone file")
    grid = tensors['pos_embed'][:, 1:]
    side = math.isqrt(grid.shape[1])
    base['pos_embed'] = interpolate_pos_embed(grid.float(), (side, side), x_hw)
    return base


def lora_model_state(tensors: dict, lora_alpha: float, use_rslora: bool, source: str = 'state dict') -> dict:
    """LoRAT tensors for a LoRA training model, whose own LoRA settings (from its config) stay: the
    saved `lora_alpha` / `use_rslora` scalars are dropped after checking that they agree. Pure."""
    tensors = dict(tensors)
    own = {'lora_alpha': lora_alpha, 'use_rslora': use_rslora}
    for key in LORA_META_KEYS:
        saved = tensors.pop(key, None)
        if saved is not None and float(saved) != float(own[key]):
            raise ValueError(
                f"{source}: saved with {key}={float(saved):g} but the model has "
                f"{key}={float(own[key]):g} (MODEL.LORA in its config); the LoRA "
                f"updates would be scaled wrongly"
            )
    return tensors


def merged_state(tensors: dict, base: dict, alpha: float | None = None, use_rslora: bool = False) -> dict:
    """LoRAT tensors in any layout -> the complete merged (inference) state dict. `base` (merged keys:
    the target model's state dict, with the DINOv2 base for a trainable-only file) supplies what the
    tensors lack; saved lora_alpha / use_rslora override `alpha` / `use_rslora`. Pure."""
    return merge_lora_state_dict(tensors, base, alpha=alpha, use_rslora=use_rslora)


def _is_swiglu(model):
    return isinstance(model.blocks[0].mlp, SwiGLUFFN)


def load_pretrained_file(backbone, name):
    """MODEL.PRETRAIN_FILE into a fresh DINOv2 backbone. Returns None, or the tensors when the file is a
    LoRAT checkpoint (the caller loads it into the whole model)."""
    path = resolve_pretrained_path(name)
    tensors = read_weights(path)
    if is_lorat_state_dict(tensors):
        return tensors
    load_dinov2_state_dict(backbone, tensors, source=path)
    return None


def load_dinov2_base(model, name):
    """The DINOv2 weights of file `name` into a merged LoRAT model: patch_embed, blocks, norm, and the
    pretrained position embedding resized to the search grid."""
    path = resolve_pretrained_path(name)
    base = dinov2_base_state(read_weights(path), _is_swiglu(model), model.x_hw, path)
    _check_and_load(model, base, path, allow_missing=('token_type_embed', 'head.'))


def load_checkpoint(model, checkpoint, source: str | None = None, family: str = 'lorat', cfg=None):
    """Loads a LoRAT checkpoint (file path or dict of tensors) into `model`, whatever its layout (see the
    module doc). A trainable-only checkpoint into a merged model first takes the DINOv2 base of
    MODEL.PRETRAIN_FILE of `cfg` (default model.cfg, which build_model sets). A converted file's sidecar
    must name `family` and the model's key count (lib/models/conversion.py). Returns `model`."""
    if isinstance(checkpoint, dict):
        tensors, source = dict(checkpoint), source or 'state dict'
    else:
        from lib.models.conversion import check_sidecar

        check_sidecar(str(checkpoint), model, family)
        tensors, source = read_weights(checkpoint), source or str(checkpoint)
    layout = detect_layout(tensors, source)
    if has_lora(model):
        tensors = lora_model_state(tensors, model.lora_alpha, model.use_rslora, source)
        allow_missing = ('',) if layout == 'lorat-trainable' else LORA_META_KEYS
        _check_and_load(model, tensors, source, allow_missing=allow_missing)
        return model
    cfg = cfg if cfg is not None else getattr(model, 'cfg', None)
    if layout == 'lorat-trainable':
        if cfg is None or not cfg.MODEL.PRETRAIN_FILE:
            raise ValueError(
                f"{source} holds only the trainable LoRAT weights; set MODEL.PRETRAIN_FILE to "
                f"the DINOv2 backbone file (e.g. dinov2_vitb14_pretrain.pth) they go on top of"
            )
        load_dinov2_base(model, cfg.MODEL.PRETRAIN_FILE)
    alpha = cfg.MODEL.LORA.ALPHA if cfg is not None else None
    use_rslora = cfg.MODEL.LORA.USE_RSLORA if cfg is not None else False
    _check_and_load(model, merged_state(tensors, model.state_dict(), alpha, use_rslora), source)
    return model


def pretrained_weights(cfg, path: str) -> tuple[dict, str]:
    """A DINOv2 backbone file (official or timm layout) for the backbone of `cfg` in our (official) keys,
    and its layout: what tracking/convert_checkpoint.py --pretrained writes. Loading applies the same
    filter again, which leaves these keys as they are, so the result initialises exactly as the source."""
    from lib.models.lorat.builder import build_backbone

    tensors = read_weights(path)
    layout = dinov2_layout(tensors)
    if layout is None:
        lorat = lorat_layout(tensors)
        if lorat is not None:
            raise ValueError(
                f"{path} is a LoRAT checkpoint (layout '{lorat}'), not a DINOv2 backbone file: convert it "
                f"without --pretrained"
            )
        raise ValueError(
            f"{path} matches no DINOv2 layout (expected dinov2_vit*14_pretrain.pth or timm "
            f"vit_*_patch14_dinov2 weights: blocks.N.ls1.gamma ...; first keys {sorted(tensors)[:5]})"
        )
    backbone = build_backbone(cfg, training=False)
    state = dinov2_checkpoint_filter(tensors, _is_swiglu(backbone), source=path)
    load_dinov2_state_dict(backbone, tensors, source=path)  # the fit check, with its error message
    return state, layout


def _check_and_load(model, tensors, source, allow_missing=()):
    """Loads with a ValueError naming `source` on unexpected or mis-shaped keys, and on missing keys
    except those starting with an `allow_missing` prefix."""
    own = model.state_dict()
    unexpected = [k for k in tensors if k not in own]
    shapes = [
        f'{k} {tuple(tensors[k].shape)} vs model {tuple(own[k].shape)}'
        for k in tensors
        if k in own and tensors[k].shape != own[k].shape
    ]
    missing = [k for k in own if k not in tensors and not k.startswith(tuple(allow_missing))]
    if unexpected or shapes or missing:
        parts = [
            f'{len(missing)} missing (e.g. {missing[:4]})' if missing else '',
            f'{len(unexpected)} unexpected (e.g. {unexpected[:4]})' if unexpected else '',
            f'shape mismatches: {shapes[:4]}' if shapes else '',
        ]
        raise ValueError(f"{source} does not fit the LoRAT model: {'; '.join(p for p in parts if p)}")
    model.load_state_dict(tensors, strict=False)


def save_weights(model, path, layout='trainable'):
    """Writes safetensors atomically. layout 'trainable': the official checkpoint content (trainable
    tensors of a LoRA model); 'merged': the complete inference state dict (needs no DINOv2 file)."""
    if layout == 'trainable':
        if not has_lora(model):
            raise ValueError("layout 'trainable' needs a LoRA training model (build(cfg, training=True))")
        tensors = trainable_state_dict(model)
    elif layout == 'merged':
        from lib.models.lorat.builder import merged_model

        tensors = (merged_model(model) if has_lora(model) else model).state_dict()
    else:
        raise ValueError(f"unknown weights layout '{layout}' (expected 'trainable' or 'merged')")
    atomic_save_safetensors({k: v.detach().cpu() for k, v in tensors.items()}, path)
    return path
