"""Loading and writing LoRAT weights.

Accepted checkpoint layouts (files are read tensor-only: .safetensors, .bin, .pth, .pth.tar):
- the official training checkpoint `model.safetensors` / released `.bin` (safetensors inside): only the
  trainable tensors (LoRA A/B, token_type_embed, head); it goes on top of the DINOv2 base of
  MODEL.PRETRAIN_FILE;
- a complete unmerged state dict (our training checkpoints' 'net', official full dumps), possibly
  with the `lora_alpha` / `use_rslora` scalars;
- a complete merged state dict (the pytracking reproduction's `.pth` files, our merged release files).
Into an inference (merged) model the LoRA updates are merged on load; into a training (LoRA) model the
tensors load as they are.
"""

import math

from lib.models.backbones.dinov2 import (
    dinov2_state_dict,
    interpolate_pos_embed,
    load_dinov2_state_dict,
    read_weights,
)
from lib.models.layers.lora import LORA_META_KEYS, merge_lora_state_dict
from lib.models.lorat.builder import has_lora, resolve_pretrained_path, trainable_state_dict
from lib.utils.io import atomic_save_safetensors

LORAT_ONLY_KEYS = ('token_type_embed',)


def is_lorat_state_dict(tensors):
    """LoRAT weights (any layout) rather than a DINOv2 backbone file."""
    return any(k in tensors for k in LORAT_ONLY_KEYS) or any(k.startswith('head.cls_mlp.') for k in tensors)


def is_complete(tensors):
    """Holds the backbone too (not only the trainable tensors)."""
    return 'patch_embed.proj.weight' in tensors and 'pos_embed' in tensors


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
    tensors = read_weights(path)
    base = {
        k: v
        for k, v in dinov2_state_dict(tensors, model, source=path).items()
        if k.startswith(('patch_embed.', 'blocks.', 'norm.'))
    }
    if 'pos_embed' not in tensors:
        raise ValueError(f"{path}: no 'pos_embed'; not a DINOv2 backbone file")
    grid = tensors['pos_embed'][:, 1:]
    side = math.isqrt(grid.shape[1])
    base['pos_embed'] = interpolate_pos_embed(grid.float(), (side, side), model.x_hw)
    _check_and_load(model, base, path, allow_missing=('token_type_embed', 'head.'))


def load_checkpoint(model, checkpoint, source=None):
    """Loads a LoRAT checkpoint (file path or dict of tensors) into `model`, whatever its layout (see the
    module doc). A trainable-only checkpoint into a merged model first loads the DINOv2 base of
    model.cfg.MODEL.PRETRAIN_FILE. Returns `model`."""
    if isinstance(checkpoint, dict):
        tensors, source = dict(checkpoint), source or 'state dict'
    else:
        tensors, source = read_weights(checkpoint), source or str(checkpoint)
    if not is_lorat_state_dict(tensors):
        raise ValueError(
            f"{source}: not a LoRAT checkpoint (no token_type_embed / head.* keys; "
            f"first keys {sorted(tensors)[:5]})"
        )
    if has_lora(model):
        for key in LORA_META_KEYS:  # the model's own LoRA settings (from its config) stay
            saved = tensors.pop(key, None)
            if saved is not None and float(saved) != float(getattr(model, key)):
                raise ValueError(
                    f"{source}: saved with {key}={float(saved):g} but the model has "
                    f"{key}={float(getattr(model, key)):g} (MODEL.LORA in its config); the LoRA "
                    f"updates would be scaled wrongly"
                )
        _check_and_load(
            model, tensors, source, allow_missing=LORA_META_KEYS if is_complete(tensors) else ('',)
        )
        return model
    cfg = getattr(model, 'cfg', None)
    if not is_complete(tensors):
        if cfg is None or not cfg.MODEL.PRETRAIN_FILE:
            raise ValueError(
                f"{source} holds only the trainable LoRAT weights; set MODEL.PRETRAIN_FILE to "
                f"the DINOv2 backbone file (e.g. dinov2_vitb14_pretrain.pth) they go on top of"
            )
        load_dinov2_base(model, cfg.MODEL.PRETRAIN_FILE)
    alpha = cfg.MODEL.LORA.ALPHA if cfg is not None else None
    use_rslora = cfg.MODEL.LORA.USE_RSLORA if cfg is not None else False
    merged = merge_lora_state_dict(tensors, model.state_dict(), alpha=alpha, use_rslora=use_rslora)
    _check_and_load(model, merged, source)
    return model


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
