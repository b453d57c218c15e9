"""LoRAT / DINOv2 weight files: official trainable-only checkpoints on a DINOv2 base, full unmerged and
merged checkpoints, timm-layout DINOv2 files, error messages, and the tiny config end to end."""

import pytest
import torch
import torch.nn as nn
from safetensors.torch import load_file, save_file
from timm.layers import SwiGLUPacked
from timm.models.vision_transformer import VisionTransformer

from lib.config import load_config
from lib.models.backbones.dinov2 import build_dinov2, load_dinov2_pretrained
from lib.models.lorat import build, load_checkpoint, save_weights, trainable_parameter_names
from lib.utils.io import atomic_torch_save


def randomize_(module, seed):
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            gamma = name.endswith('gamma')
            p.copy_(torch.randn(p.shape, generator=gen) * (0.3 if gamma else 0.1) + (1.0 if gamma else 0.0))
    return module


def inputs(seed=3):
    gen = torch.Generator().manual_seed(seed)
    return (
        torch.randn(2, 3, 56, 56, generator=gen),
        torch.randn(2, 3, 112, 112, generator=gen),
        torch.randint(0, 2, (2, 4, 4), generator=gen),
    )


@pytest.fixture
def setup(tmp_path):
    """A tiny config whose PRETRAIN_FILE is an official-layout DINOv2 file, and a trained-looking model."""
    cfg = load_config('lorat', 'tiny')
    bb = cfg.MODEL.BACKBONE
    backbone = build_dinov2(bb.TYPE, embed_dim=bb.EMBED_DIM, depth=bb.DEPTH, num_heads=bb.NUM_HEADS)
    randomize_(backbone, 5)
    dinov2 = tmp_path / 'dinov2_vits14_pretrain.pth'
    torch.save(backbone.state_dict(), dinov2)
    cfg.MODEL.PRETRAIN_FILE = str(dinov2)
    model = build(cfg, training=True)
    gen = torch.Generator().manual_seed(7)
    with torch.no_grad():
        for p in model.parameters():
            if p.requires_grad:
                p.copy_(torch.randn(p.shape, generator=gen) * 0.1)
    with torch.no_grad():
        reference = model.eval()(*inputs())
    return cfg, model, reference


def assert_same(out, ref):
    for key in ('score_map', 'boxes'):
        torch.testing.assert_close(out[key], ref[key], atol=2e-5, rtol=1e-4)


def run(model):
    with torch.no_grad():
        return model.eval()(*inputs())


def test_trainable_only_checkpoint_loads_on_dinov2_base(setup, tmp_path):
    cfg, model, reference = setup
    path = tmp_path / 'model.safetensors'
    save_weights(model, str(path), layout='trainable')
    saved = load_file(str(path))
    assert sorted(saved) == sorted(trainable_parameter_names(model))
    assert 'lora_alpha' not in saved and 'pos_embed' not in saved
    assert_same(run(build(cfg, training=False, checkpoint=str(path))), reference)
    fresh = build(cfg, training=True)
    assert_same(run(load_checkpoint(fresh, str(path))), reference)


def test_full_unmerged_and_merged_checkpoints_need_no_dinov2(setup, tmp_path):
    cfg, model, reference = setup
    no_base = load_config('lorat', 'tiny')  # PRETRAIN_FILE empty: random backbone, all from the file
    unmerged = tmp_path / 'LoRAT_ep0002.pth.tar'
    atomic_torch_save({'net': model.state_dict(), 'epoch': 2}, str(unmerged))
    assert_same(run(build(no_base, training=False, checkpoint=str(unmerged))), reference)
    # the training checkpoint (with the lora_alpha / use_rslora scalars) into an unmerged model too,
    # e.g. to go on training from it
    assert_same(run(load_checkpoint(build(no_base, training=True), str(unmerged))), reference)
    merged = tmp_path / 'release.safetensors'
    save_weights(model, str(merged), layout='merged')
    assert not any('lora' in k for k in load_file(str(merged)))
    assert_same(run(build(no_base, training=False, checkpoint=str(merged))), reference)
    # the pytracking reproduction's .pth: a full merged state dict (optionally under 'net')
    repro = tmp_path / 'base_224.pth'
    torch.save({'net': load_file(str(merged))}, repro)
    assert_same(run(build(no_base, training=False, checkpoint=str(repro))), reference)


def test_merged_checkpoint_as_pretrain_file_starts_training_from_it(setup, tmp_path):
    cfg, model, reference = setup
    merged = tmp_path / 'base_224.pth'
    save_weights(model, str(tmp_path / 'm.safetensors'), layout='merged')
    torch.save(load_file(str(tmp_path / 'm.safetensors')), merged)
    cfg.MODEL.PRETRAIN_FILE = str(merged)
    fresh = build(cfg, training=True)
    with torch.no_grad():
        for name, p in fresh.named_parameters():
            if name.endswith('lora.B'):
                p.zero_()  # without the new LoRA update the model is the checkpoint's
    assert_same(run(fresh), reference)


def test_clear_errors(setup, tmp_path):
    cfg, model, _ = setup
    path = tmp_path / 'model.safetensors'
    save_weights(model, str(path), layout='trainable')
    with pytest.raises(ValueError, match='PRETRAIN_FILE'):
        build(load_config('lorat', 'tiny'), training=False, checkpoint=str(path))
    wrong = tmp_path / 'dinov2_vitb14_pretrain.pth'
    torch.save(build_dinov2('ViT-S/14', embed_dim=64, depth=1, num_heads=2).state_dict(), wrong)
    cfg.MODEL.PRETRAIN_FILE = str(wrong)
    with pytest.raises(ValueError, match='dinov2_vitb14_pretrain.pth'):
        build(cfg, training=True)
    with pytest.raises(ValueError, match='not a LoRAT checkpoint'):
        load_checkpoint(model, str(wrong))
    # a full training checkpoint saved with another LoRA alpha would scale every update wrongly
    other_alpha = load_config('lorat', 'tiny')
    other_alpha.MODEL.LORA.ALPHA = 2 * cfg.MODEL.LORA.ALPHA
    unmerged = tmp_path / 'LoRAT_ep0001.pth.tar'
    atomic_torch_save({'net': model.state_dict(), 'epoch': 1}, str(unmerged))
    with pytest.raises(ValueError, match=r'LoRAT_ep0001.pth.tar: saved with lora_alpha=8 .*lora_alpha=16'):
        load_checkpoint(build(other_alpha, training=True), str(unmerged))


@pytest.mark.parametrize('swiglu', [False, True])
def test_timm_layout_dinov2_file_matches_timm_model(tmp_path, swiglu):
    dim = 48 if swiglu else 32
    extra = dict(mlp_ratio=2.66667 * 2, mlp_layer=SwiGLUPacked, act_layer=nn.SiLU) if swiglu else {}
    timm_model = VisionTransformer(
        img_size=56,
        patch_size=14,
        embed_dim=dim,
        depth=2,
        num_heads=2,
        init_values=1e-5,
        num_classes=0,
        **extra,
    )
    randomize_(timm_model, 11).eval()
    path = tmp_path / 'model.safetensors'
    save_file({k: v.contiguous() for k, v in timm_model.state_dict().items()}, str(path))
    kind = 'ViT-g/14' if swiglu else 'ViT-S/14'
    ours = build_dinov2(kind, embed_dim=dim, depth=2, num_heads=2, img_size=56)
    load_dinov2_pretrained(ours, str(path)).eval()
    x = torch.randn(2, 3, 56, 56, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        torch.testing.assert_close(
            ours.forward_features(x), timm_model.forward_features(x), atol=1e-5, rtol=1e-4
        )
    # the same weights in the official layout (mask_token, w12/w3) load to the same model
    official = {}
    for k, v in timm_model.state_dict().items():
        official[k.replace('.mlp.fc1.', '.mlp.w12.').replace('.mlp.fc2.', '.mlp.w3.') if swiglu else k] = v
    official['mask_token'] = torch.zeros(1, dim)
    torch.save(official, tmp_path / 'official.pth')
    again = build_dinov2(kind, embed_dim=dim, depth=2, num_heads=2, img_size=56)
    load_dinov2_pretrained(again, str(tmp_path / 'official.pth')).eval()
    with torch.no_grad():
        torch.testing.assert_close(again.forward_features(x), ours.forward_features(x))


def test_tiny_config_trains_only_the_official_trainable_set():
    cfg = load_config('lorat', 'tiny')
    assert cfg.DATA.TRAIN.DATASETS_NAME == ['SYNTHETIC']
    model = build(cfg, training=True).train()
    out = model(*inputs())
    assert out['score_map'].shape == (2, 8, 8) and out['boxes'].shape == (2, 8, 8, 4)
    (out['score_map'].sum() + out['boxes'].sum()).backward()
    with_grad = {n for n, p in model.named_parameters() if p.grad is not None}
    assert with_grad == set(trainable_parameter_names(model))
    assert all('.lora.' in n or n.startswith('head.') or n == 'token_type_embed' for n in with_grad)
    again = build(cfg, training=True)  # seeded init: the same weights every build
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), again.state_dict().values()))
