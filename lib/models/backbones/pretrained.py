"""Initialising the one-stream ViT from pretrained image-model weights: the backbone-init layouts of
the lineage (OSTrack, DropTrack) and their filters.

Layouts (after load_tensors unwraps 'model'/'state_dict' and a common 'module.' / 'backbone.' /
'encoder.' prefix is stripped), as `vit_layout` names them:
- 'dropmae': a DropMAE checkpoint: encoder + frame identity embeddings (temporal_pos_embed_x/_z) + the
  MAE decoder;
- 'mae': an MAE checkpoint with its decoder (decoder_*) or mask token;
- 'vit': timm ViT names without a decoder: timm state dicts (classifier head and fc_norm dropped), MAE
  encoder-only releases, and our own converted backbone-init files (our keys are timm's).
`vit_checkpoint_filter` maps any of them to our keys (pure); `fit_pretrained_vit` then fits the result
to a backbone: the checkpoint's position grid is resampled bicubically (align_corners=False) straight to
the template and search grids, as the official finetune_track does after loading the 14x14 MAE grid,
and a patch kernel of another size is resized bicubically (the official STRIDE != 16 path). Because the
fitting runs at load time on the filtered tensors, a file holding `vit_checkpoint_filter`'s output
(tracking/convert_checkpoint.py --pretrained) initialises a backbone exactly as its source does.
"""

import logging

import torch
import torch.nn.functional as F

from lib.models.backbones.vit_ce import PRETRAIN_GRID, interpolate_pos_embed
from lib.utils.checkpoint import load_tensors

logger = logging.getLogger(__name__)

_STRIP_PREFIXES = ('module.', 'backbone.', 'encoder.')
VIT_LAYOUTS = ('dropmae', 'mae', 'vit')
# Entries of the backbone-init files that are not part of the tracking backbone: the MAE/DropMAE
# decoder and mask token, timm's classifier and pooling norm.
_FOREIGN_PREFIXES = ('decoder', 'mask_token', 'head.', 'fc_norm.', 'pre_logits.')
# Our own per-crop position embeddings: never taken from a backbone-init file (they are resampled from
# its grid), so a tracker checkpoint's values cannot leak in.
TRACK_POS_KEYS = ('pos_embed_z', 'pos_embed_x')


def strip_wrapper_prefixes(tensors: dict) -> dict:
    """Drops a prefix that every key carries ('module.', 'backbone.', 'encoder.', in that order)."""
    for prefix in _STRIP_PREFIXES:
        if tensors and all(k.startswith(prefix) for k in tensors):
            tensors = {k[len(prefix) :]: v for k, v in tensors.items()}
    return tensors


def vit_layout(tensors: dict) -> str | None:
    """'dropmae', 'mae' or 'vit' for a backbone-init file of the lineage ViT (see the module doc), None
    when the tensors hold no plain ViT blocks (e.g. a whole tracker checkpoint, whose keys carry
    'backbone.' and 'box_head.')."""
    state = strip_wrapper_prefixes(tensors)
    if not any(k.startswith('blocks.') and k.endswith('.attn.qkv.weight') for k in state):
        return None
    if 'temporal_pos_embed_x' in state or 'temporal_pos_embed_z' in state:
        return 'dropmae'
    if any(k.startswith(('decoder', 'mask_token')) for k in state):
        return 'mae'
    return 'vit'


def vit_checkpoint_filter(tensors: dict) -> dict:
    """MAE / DropMAE / timm ViT tensors -> our backbone keys: wrapper prefixes stripped, the decoder,
    mask token and classifier dropped. The position embedding keeps the file's grid (fitting happens at
    load, see fit_pretrained_vit). Pure: nothing is loaded."""
    state = strip_wrapper_prefixes(tensors)
    return {k: v for k, v in state.items() if not k.startswith(_FOREIGN_PREFIXES)}


def _split_pos_embed(pos_embed):
    """(1, P + S*S, C) -> (prefix tokens (1, P, C), grid (1, S*S, C)); P in {0, 1, 2}."""
    n = pos_embed.shape[1]
    for prefix in (1, 0, 2):
        side = int(round((n - prefix) ** 0.5))
        if side * side == n - prefix:
            return pos_embed[:, :prefix], pos_embed[:, prefix:]
    raise ValueError(f"pos_embed with {n} tokens is not a square grid plus 0-2 prefix tokens")


def fit_pretrained_vit(state: dict, own: dict, source: str) -> tuple[dict, torch.Tensor | None]:
    """Filtered backbone-init tensors fitted to a backbone whose state dict is `own`: (the tensors to
    load, the file's position grid (1, S*S, C) without prefix tokens, or None) . The grid goes to
    reset_track_pos_embed, so pos_embed_z / pos_embed_x come from the file's own resolution. Keys the
    backbone lacks are left out. ValueError naming `source` when no block matches or a shape differs."""
    if not any(k.startswith('blocks.') and k in own for k in state):
        raise ValueError(
            f"{source}: no ViT block weights matching this backbone "
            f"(first keys: {sorted(state)[:5]}); expected an MAE/DropMAE or timm ViT checkpoint"
        )
    state = dict(state)
    grid_pos = None
    if 'pos_embed' in state:
        prefix_tokens, grid_pos = _split_pos_embed(state.pop('pos_embed'))
        # no class-token entry in the file: the backbone keeps its own for the (unused) cls slot
        cls_pos = prefix_tokens[:, :1] if prefix_tokens.shape[1] >= 1 else own['pos_embed'][:, :1]
        state['pos_embed'] = torch.cat(
            [cls_pos, interpolate_pos_embed(grid_pos, (PRETRAIN_GRID, PRETRAIN_GRID))], 1
        )
    kernel = state.get('patch_embed.proj.weight')
    if kernel is not None and kernel.shape[-2:] != own['patch_embed.proj.weight'].shape[-2:]:
        state['patch_embed.proj.weight'] = F.interpolate(
            kernel.float(),
            size=own['patch_embed.proj.weight'].shape[-2:],
            mode='bicubic',
            align_corners=False,
        ).to(kernel.dtype)
    loadable = {}
    for key, value in state.items():
        if key in TRACK_POS_KEYS or key not in own:
            continue
        if value.shape != own[key].shape:
            raise ValueError(
                f"{source}: '{key}' has shape {tuple(value.shape)}, this backbone "
                f"needs {tuple(own[key].shape)} (wrong model size for MODEL.BACKBONE.TYPE?)"
            )
        loadable[key] = value
    return loadable, grid_pos


def pretrained_vit_state(tensors: dict, own: dict, source: str) -> dict:
    """What tracking/convert_checkpoint.py --pretrained writes for a lineage backbone: the filtered
    tensors the backbone (state dict `own`) takes, unfitted (the file's position grid and patch kernel
    size kept), after checking that they fit."""
    state = vit_checkpoint_filter(tensors)
    fit_pretrained_vit(state, own, source)
    return {k: v for k, v in state.items() if k in own and k not in TRACK_POS_KEYS}


def load_pretrained_vit(backbone, path, cfg_key='MODEL.PRETRAIN_FILE', tensors=None):
    """Loads pretrained ViT weights into a VisionTransformerCE; returns (loaded keys, ignored keys).
    `tensors`: the file's tensors if already read. Raises ValueError naming the file when it holds no
    matching ViT blocks or a shape disagrees."""
    raw = strip_wrapper_prefixes(load_tensors(path) if tensors is None else tensors)
    own = backbone.state_dict()
    loadable, grid_pos = fit_pretrained_vit(vit_checkpoint_filter(raw), own, f'{path} ({cfg_key})')
    ignored = [k for k in raw if k not in loadable]
    backbone.load_state_dict(loadable, strict=False)
    if grid_pos is not None:
        backbone.reset_track_pos_embed(grid_pos.to(backbone.pos_embed.dtype))
    else:
        backbone.reset_track_pos_embed()
    not_loaded = sorted(k for k in own if k not in loadable and k not in TRACK_POS_KEYS)
    logger.info(
        "loaded %d pretrained tensors from %s; not in the file: %s; ignored from the file: %d (%s)",
        len(loadable),
        path,
        not_loaded or 'none',
        len(ignored),
        ', '.join(sorted(ignored)[:8]),
    )
    print(
        f"Pretrained backbone: {len(loadable)} tensors from {path}"
        + (f"; kept random init for {not_loaded}" if not_loaded else '')
        + (
            f"; ignored {len(ignored)} file entries (e.g. {', '.join(sorted(ignored)[:4])})"
            if ignored
            else ''
        )
    )
    return sorted(loadable), sorted(ignored)
