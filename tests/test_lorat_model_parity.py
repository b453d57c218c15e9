"""LoRAT outputs against outputs recorded from the official code (tests/data/lorat_official_parity.json).

Every tensor of two tiny models (GELU MLP, and fused SwiGLU as in ViT-g) is set by `formula`, written
to files in the official DINOv2 layout, timm's layout and the official trainable-only checkpoint layout,
then loaded by our code; the outputs must equal the official model's.
"""

import json
import math
import os
import zlib

import pytest
import torch
from safetensors.torch import save_file

from lib.config import load_config
from lib.models.lorat import build, load_checkpoint

DATA = json.load(open(os.path.join(os.path.dirname(__file__), 'data', 'lorat_official_parity.json')))
MASK = torch.tensor([[[0, 1], [1, 1]], [[0, 0], [0, 1]]])
TYPES = {'mlp': 'ViT-S/14', 'swiglu': 'ViT-g/14'}


def formula(key, shape):
    """Deterministic tensor per key (the same formula produced the recorded official outputs)."""
    n = math.prod(shape) if len(shape) else 1
    c = zlib.crc32(key.encode())
    freq, phase = 0.37 + (c % 1000) / 1000.0, (c // 1000 % 1000) / 100.0
    v = torch.sin(torch.arange(n, dtype=torch.float64) * freq + phase)
    if key.endswith('gamma'):
        v = 0.5 + 0.3 * v
    elif 'norm' in key and key.endswith('weight'):
        v = 1.0 + 0.1 * v
    elif '.lora.' in key:
        v = 0.3 * v
    elif key.startswith('head.') or key == 'token_type_embed':
        v = 0.5 * v
    else:
        v = 0.1 * v
    return v.reshape(shape).float()


def inputs():
    return formula('input.z', (2, 3, 28, 28)) * 10, formula('input.x', (2, 3, 56, 56)) * 10, MASK


def tiny_cfg(case, pretrain_file):
    rec = DATA[case]
    cfg = load_config('lorat', 'tiny')
    cfg.MODEL.BACKBONE.TYPE = TYPES[case]
    cfg.MODEL.BACKBONE.EMBED_DIM, cfg.MODEL.BACKBONE.DEPTH = rec['dim'], rec['depth']
    cfg.MODEL.BACKBONE.NUM_HEADS = rec['num_heads']
    cfg.DATA.TEMPLATE.SIZE, cfg.DATA.SEARCH.SIZE = 28, 56
    cfg.MODEL.LORA.R, cfg.MODEL.LORA.ALPHA = 4, 4.0
    cfg.MODEL.PRETRAIN_FILE = str(pretrain_file)
    return cfg


def official_dinov2_tensors(case):
    return {k: formula(k, tuple(shape)) for k, shape in DATA[case]['dinov2_keys']}


def timm_layout(tensors):
    """timm's vit_*_patch14_dinov2 layout: no mask_token, SwiGLU w12/w3 named fc1/fc2."""
    out = {}
    for k, v in tensors.items():
        if k == 'mask_token':
            continue
        out[k.replace('.mlp.w12.', '.mlp.fc1.').replace('.mlp.w3.', '.mlp.fc2.')] = v
    return out


def trainable_tensors(case):
    return {k: formula(k, tuple(shape)) for k, shape in DATA[case]['trainable_keys']}


def assert_outputs(out, expected, atol=2e-5):
    for key in ('score_map', 'boxes'):
        torch.testing.assert_close(out[key], torch.tensor(expected[key]), atol=atol, rtol=1e-4)


@pytest.mark.parametrize('case', ['mlp', 'swiglu'])
@pytest.mark.parametrize('layout', ['official', 'timm'])
def test_training_model_matches_official_unmerged(tmp_path, case, layout):
    tensors = official_dinov2_tensors(case)
    if layout == 'official':
        path = tmp_path / 'dinov2_pretrain.pth'
        torch.save(tensors, path)
    else:
        path = tmp_path / 'model.safetensors'
        save_file(timm_layout(tensors), str(path))
    model = build(tiny_cfg(case, path), training=True)
    load_checkpoint(model, trainable_tensors(case))
    model.eval()
    with torch.no_grad():
        out = model(*inputs())
    assert_outputs(out, DATA[case]['unmerged'])


@pytest.mark.parametrize('case', ['mlp', 'swiglu'])
def test_inference_model_from_trainable_only_checkpoint_matches_official(tmp_path, case):
    dinov2 = tmp_path / 'dinov2_pretrain.pth'
    torch.save(official_dinov2_tensors(case), dinov2)
    ckpt = tmp_path / 'model.bin'  # the released .bin files are safetensors inside
    save_file(trainable_tensors(case), str(ckpt))
    model = build(tiny_cfg(case, dinov2), training=False, checkpoint=str(ckpt)).eval()
    assert not any('lora' in k for k in model.state_dict())
    with torch.no_grad():
        out = model(*inputs())
    assert_outputs(out, DATA[case]['merged_from_trainable_only'])
    assert_outputs(out, DATA[case]['unmerged'])
