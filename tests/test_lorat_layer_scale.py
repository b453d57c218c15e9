"""The frozen random stand-in backbone of the tiny LoRAT configs: MODEL.BACKBONE.LAYER_SCALE_INIT decides
whether its blocks reach the residual stream at all (DINOv2's own 1e-5 start value makes the template
nearly invisible to the search tokens, so the tiny tracker could not learn)."""

import torch

from lib.config import load_config
from lib.models import build_model_from_cfg


def _template_effect(layer_scale):
    cfg = load_config('lorat', 'tiny_quickstart')
    cfg.MODEL.BACKBONE.LAYER_SCALE_INIT = layer_scale
    model = build_model_from_cfg('lorat', cfg, training=True).eval()
    gammas = [p for n, p in model.named_parameters() if n.endswith('.gamma')]
    assert gammas and all(torch.all(g == layer_scale) for g in gammas)
    torch.manual_seed(0)
    z_size, x_size = cfg.DATA.TEMPLATE.SIZE, cfg.DATA.SEARCH.SIZE
    x = torch.randn(1, 3, x_size, x_size)
    grid = z_size // cfg.MODEL.BACKBONE.STRIDE
    mask = torch.zeros(1, grid, grid, dtype=torch.bool)
    mask[:, 1:3, 1:3] = True
    with torch.no_grad():
        a = model(torch.randn(1, 3, z_size, z_size), x, mask)['score_map']
        b = model(torch.randn(1, 3, z_size, z_size), x, mask)['score_map']
    return float((a - b).abs().mean() / a.abs().mean())


def test_layer_scale_init_lets_the_template_reach_the_search_tokens():
    tiny, stand_in = _template_effect(1e-5), _template_effect(0.1)
    # at DINOv2's start value the blocks are almost the identity: the template barely moves the scores
    assert stand_in > 1000 * tiny
