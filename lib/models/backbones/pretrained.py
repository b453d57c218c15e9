"""Initialising the one-stream ViT from pretrained image-model weights.

Accepted layouts (after load_tensors unwraps 'model'/'state_dict'): MAE / DropMAE encoder checkpoints
(decoder and mask token are ignored) and timm ViT state dicts (classifier head, fc_norm ignored).
The checkpoint's position grid is resampled bicubically (align_corners=False) straight to the template
and search grids, as the official finetune_track does after loading the 14x14 MAE grid. A patch
kernel of another size is resized bicubically (the official STRIDE != 16 path).
"""

import logging
import os

import torch
import torch.nn.functional as F

from lib.models.backbones.vit_ce import PRETRAIN_GRID, interpolate_pos_embed
from lib.utils.checkpoint import load_tensors

logger = logging.getLogger(__name__)

_STRIP_PREFIXES = ('module.', 'backbone.', 'encoder.')


def _split_pos_embed(pos_embed):
    """(1, P + S*S, C) -> (prefix tokens (1, P, C), grid (1, S*S, C)); P in {0, 1, 2}."""
    n = pos_embed.shape[1]
    for prefix in (1, 0, 2):
        side = int(round((n - prefix) ** 0.5))
        if side * side == n - prefix:
            return pos_embed[:, :prefix], pos_embed[:, prefix:]
    raise ValueError(f"pos_embed with {n} tokens is not a square grid plus 0-2 prefix tokens")


def load_pretrained_vit(backbone, path, cfg_key='MODEL.PRETRAIN_FILE'):
    """Loads pretrained ViT weights into a VisionTransformerCE; returns (loaded keys, ignored keys).
    Raises ValueError naming the file when it holds no matching ViT blocks or a shape disagrees."""
    state = load_tensors(path)
    for prefix in _STRIP_PREFIXES:
        if state and all(k.startswith(prefix) for k in state):
            state = {k[len(prefix) :]: v for k, v in state.items()}
    own = backbone.state_dict()
    if not any(k.startswith('blocks.') and k in own for k in state):
        raise ValueError(
            f"{path} ({cfg_key}): no ViT block weights matching this backbone "
            f"(first keys: {sorted(state)[:5]}); expected an MAE/DropMAE or timm ViT checkpoint"
        )
    grid_pos = None
    if 'pos_embed' in state:
        prefix_tokens, grid_pos = _split_pos_embed(state.pop('pos_embed'))
        if prefix_tokens.shape[1] >= 1:
            state['pos_embed'] = torch.cat(
                [prefix_tokens[:, :1], interpolate_pos_embed(grid_pos, (PRETRAIN_GRID, PRETRAIN_GRID))], 1
            )
        else:
            state['pos_embed'] = torch.cat(
                [own['pos_embed'][:, :1], interpolate_pos_embed(grid_pos, (PRETRAIN_GRID, PRETRAIN_GRID))], 1
            )
    kernel = state.get('patch_embed.proj.weight')
    if kernel is not None and kernel.shape[-2:] != own['patch_embed.proj.weight'].shape[-2:]:
        state['patch_embed.proj.weight'] = F.interpolate(
            kernel.float(),
            size=own['patch_embed.proj.weight'].shape[-2:],
            mode='bicubic',
            align_corners=False,
        ).to(kernel.dtype)

    loadable, ignored = {}, []
    for key, value in state.items():
        if key in ('pos_embed_z', 'pos_embed_x') or key not in own:
            ignored.append(key)
            continue
        if value.shape != own[key].shape:
            raise ValueError(
                f"{path} ({cfg_key}): '{key}' has shape {tuple(value.shape)}, this backbone "
                f"needs {tuple(own[key].shape)} (wrong model size for MODEL.BACKBONE.TYPE?)"
            )
        loadable[key] = value
    backbone.load_state_dict(loadable, strict=False)
    if grid_pos is not None:
        backbone.reset_track_pos_embed(grid_pos.to(backbone.pos_embed.dtype))
    else:
        backbone.reset_track_pos_embed()
    not_loaded = sorted(k for k in own if k not in loadable and k not in ('pos_embed_z', 'pos_embed_x'))
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


def resolve_pretrained_path(name, cfg_key='MODEL.PRETRAIN_FILE'):
    """An absolute path, a path relative to the working directory, or a file name in the
    `pretrained_networks` folder of lib/train/admin/local.py (default <repo>/pretrained_models)."""

    candidates = [name] if os.path.isabs(name) else [os.path.abspath(name)]
    if not os.path.isabs(name):
        from lib.utils.local_settings import REPO_ROOT, LocalSettingsMissing

        folder = os.path.join(REPO_ROOT, 'pretrained_models')
        try:
            from lib.train.admin.environment import env_settings

            folder = getattr(env_settings(), 'pretrained_networks', '') or folder
        except LocalSettingsMissing:
            pass
        candidates.append(os.path.join(folder, name))
    for path in candidates:
        if os.path.isfile(path):
            return path
    raise FileNotFoundError(
        f"pretrained weights '{name}' (config key {cfg_key}) not found; looked at: {', '.join(candidates)}. "
        f"Put the file there (pretrained_networks in lib/train/admin/local.py), or set {cfg_key} to '' "
        f"to train from random initialisation"
    )
