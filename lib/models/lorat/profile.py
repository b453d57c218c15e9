"""Profiling inputs for lib/utils/profiling.py (tracking/profile_model.py --script lorat): the official
model_profile's sample data, i.e. images of constant 0.5 and an all-foreground template mask."""

import torch

from lib.models.lorat.builder import feature_grids


def profile_inputs(cfg, batch=1):
    """(z, x, z_feat_mask) forward arguments at batch `batch` for the config's crop sizes."""
    (zh, zw), _ = feature_grids(cfg)
    z = torch.full((batch, 3, cfg.DATA.TEMPLATE.SIZE, cfg.DATA.TEMPLATE.SIZE), 0.5)
    x = torch.full((batch, 3, cfg.DATA.SEARCH.SIZE, cfg.DATA.SEARCH.SIZE), 0.5)
    return z, x, torch.ones(batch, zh, zw, dtype=torch.long)


def export_inputs(cfg, batch: int = 1):
    """The forward's named example inputs (z, x, z_feat_mask of profile_inputs) and its two outputs."""
    from lib.families import ExportInputs

    z, x, z_feat_mask = profile_inputs(cfg, batch)
    return ExportInputs(inputs={'z': z, 'x': x, 'z_feat_mask': z_feat_mask}, outputs=('score_map', 'boxes'))
