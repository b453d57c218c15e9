"""OSTrack/DropTrack model: official layout, CE behaviour, head decoding, position embeddings, configs."""

import json
import math
import os

import pytest
import torch
import torch.nn.functional as F

from lib.config import available_configs, load_config
from lib.models import build_model, build_model_from_cfg
from lib.models.backbones.vit_ce import VisionTransformerCE, interpolate_pos_embed
from lib.models.layers.head import CenterPredictor
from lib.utils.ce import adjust_keep_rate, generate_ce_template_mask

DATA = os.path.join(os.path.dirname(__file__), 'data')
OFFICIAL_CONFIGS = {
    'ostrack': [
        'vitb_256_mae_32x4_ep300',
        'vitb_256_mae_ce_32x4_ep300',
        'vitb_256_mae_ce_32x4_got10k_ep100',
        'vitb_384_mae_32x4_ep300',
        'vitb_384_mae_ce_32x4_ep300',
        'vitb_384_mae_ce_32x4_got10k_ep100',
    ],
    'droptrack': ['vitb_384_mae_ce_32x4_ep300', 'vitb_384_mae_ce_32x4_got10k_ep100'],
}


def _official_shapes(name):
    with open(os.path.join(DATA, name)) as f:
        return {k: tuple(v) for k, v in json.load(f)['shapes'].items()}


def _narrow_cfg(script, config, dim=32, heads=2):
    """An official config with a thin ViT (same token grid and CE schedule), fast on CPU."""
    cfg = load_config(script, config)
    cfg.MODEL.BACKBONE.EMBED_DIM, cfg.MODEL.BACKBONE.NUM_HEADS = dim, heads
    cfg.MODEL.HEAD.NUM_CHANNELS = 16
    return cfg


class Settings:  # stands for the official trainer's pickled settings object
    def __init__(self):
        self.env = {'workspace_dir': '/somewhere'}


@pytest.mark.parametrize(
    'script,config,keys_file',
    [
        ('ostrack', 'vitb_256_mae_ce_32x4_ep300', 'ostrack_vitb_256_mae_ce_state_dict.json'),
        ('droptrack', 'vitb_384_mae_ce_32x4_ep300', 'droptrack_vitb_384_mae_ce_state_dict.json'),
    ],
)
def test_official_checkpoint_layout_loads_strictly(tmp_path, script, config, keys_file):
    shapes = _official_shapes(keys_file)
    gen = torch.Generator().manual_seed(0)
    state = {
        k: (
            torch.randint(0, 5, s, generator=gen)
            if k.endswith('num_batches_tracked')
            else torch.randn(s, generator=gen)
        )
        for k, s in shapes.items()
    }
    path = tmp_path / 'OSTrack_ep0300.pth.tar'
    torch.save(
        {'net': state, 'epoch': 300, 'net_type': 'OSTrack', 'settings': Settings(), 'constructor': None}, path
    )
    model = build_model(script, config, checkpoint=str(path))
    own = model.state_dict()
    assert {k: tuple(v.shape) for k, v in own.items()} == shapes
    assert torch.equal(own['backbone.blocks.5.attn.qkv.weight'], state['backbone.blocks.5.attn.qkv.weight'])
    assert not model.training


def test_ostrack_checkpoint_does_not_fit_droptrack(tmp_path):
    shapes = _official_shapes('droptrack_vitb_384_mae_ce_state_dict.json')
    state = {k: torch.zeros(s) for k, s in shapes.items() if 'temporal_pos_embed' not in k}
    path = tmp_path / 'ost384.pth'
    torch.save({'net': state}, path)
    with pytest.raises(ValueError, match='temporal_pos_embed'):
        build_model('droptrack', 'vitb_384_mae_ce_32x4_ep300', checkpoint=str(path))


@pytest.mark.parametrize(
    'config,remaining',
    [
        ('vitb_256_mae_ce_32x4_ep300', [256, 180, 126, 89]),
        ('vitb_384_mae_ce_32x4_ep300', [576, 404, 283, 199]),
    ],
)
def test_ce_token_counts_per_layer(config, remaining):
    cfg = _narrow_cfg('ostrack', config)
    model = build_model_from_cfg('ostrack', cfg, training=False).eval()
    z_sz, x_sz = cfg.DATA.TEMPLATE.SIZE, cfg.DATA.SEARCH.SIZE
    mask = generate_ce_template_mask(cfg, 2, 'cpu')
    with torch.no_grad():
        out = model(
            torch.randn(2, 3, z_sz, z_sz),
            torch.randn(2, 3, x_sz, x_sz),
            ce_template_mask=mask,
            return_last_attn=True,
        )
    removed = out['aux_dict']['removed_indexes_s']
    assert [r.shape[1] for r in removed] == [a - b for a, b in zip(remaining, remaining[1:])]
    lens_z = (z_sz // 16) ** 2
    assert out['aux_dict']['attn'].shape[-1] == lens_z + remaining[-1]
    # eliminated positions are zeros in the restored search map, survivors are not
    search = out['backbone_feat'][:, lens_z:]
    all_removed = torch.cat(removed, dim=1)
    assert search.gather(1, all_removed[..., None].expand(-1, -1, search.shape[-1])).abs().max() == 0
    assert (search.abs().sum(-1) > 0).sum(1).tolist() == [remaining[-1]] * 2
    assert all(len(set(r.tolist())) == all_removed.shape[1] for r in all_removed)


def test_ce_keeps_the_tokens_the_template_centre_attends_to():
    torch.manual_seed(0)
    vit = VisionTransformerCE(
        template_size=64, search_size=128, embed_dim=32, depth=1, num_heads=2, ce_loc=[0], ce_keep_ratio=[0.5]
    ).eval()
    z, x = torch.randn(1, 3, 64, 64), torch.randn(1, 3, 128, 128)
    centre = torch.zeros(1, 16, dtype=torch.bool)
    centre[0, 5] = True
    with torch.no_grad():
        _, aux = vit(z, x, ce_template_mask=centre)
        # reference: explicit softmax attention of template token 5 over all tokens, averaged over heads
        blk = vit.blocks[0]
        tokens = torch.cat(vit.embed(z, x), dim=1)
        q, k, _ = blk.attn.qkv(blk.norm1(tokens)).reshape(1, 80, 3, 2, 16).permute(2, 0, 3, 1, 4)
        probs = (q[:, :, 5:6] @ k.transpose(-2, -1) / math.sqrt(16)).softmax(-1)[..., 16:].mean(dim=(1, 2))
    expected_removed = set(probs[0].argsort()[:32].tolist())
    assert set(aux['removed_indexes_s'][0][0].tolist()) == expected_removed


def test_keep_rate_override_and_output_shapes():
    cfg = load_config('ostrack', 'tiny_ce')  # with CE after blocks 1 and 2 whatever the yaml says
    cfg.MODEL.BACKBONE.CE_LOC, cfg.MODEL.BACKBONE.CE_KEEP_RATIO = [1, 2], [0.7, 0.7]
    model = build_model_from_cfg('ostrack', cfg, training=True).eval()
    z, x = torch.randn(2, 3, 64, 64), torch.randn(2, 3, 128, 128)
    with torch.no_grad():
        out = model(z, x)
        off = model(z, x, ce_keep_rate=1.0)
        half = model(z, x, ce_keep_rate=0.5)
    assert out['pred_boxes'].shape == (2, 1, 4)
    assert out['score_map'].shape == (2, 1, 8, 8)
    assert out['size_map'].shape == out['offset_map'].shape == (2, 2, 8, 8)
    assert out['backbone_feat'].shape == (2, 16 + 64, model.cfg.MODEL.BACKBONE.EMBED_DIM)
    assert 0 < out['score_map'].min() and out['score_map'].max() < 1
    assert [r.shape[1] for r in out['removed_indexes_s']] == [64 - 45, 45 - 32]  # ceil(0.7 * n)
    assert off['removed_indexes_s'] == [None, None]
    assert [r.shape[1] for r in half['removed_indexes_s']] == [32, 16]


def test_non_ce_type_ignores_ce_keys():
    cfg = _narrow_cfg('ostrack', 'vitb_256_mae_32x4_ep300')
    cfg.MODEL.BACKBONE.CE_LOC, cfg.MODEL.BACKBONE.CE_KEEP_RATIO = [3], [0.5]
    model = build_model_from_cfg('ostrack', cfg, training=False).eval()
    with torch.no_grad():
        out = model(torch.randn(1, 3, 128, 128), torch.randn(1, 3, 256, 256))
    assert out['removed_indexes_s'] == [] and out['backbone_feat'].shape[1] == 320


@pytest.mark.parametrize('H,W', [(8, 8), (6, 10)])
def test_cal_bbox_decodes_peak_size_and_offset(H, W):
    score = torch.full((2, 1, H, W), 0.1)
    size = torch.zeros(2, 2, H, W)
    offset = torch.zeros(2, 2, H, W)
    peaks = [(5, 2), (0, W - 1)]
    for b, (r, c) in enumerate(peaks):
        score[b, 0, r, c] = 0.9
        size[b, :, r, c] = torch.tensor([0.3, 0.4 + b / 10])
        offset[b, :, r, c] = torch.tensor([0.25, -0.5])
    box = CenterPredictor.cal_bbox(score, size, offset)
    expected = torch.tensor(
        [[(2 + 0.25) / W, (5 - 0.5) / H, 0.3, 0.4], [(W - 1 + 0.25) / W, (0 - 0.5) / H, 0.3, 0.5]]
    )
    assert torch.allclose(box, expected)
    _, best = CenterPredictor.cal_bbox(score, size, offset, return_score=True)
    assert torch.allclose(best, torch.full((2, 1), 0.9))


def test_pos_embed_interpolation():
    grid = torch.randn(1, 14 * 14, 8)
    same = interpolate_pos_embed(grid, (14, 14))
    assert torch.equal(same, grid)
    out = interpolate_pos_embed(grid, (8, 8))
    ref = (
        F.interpolate(
            grid.transpose(1, 2).reshape(1, 8, 14, 14), size=(8, 8), mode='bicubic', align_corners=False
        )
        .flatten(2)
        .transpose(1, 2)
    )
    assert torch.allclose(out, ref)
    const = interpolate_pos_embed(torch.full((1, 196, 3), 2.5), (24, 24))
    assert const.shape == (1, 576, 3) and torch.allclose(const, torch.full_like(const, 2.5))
    vit = VisionTransformerCE(template_size=128, search_size=256, embed_dim=16, depth=1, num_heads=2)
    assert torch.allclose(vit.pos_embed_x, interpolate_pos_embed(vit.pos_embed[:, 1:].detach(), (16, 16)))
    with pytest.raises(ValueError, match='square'):
        interpolate_pos_embed(torch.zeros(1, 10, 4), (2, 2))


def test_template_masks():
    cfg = load_config('ostrack', 'vitb_256_mae_ce_32x4_ep300')
    assert generate_ce_template_mask(cfg, 2, 'cpu').nonzero()[:, 1].tolist() == [3 * 8 + 3] * 2
    cfg384 = load_config('ostrack', 'vitb_384_mae_ce_32x4_ep300')
    assert generate_ce_template_mask(cfg384, 1, 'cpu').nonzero()[:, 1].tolist() == [5 * 12 + 5]
    cfg.MODEL.BACKBONE.CE_TEMPLATE_RANGE = 'CTR_REC'
    assert generate_ce_template_mask(cfg, 1, 'cpu').nonzero()[:, 1].tolist() == [27, 28, 35, 36]
    cfg.MODEL.BACKBONE.CE_TEMPLATE_RANGE = 'ALL'
    assert generate_ce_template_mask(cfg, 1, 'cpu') is None
    cfg.MODEL.BACKBONE.CE_TEMPLATE_RANGE = 'GT_BOX'
    mask = generate_ce_template_mask(cfg, 1, 'cpu', torch.tensor([[0.25, 0.25, 0.5, 0.5]]))
    expected = torch.zeros(8, 8, dtype=torch.bool)
    expected[2:6, 2:6] = True  # pixels 32..94 cover the sample points 16 i + 7.5 of tokens 2..5
    assert torch.equal(mask[0], expected.flatten())
    cfg.MODEL.BACKBONE.CE_TEMPLATE_RANGE = 'CENTER'
    with pytest.raises(ValueError, match='CE_TEMPLATE_RANGE'):
        generate_ce_template_mask(cfg, 1, 'cpu')


def test_keep_rate_schedule_matches_published_values():
    rate = [adjust_keep_rate(e, 20, 100, 1, base_keep_rate=0.7) for e in range(0, 120)]
    assert rate[1:20] == [1] * 19
    assert rate[40] == pytest.approx(0.956, abs=1e-3)
    assert rate[60] == pytest.approx(0.85, abs=1e-3)
    assert rate[80] == pytest.approx(0.744, abs=1e-3)
    assert all(r == pytest.approx(0.7, abs=1e-3) for r in rate[99:])
    assert adjust_keep_rate(45, 20, 70, 1, base_keep_rate=0.7) == pytest.approx(0.85, abs=1e-3)


def test_all_official_yaml_files_load():
    for script, names in OFFICIAL_CONFIGS.items():
        assert set(names) <= set(available_configs(script))
        for name in names:
            cfg = load_config(script, name)
            assert cfg.TEST.SEARCH_SIZE == cfg.DATA.SEARCH.SIZE and cfg.TEST.EPOCH == cfg.TRAIN.EPOCH
            assert cfg.MODEL.BACKBONE.FRAME_IDENTITY_EMBED == (script == 'droptrack')
    assert load_config('droptrack', 'vitb_384_mae_ce_32x4_ep300').TRAIN.LR == 0.00025
    got10k = load_config('ostrack', 'vitb_256_mae_ce_32x4_got10k_ep100')
    assert (got10k.TRAIN.EPOCH, got10k.TRAIN.LR_DROP_EPOCH, got10k.TRAIN.CE_WARM_EPOCH) == (100, 80, 50)
    assert got10k.DATA.TRAIN.DATASETS_NAME == ['GOT10K_train_full']
    tiny = load_config('ostrack', 'tiny_ce')
    assert tiny.DATA.TRAIN.DATASETS_NAME == ['SYNTHETIC'] and tiny.MODEL.PRETRAIN_FILE == ''


def test_bad_backbone_type_is_named():
    cfg = load_config('ostrack', 'tiny_ce')
    cfg.MODEL.BACKBONE.TYPE = 'vit_huge_patch14'
    with pytest.raises(ValueError, match='vit_huge_patch14'):
        build_model_from_cfg('ostrack', cfg)
