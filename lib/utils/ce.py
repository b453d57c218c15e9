"""Candidate-elimination (CE) helpers shared by the OSTrack-family tracker and training actor.

generate_ce_template_mask picks the template tokens whose attention ranks the search tokens
(MODEL.BACKBONE.CE_TEMPLATE_RANGE); adjust_keep_rate is the training-time keep-ratio schedule;
ce_layers says whether, and where, a config eliminates candidates.
"""

import math

import torch
import torch.nn.functional as F

# The lineage's switch: a backbone type named '<vit>_ce' eliminates candidates at CE_LOC.
CE_TYPE_SUFFIX = '_ce'


def ce_layers(cfg) -> list[int]:
    """The backbone blocks that run candidate elimination, decided here for the model, the training
    actor and the tracker alike: MODEL.BACKBONE.CE_LOC when MODEL.BACKBONE.TYPE ends in '_ce', else
    none (a CE_LOC beside a type without the suffix is ignored, as in the lineage)."""
    backbone = cfg.MODEL.BACKBONE
    return [int(i) for i in backbone.CE_LOC] if str(backbone.TYPE).endswith(CE_TYPE_SUFFIX) else []


def _center_slice(grid, length):
    """The official centre indices: start (grid-1)//2 (3 for 8x8, 5 for 12x12, 3 for 7x7, 6 for 14x14)."""
    start = (grid - 1) // 2
    return slice(start, min(grid, start + length))


def generate_ce_template_mask(cfg, batch, device, template_bb=None):
    """(batch, L_z) bool mask over the template tokens, or None for 'ALL'.

    CE_TEMPLATE_RANGE: 'ALL' -> None; 'CTR_POINT' -> the centre token; 'CTR_REC' -> the 2x2 centre
    block (1 token for odd grids); 'GT_BOX' -> tokens covered by `template_bb` (batch, 4) x,y,w,h
    normalized to the template crop (the box is rasterised at pixel level and bilinearly downsampled,
    as the official code does). Grid = DATA.TEMPLATE.SIZE // MODEL.BACKBONE.STRIDE.
    """
    mode = cfg.MODEL.BACKBONE.CE_TEMPLATE_RANGE
    size, stride = cfg.DATA.TEMPLATE.SIZE, cfg.MODEL.BACKBONE.STRIDE
    grid = size // stride
    if mode == 'ALL':
        return None
    if mode in ('CTR_POINT', 'CTR_REC'):
        index = _center_slice(grid, 1 if mode == 'CTR_POINT' or grid % 2 else 2)
        mask = torch.zeros(batch, grid, grid, dtype=torch.bool, device=device)
        mask[:, index, index] = True
        return mask.flatten(1)
    if mode == 'GT_BOX':
        if template_bb is None:
            raise ValueError("CE_TEMPLATE_RANGE 'GT_BOX' needs the template box (template_bb)")
        box = torch.as_tensor(template_bb, dtype=torch.float32, device=device).reshape(batch, 4) * size
        coords = torch.arange(size, device=device, dtype=torch.float32)
        # pixels [int(y), int(y + h - 1)) x [int(x), int(x + w - 1)), the official rasterisation
        x0, y0 = box[:, 0].trunc(), box[:, 1].trunc()
        x1, y1 = (box[:, 0] + box[:, 2] - 1).trunc(), (box[:, 1] + box[:, 3] - 1).trunc()
        cols = (coords[None] >= x0[:, None]) & (coords[None] < x1[:, None])
        rows = (coords[None] >= y0[:, None]) & (coords[None] < y1[:, None])
        pixel_mask = (rows[:, :, None] & cols[:, None, :]).float().unsqueeze(1)
        small = F.interpolate(pixel_mask, scale_factor=1.0 / stride, mode='bilinear', align_corners=False)
        return small.flatten(1).to(torch.bool)
    raise ValueError(
        f"MODEL.BACKBONE.CE_TEMPLATE_RANGE '{mode}' is not one of ALL, CTR_POINT, CTR_REC, GT_BOX"
    )


def adjust_keep_rate(
    epoch, warmup_epochs, total_epochs, iters_per_epoch=1, base_keep_rate=0.5, max_keep_rate=1.0, iters=-1
):
    """CE keep rate for `epoch` (1-based, as the trainer counts): 1 before `warmup_epochs`
    (= CE_START_EPOCH), `base_keep_rate` from `total_epochs` (= CE_START_EPOCH + CE_WARM_EPOCH) on, and a
    half-cosine from max_keep_rate down to base in between. `iters` (default epoch * iters_per_epoch)
    allows a per-iteration schedule; the official training passes iters_per_epoch=1 (per-epoch values)."""
    if epoch < warmup_epochs:
        return 1
    if epoch >= total_epochs:
        return base_keep_rate
    step = epoch * iters_per_epoch if iters == -1 else iters
    first, length = warmup_epochs * iters_per_epoch, (total_epochs - warmup_epochs) * iters_per_epoch
    progress = (step - first) / length
    weight = 0.5 * (1 + math.cos(progress * math.pi))  # 1 at the ramp's start, 0 at its end
    return base_keep_rate + (max_keep_rate - base_keep_rate) * weight
