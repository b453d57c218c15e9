"""Tensor-only checkpoint reading and pretrained initialisation of the OSTrack family."""

import os
import pickle

import pytest
import torch
from safetensors.torch import save_file

from lib.config import experiment_file, load_config
from lib.models import build_model_from_cfg
from lib.models.backbones.vit_ce import interpolate_pos_embed
from lib.utils.checkpoint import load_tensors

SIDE_EFFECTS = []


def _touch(path):
    with open(path, 'w') as f:
        f.write('executed')
    return 'payload'


class ReducePayload:
    """Unpickling this the normal way calls _touch (a stand-in for arbitrary code in a checkpoint)."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (_touch, (self.path,))


class StatefulPayload:
    def __init__(self, path):
        self.path = path

    def __setstate__(self, state):
        _touch(state['path'])
        self.__dict__.update(state)


def test_pickled_objects_are_never_executed(tmp_path):
    flag_reduce, flag_state = tmp_path / 'reduce_ran', tmp_path / 'setstate_ran'
    weight = torch.arange(6.0).reshape(2, 3)
    path = tmp_path / 'OSTrack_ep0001.pth.tar'
    torch.save(
        {
            'net': {'w': weight, 'b': torch.tensor([1, 2]), 'view': weight[1]},
            'settings': ReducePayload(str(flag_reduce)),
            'stats': StatefulPayload(str(flag_state)),
            'epoch': 1,
        },
        path,
    )
    with pytest.raises(pickle.UnpicklingError):  # what PyTorch's safe loader says about this file
        torch.load(path, weights_only=True)
    tensors = load_tensors(path)
    assert not flag_reduce.exists() and not flag_state.exists()
    assert set(tensors) == {'w', 'b', 'view'}
    assert torch.equal(tensors['w'], weight) and torch.equal(tensors['view'], weight[1])
    assert tensors['b'].dtype == torch.int64
    # sanity: the payloads do run under a plain unpickler, so the check above is meaningful
    pickle.loads(pickle.dumps([ReducePayload(str(flag_reduce)), StatefulPayload(str(flag_state))]))
    assert flag_reduce.exists() and flag_state.exists()


def test_load_tensors_formats_and_wrappers(tmp_path):
    t = {'a.weight': torch.randn(3), 'a.bias': torch.zeros(2, dtype=torch.float16)}
    save_file(t, str(tmp_path / 'w.safetensors'))
    torch.save({'model': t}, tmp_path / 'mae.pth')
    torch.save({'state_dict': {'module.' + k: v for k, v in t.items()}}, tmp_path / 'ddp.bin')
    torch.save(t, tmp_path / 'plain.pth')
    for name in ('w.safetensors', 'mae.pth', 'ddp.bin', 'plain.pth'):
        loaded = load_tensors(tmp_path / name)
        assert set(loaded) == set(t) and all(torch.equal(loaded[k], t[k]) for k in t), name
    torch.save({'epoch': 3}, tmp_path / 'empty.pth')
    with pytest.raises(ValueError, match='empty.pth'):
        load_tensors(tmp_path / 'empty.pth')
    with pytest.raises(FileNotFoundError, match='nothere.pth'):
        load_tensors(tmp_path / 'nothere.pth')


def _tiny_cfg(script='ostrack', pretrain=''):
    cfg = load_config(script, yaml_path=experiment_file('ostrack', 'tiny_ce'))
    cfg.MODEL.PRETRAIN_FILE = pretrain
    cfg.MODEL.BACKBONE.EMBED_DIM, cfg.MODEL.BACKBONE.NUM_HEADS = 128, 4  # the size _vit_tensors writes
    return cfg


def _vit_tensors(dim=128, depth=4, grid=14, prefix_tokens=1, seed=0):
    g = torch.Generator().manual_seed(seed)
    out = {
        'cls_token': torch.randn(1, 1, dim, generator=g),
        'pos_embed': torch.randn(1, prefix_tokens + grid * grid, dim, generator=g),
        'patch_embed.proj.weight': torch.randn(dim, 3, 16, 16, generator=g),
        'patch_embed.proj.bias': torch.randn(dim, generator=g),
        'norm.weight': torch.randn(dim, generator=g),
        'norm.bias': torch.randn(dim, generator=g),
    }
    for i in range(depth):
        for name, shape in (
            ('norm1', (dim,)),
            ('attn.qkv', (3 * dim, dim)),
            ('attn.proj', (dim, dim)),
            ('norm2', (dim,)),
            ('mlp.fc1', (4 * dim, dim)),
            ('mlp.fc2', (dim, 4 * dim)),
        ):
            out[f'blocks.{i}.{name}.weight'] = torch.randn(*shape, generator=g)
            out[f'blocks.{i}.{name}.bias'] = torch.randn(shape[0], generator=g)
    return out


def test_mae_layout_init(tmp_path):
    vit = _vit_tensors()
    mae = dict(vit, mask_token=torch.zeros(1, 1, 128), **{'decoder_embed.weight': torch.zeros(64, 128)})
    path = tmp_path / 'mae_pretrain_vit_tiny.pth'
    torch.save({'model': mae, 'args': {'note': 'MAE'}}, path)
    model = build_model_from_cfg('ostrack', _tiny_cfg(pretrain=str(path)), training=True)
    bb = model.backbone
    assert torch.equal(bb.blocks[3].mlp.fc2.weight, vit['blocks.3.mlp.fc2.weight'])
    assert torch.equal(bb.patch_embed.proj.weight, vit['patch_embed.proj.weight'])
    assert torch.equal(bb.pos_embed, vit['pos_embed'])
    grid = vit['pos_embed'][:, 1:]
    assert torch.allclose(bb.pos_embed_z, interpolate_pos_embed(grid, (4, 4)))
    assert torch.allclose(bb.pos_embed_x, interpolate_pos_embed(grid, (8, 8)))
    # without training (test-time build) the file is not read
    untouched = build_model_from_cfg('ostrack', _tiny_cfg(pretrain=str(path)), training=False)
    assert not torch.equal(untouched.backbone.blocks[0].attn.qkv.weight, vit['blocks.0.attn.qkv.weight'])


def test_timm_layout_init_resamples_another_grid(tmp_path):
    vit = _vit_tensors(grid=24, prefix_tokens=0)  # e.g. a 384-px timm ViT without class token
    vit.update(
        {'head.weight': torch.zeros(10, 128), 'head.bias': torch.zeros(10), 'fc_norm.weight': torch.ones(128)}
    )
    path = tmp_path / 'vit_timm.safetensors'
    save_file(vit, str(path))
    model = build_model_from_cfg('ostrack', _tiny_cfg(pretrain=str(path)), training=True)
    bb = model.backbone
    assert torch.equal(bb.blocks[0].attn.qkv.bias, vit['blocks.0.attn.qkv.bias'])
    assert torch.allclose(bb.pos_embed_x, interpolate_pos_embed(vit['pos_embed'], (8, 8)))
    assert torch.allclose(bb.pos_embed[:, 1:], interpolate_pos_embed(vit['pos_embed'], (14, 14)))


def test_dropmae_init_loads_frame_identity_embeddings(tmp_path):
    vit = _vit_tensors()
    vit['temporal_pos_embed_x'] = torch.full((1, 1, 128), 0.5)
    vit['temporal_pos_embed_z'] = torch.full((1, 1, 128), -0.5)
    vit['decoder_blocks.0.norm1.weight'] = torch.zeros(3)
    path = tmp_path / 'dropmae.pth'
    torch.save({'model': vit}, path)
    model = build_model_from_cfg('droptrack', _tiny_cfg('droptrack', str(path)), training=True)
    assert torch.equal(model.backbone.temporal_pos_embed_x, vit['temporal_pos_embed_x'])
    assert torch.equal(model.backbone.temporal_pos_embed_z, vit['temporal_pos_embed_z'])


def test_wrong_size_and_foreign_files_are_named(tmp_path):
    torch.save({'model': _vit_tensors(dim=64)}, tmp_path / 'small.pth')
    with pytest.raises(ValueError, match=r"small\.pth.*blocks\.0\.attn\.qkv\.weight|small\.pth.*shape"):
        build_model_from_cfg('ostrack', _tiny_cfg(pretrain=str(tmp_path / 'small.pth')), training=True)
    torch.save({'model': {'conv1.weight': torch.zeros(3)}}, tmp_path / 'resnet.pth')
    with pytest.raises(ValueError, match='resnet.pth'):
        build_model_from_cfg('ostrack', _tiny_cfg(pretrain=str(tmp_path / 'resnet.pth')), training=True)


def test_missing_pretrained_file_names_file_and_key(tmp_path):
    missing = str(tmp_path / 'mae_pretrain_vit_base.pth')
    with pytest.raises(FileNotFoundError) as err:
        build_model_from_cfg('ostrack', _tiny_cfg(pretrain=missing), training=True)
    assert 'mae_pretrain_vit_base.pth' in str(err.value) and 'MODEL.PRETRAIN_FILE' in str(err.value)


def test_ostrack_named_file_initialises_the_whole_model(tmp_path):
    source = build_model_from_cfg('ostrack', _tiny_cfg(), training=False)
    path = tmp_path / 'OSTrack_ep0010.pth.tar'
    torch.save({'net': source.state_dict(), 'settings': ReducePayload(str(tmp_path / 'ran'))}, path)
    model = build_model_from_cfg('ostrack', _tiny_cfg(pretrain=str(path)), training=True)
    assert torch.equal(model.box_head.conv5_size.weight, source.box_head.conv5_size.weight)
    assert torch.equal(model.backbone.pos_embed_x, source.backbone.pos_embed_x)
    assert not os.path.exists(tmp_path / 'ran')
