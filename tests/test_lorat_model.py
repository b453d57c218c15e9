"""LoRAT layout against the official model's recorded state dicts, freezing, LoRA merging, the head."""

import hashlib
import json
import os

import pytest
import torch

from lib.config import load_config
from lib.models.layers.lora import merge_lora_state_dict
from lib.models.lorat import (
    build,
    merge_lora_weights_,
    merged_model,
    template_foreground_mask,
    trainable_parameter_names,
)

DATA_DIR = os.path.join(os.path.dirname(__file__), 'data')
OFFICIAL = json.load(open(os.path.join(DATA_DIR, 'lorat_official_keys.json')))
BASE_224 = json.load(open(os.path.join(DATA_DIR, 'lorat_base_224_official_keys.json')))
VARIANTS = [f'{size}_{res}' for size in ('small', 'base', 'large', 'giant') for res in (224, 378)]


def expand(entry, with_shapes=True):
    """The recorded compressed list -> the full ordered list (see the json's _source)."""
    depth = range(entry['depth'])
    if with_shapes:
        block = [[f'blocks.{i}.{k}', s] for i in depth for k, s in entry['block']]
    else:
        block = [f'blocks.{i}.{k}' for i in depth for k in entry['block']]
    return entry['before_blocks'] + block + entry['after_blocks']


def layout(state_dict):
    return [[k, list(v.shape)] for k, v in state_dict.items()]


def variant_cfg(name):
    cfg = load_config('lorat', name)
    cfg.MODEL.PRETRAIN_FILE = ''  # random weights: the layout does not depend on them
    return cfg


def build_on(name, device, training=True):
    with torch.device(device):
        return build(variant_cfg(name), training=training)


def test_recorded_lists_expand_to_their_hashes():
    for name in VARIANTS:
        rec = OFFICIAL['variants'][name]
        for kind in ('unmerged', 'merged'):
            full = expand(rec[kind])
            digest = hashlib.sha256(json.dumps(full).encode()).hexdigest()
            assert digest == rec[kind + '_sha256'], (name, kind)
    assert expand(OFFICIAL['variants']['base_224']['unmerged']) == BASE_224['unmerged']


def test_small_224_on_cpu_has_official_layout_and_trainable_set():
    model = build_on('small_224', 'cpu')
    rec = OFFICIAL['variants']['small_224']
    assert layout(model.state_dict()) == expand(rec['unmerged'])
    assert trainable_parameter_names(model) == expand(rec['trainable'], with_shapes=False)
    assert float(model.state_dict()['lora_alpha']) == OFFICIAL['lora_alpha_in_state_dict']


@pytest.mark.parametrize('name', VARIANTS)
def test_every_variant_matches_official_layouts(name):
    model = build_on(name, 'meta')
    rec = OFFICIAL['variants'][name]
    assert layout(model.state_dict()) == expand(rec['unmerged'])
    assert trainable_parameter_names(model) == expand(rec['trainable'], with_shapes=False)
    assert layout(merge_lora_weights_(model).state_dict()) == expand(rec['merged'])
    assert layout(build_on(name, 'meta', training=False).state_dict()) == expand(rec['merged'])


def test_base_224_full_lists():
    model = build_on('base_224', 'meta')
    assert layout(model.state_dict()) == BASE_224['unmerged']
    assert trainable_parameter_names(model) == BASE_224['trainable']


def randomized_tiny(seed=1):
    """Tiny training model with every tensor random and LayerScale ~ 1, so LoRA visibly changes outputs."""
    model = build(load_config('lorat', 'tiny'), training=True)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.copy_(
                torch.randn(p.shape, generator=gen) * (0.5 if name.endswith('gamma') else 0.1)
                + (1.0 if name.endswith('gamma') else 0.0)
            )
    return model.eval()


def tiny_inputs(seed=2):
    gen = torch.Generator().manual_seed(seed)
    z = torch.randn(2, 3, 56, 56, generator=gen)
    x = torch.randn(2, 3, 112, 112, generator=gen)
    return z, x, torch.randint(0, 2, (2, 4, 4), generator=gen)


def test_merged_equals_unmerged_and_lora_matters():
    model = randomized_tiny()
    inputs = tiny_inputs()
    with torch.no_grad():
        ref = model(*inputs)
        merged = merged_model(model)
        out = merged(*inputs)
        for name, p in model.named_parameters():
            if name.endswith('lora.B'):
                p.zero_()
        no_lora = model(*inputs)
    for key in ('score_map', 'boxes'):
        torch.testing.assert_close(out[key], ref[key], atol=1e-5, rtol=1e-4)
        assert (no_lora[key] - ref[key]).abs().max() > 1e-3
    assert not any('lora' in k for k in merged.state_dict())
    assert all(p.requires_grad for p in merged.parameters())


def test_state_dict_merge_equals_module_merge():
    model = randomized_tiny()
    target = build(load_config('lorat', 'tiny'), training=False)
    merged_sd = merge_lora_state_dict(model.state_dict(), target.state_dict())
    target.load_state_dict(merged_sd, strict=True)
    reference = merged_model(model).state_dict()
    assert set(merged_sd) == set(reference)
    for k, v in reference.items():
        torch.testing.assert_close(merged_sd[k], v, atol=1e-6, rtol=1e-5)


def test_freezing_and_lora_init():
    model = build(load_config('lorat', 'tiny'), training=True)
    frozen = {n for n, p in model.named_parameters() if not p.requires_grad}
    assert 'pos_embed' in frozen and 'patch_embed.proj.weight' in frozen and 'norm.weight' in frozen
    assert 'blocks.0.attn.qkv.q.linear.weight' in frozen and 'blocks.0.ls1.gamma' in frozen
    lora_b = model.blocks[0].attn.qkv.q.lora.B
    # official 'bert' init: A and B trunc-normal with std 0.02 (B not zero); alpha 8 / r 8 -> scaling 1
    assert abs(lora_b.std().item() - 0.02) < 0.004 and abs(lora_b.mean().item()) < 0.004
    assert model.blocks[0].attn.qkv.q.lora.scaling == 1.0


def test_head_decodes_ltrb_around_cell_centres():
    model = build(load_config('lorat', 'tiny'), training=False).eval()
    last = model.head.reg_mlp.layers[-1]
    with torch.no_grad():
        last.weight.zero_()
        last.bias.copy_(torch.tensor([0.0, 0.0, 0.0, 0.0]))  # sigmoid -> 0.5 on every side
        boxes = model(*tiny_inputs())['boxes']
    h = w = 8
    cx = (torch.arange(w) + 0.5) / w
    cy = (torch.arange(h) + 0.5) / h
    assert boxes.shape == (2, h, w, 4)
    torch.testing.assert_close(boxes[0, 3, :, 0], cx - 0.5)
    torch.testing.assert_close(boxes[1, :, 5, 3], cy + 0.5)


def test_template_foreground_mask_rasterises_like_official():
    # template 112 px, 8x8 grid (stride 14); x2/y2 -> floor(v / 14 + 1 - 1e-4), end exclusive
    boxes = torch.tensor([[14.0, 14.0, 42.0, 28.0], [15.0, 20.0, 43.5, 29.0]])
    mask = template_foreground_mask(boxes, (112, 112), (8, 8))
    expected0 = torch.zeros(8, 8, dtype=torch.long)
    expected0[1:2, 1:3] = 1
    expected1 = torch.zeros(8, 8, dtype=torch.long)
    expected1[1:3, 1:4] = 1
    assert torch.equal(mask[0], expected0) and torch.equal(mask[1], expected1)
    clipped = template_foreground_mask(torch.tensor([[-20.0, 100.0, 500.0, 200.0]]), (112, 112), (8, 8))
    assert clipped[0, 7].tolist() == [1] * 8 and clipped[0, :7].sum() == 0


@pytest.mark.parametrize('name', VARIANTS)
def test_experiment_configs_carry_the_official_recipe(name):
    size, res = name.split('_')
    for protocol in ('', '_got10k'):
        cfg = load_config('lorat', name + protocol)
        assert (
            cfg.MODEL.BACKBONE.TYPE
            == {'small': 'ViT-S/14', 'base': 'ViT-B/14', 'large': 'ViT-L/14', 'giant': 'ViT-g/14'}[size]
        )
        assert cfg.TRAIN.DROP_PATH_RATE == {'small': 0.0, 'base': 0.0, 'large': 0.1, 'giant': 0.4}[size]
        assert (cfg.DATA.TEMPLATE.SIZE, cfg.DATA.SEARCH.SIZE, cfg.DATA.SEARCH.FACTOR) == (
            (112, 224, 4.0) if res == '224' else (196, 378, 5.0)
        )
        assert (cfg.TEST.TEMPLATE_SIZE, cfg.TEST.SEARCH_SIZE) == (
            cfg.DATA.TEMPLATE.SIZE,
            cfg.DATA.SEARCH.SIZE,
        )
        assert (cfg.MODEL.LORA.R, cfg.MODEL.LORA.ALPHA, cfg.MODEL.LORA.DROPOUT) == (64, 64.0, 0.0)
        assert (cfg.TRAIN.LR, cfg.TRAIN.WEIGHT_DECAY, cfg.TRAIN.GRAD_CLIP_NORM) == (1e-4, 0.1, 1.0)
        assert cfg.TRAIN.GLOBAL_BATCH_SIZE == 128 and cfg.DATA.TRAIN.SAMPLE_PER_EPOCH == 131072
        if protocol:
            assert cfg.TRAIN.EPOCH == 100 and cfg.DATA.TRAIN.DATASETS_NAME == ['GOT10K_train_full']
        else:
            assert cfg.TRAIN.EPOCH == 170
            assert cfg.DATA.TRAIN.DATASETS_NAME == ['LASOT', 'GOT10K_vottrain', 'COCO17', 'TRACKINGNET']
            assert cfg.DATA.TRAIN.DATASETS_RATIO == [1, 1, 1, 1]


def test_giant_style_batch_stochastic_depth_drops_samples_and_rescales():
    from lib.models.backbones.dinov2 import DinoV2Block, _residual_on_sample_subset

    x = torch.zeros(5, 6, 32)
    y = _residual_on_sample_subset(x, torch.ones_like, 0.4)
    # int(5 * 0.6) = 3 samples get the branch, scaled by 5 / 3; the other 2 stay unchanged
    per_sample = y.flatten(1)
    assert sorted(per_sample.amax(dim=1).tolist()) == pytest.approx([0.0, 0.0, 5 / 3, 5 / 3, 5 / 3])
    assert torch.equal(per_sample.amin(dim=1), per_sample.amax(dim=1))
    block = DinoV2Block(32, 2, ffn='swiglu', drop_path=0.4, init_values=1.0)
    x = torch.randn(5, 6, 32)
    assert block.train()(x).shape == x.shape
    block.eval()
    assert torch.equal(block(x), block(x))
