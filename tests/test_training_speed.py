"""Training speed paths: fused AdamW (choice, same update, resume), bf16 autocast for every family on
the CPU, and the training benchmark (names, numbers, plain and optimised steps agreeing)."""

import math
import os

import pytest
import torch
import yaml

from lib.benchmark.training import (
    TrainingStep,
    benchmark_config,
    measure_training,
    measure_training_paths,
    synthetic_batch,
)
from lib.config import ConfigError, load_config
from lib.train.actors import ostrack
from lib.train.data.loader import collate_stack1
from lib.train.trainers.optim import FusedOptimizerUnsupported, build_optimizer, is_fused
from lib.train.trainers.trainer import Trainer
from tests.train_fixtures import TinyOSTrackLike, ToyVideoDataset, tiny_cfg

DEVICES = ['cpu'] + (['cuda'] if torch.cuda.is_available() else [])


def _groups(device='cpu', seed=0):
    g = torch.Generator().manual_seed(seed)
    head = torch.nn.Parameter(torch.randn(6, 5, generator=g).to(device))
    backbone = torch.nn.Parameter(torch.randn(7, generator=g).to(device))
    return [{'params': [head]}, {'params': [backbone], 'lr': 1e-4}]


@pytest.mark.parametrize('device', DEVICES)
def test_fused_and_multi_tensor_adamw_make_the_same_update_with_the_same_groups(device):
    cfg = tiny_cfg()
    cfg.TRAIN.LR, cfg.TRAIN.WEIGHT_DECAY = 1e-2, 0.05
    fused = build_optimizer(cfg, _groups(device), fused=True)
    plain = build_optimizer(cfg, _groups(device), fused=False)
    assert is_fused(fused) and not is_fused(plain)
    for opt in (fused, plain):
        assert [g['lr'] for g in opt.param_groups] == [1e-2, 1e-4]
        assert [g['weight_decay'] for g in opt.param_groups] == [0.05, 0.05]
    g = torch.Generator().manual_seed(1)
    for _ in range(3):
        grads = [torch.randn(6, 5, generator=g), torch.randn(7, generator=g)]
        for opt in (fused, plain):
            for group, grad in zip(opt.param_groups, grads):
                group['params'][0].grad = grad.to(device)
            opt.step()
    for a, b in zip(fused.param_groups, plain.param_groups):
        torch.testing.assert_close(a['params'][0], b['params'][0], rtol=1e-5, atol=1e-6)


def test_fused_setting_auto_forced_and_invalid():
    cfg = load_config('ostrack')
    assert cfg.TRAIN.FUSED_OPTIMIZER == 'auto' and load_config('lorat').TRAIN.FUSED_OPTIMIZER == 'auto'
    assert load_config('droptrack').TRAIN.FUSED_OPTIMIZER == 'auto'
    assert load_config('compresstracker').TRAIN.GRAD_CHECKPOINT is False
    # this torch build has the fused CPU kernel (torch >= 2.4): 'auto' takes it, 'false' does not
    assert is_fused(build_optimizer(cfg, _groups()))
    cfg.TRAIN.FUSED_OPTIMIZER = 'false'
    assert not is_fused(build_optimizer(cfg, _groups()))
    # parameters on a device without the kernel (meta): 'auto' falls back, forcing it is a clear error
    meta = [{'params': [torch.nn.Parameter(torch.zeros(3, device='meta'))]}]
    cfg.TRAIN.FUSED_OPTIMIZER = 'auto'
    assert not is_fused(build_optimizer(cfg, meta))
    cfg.TRAIN.FUSED_OPTIMIZER = True
    with pytest.raises(FusedOptimizerUnsupported, match="FUSED_OPTIMIZER.*meta.*'auto' or False"):
        build_optimizer(cfg, meta)
    cfg.TRAIN.FUSED_OPTIMIZER = 'sometimes'
    with pytest.raises(ConfigError, match="FUSED_OPTIMIZER 'sometimes'"):
        build_optimizer(cfg, _groups())


def test_fused_setting_from_a_yaml_file(tmp_path):
    path = tmp_path / 'x.yaml'
    path.write_text(yaml.safe_dump({'TRAIN': {'FUSED_OPTIMIZER': 'false', 'GRAD_CHECKPOINT': True}}))
    cfg = load_config('lorat', yaml_path=str(path))
    assert cfg.TRAIN.FUSED_OPTIMIZER == 'false' and cfg.TRAIN.GRAD_CHECKPOINT is True
    assert not is_fused(build_optimizer(cfg, _groups()))


def _trainer(folder, fused, epochs=2):
    cfg = tiny_cfg(epochs=epochs)
    torch.manual_seed(0)
    net = TinyOSTrackLike()
    net.dropout.p = 0.0
    optimizer = build_optimizer(cfg, ostrack.param_groups(net, cfg), fused=fused)
    return Trainer(
        ostrack.build_actor(cfg, net, None),
        [],
        optimizer,
        None,
        max_epochs=epochs,
        checkpoint_dir=str(folder),
        checkpoint_name='OSTrack',
        grad_clip_norm=0.1,
        show_progress=False,
    )


@pytest.mark.parametrize('saved_fused,resumed_fused', [(True, True), (True, False), (False, True)])
def test_resume_restores_the_optimizer_state_and_keeps_the_kernel(tmp_path, saved_fused, resumed_fused):
    cfg = tiny_cfg()
    batch = dict(synthetic_batch('ostrack', cfg, 2), epoch=1)
    first = _trainer(tmp_path, saved_fused)
    for _ in range(2):
        first.step(first.actor(batch)[0])
    first.save_epoch(1)
    resumed = _trainer(tmp_path, resumed_fused)
    resumed.load(os.path.join(tmp_path, 'OSTrack_resume.pth.tar'))
    assert resumed.epoch == 1 and is_fused(resumed.optimizer) == resumed_fused
    saved, loaded = first.optimizer.state_dict()['state'], resumed.optimizer.state_dict()['state']
    assert sorted(saved) == sorted(loaded) and len(saved) > 0
    for key in saved:
        assert float(loaded[key]['step']) == float(saved[key]['step']) == 2.0
        for name in ('exp_avg', 'exp_avg_sq'):
            assert torch.equal(loaded[key][name], saved[key][name])
    # the next step continues from the restored moments: same parameters as the uninterrupted run
    first.step(first.actor(batch)[0])
    resumed.step(resumed.actor(batch)[0])
    for a, b in zip(first.actor.net.parameters(), resumed.actor.net.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-7)


def droptrack_tiny_cfg(batch_size=2):
    cfg = benchmark_config('droptrack', 'vitb_384_mae_ce_32x4_ep300', batch_size=batch_size)
    bb = cfg.MODEL.BACKBONE
    bb.TYPE, bb.EMBED_DIM, bb.DEPTH, bb.NUM_HEADS = 'vit_patch16_ce', 64, 3, 4
    bb.CE_LOC, bb.CE_KEEP_RATIO = [1], [0.7]
    cfg.DATA.TEMPLATE.SIZE, cfg.DATA.SEARCH.SIZE = 64, 128
    return cfg


def family_cfg(script):
    if script == 'droptrack':
        return droptrack_tiny_cfg()
    return benchmark_config(script, {'ostrack': 'tiny_ce'}.get(script, 'tiny'), batch_size=2)


@pytest.mark.parametrize('script', ['ostrack', 'droptrack', 'compresstracker', 'lorat'])
def test_bf16_autocast_training_step_works_for_every_family_on_cpu(script):
    fp32 = TrainingStep(script, family_cfg(script), path='optimized', amp='off')
    bf16 = TrainingStep(script, family_cfg(script), path='optimized', amp='bf16')
    assert bf16.trainer.amp == 'bf16' and fp32.trainer.amp is None
    loss32, loss16 = fp32(), bf16()
    assert math.isfinite(loss16) and loss16 == pytest.approx(loss32, rel=0.05)
    grads = [p.grad for p in bf16.actor.net.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)
    assert all(p.dtype == torch.float32 for p in bf16.actor.net.parameters())  # master weights stay fp32


def test_ostrack_loss_stays_finite_when_the_low_precision_score_map_saturates():
    """Under bf16 autocast the head's clamp (1e-4, 1 - 1e-4) rounds to exactly 0 / 1; the focal loss must
    see the float32 clamp the official fp32 model computes (log(1 - 1) would be inf / NaN)."""
    cfg = tiny_cfg()
    actor = ostrack.build_actor(cfg, TinyOSTrackLike(), None)
    data = synthetic_batch('ostrack', cfg, 2)
    size = cfg.DATA.SEARCH.SIZE // cfg.MODEL.BACKBONE.STRIDE
    saturated = torch.ones(2, 1, size, size)
    saturated[:, :, 0] = 0.0
    boxes = torch.tensor([[[0.5, 0.5, 0.2, 0.3]], [[0.4, 0.6, 0.3, 0.2]]])
    loss16, _ = actor.compute_losses({'pred_boxes': boxes, 'score_map': saturated.bfloat16()}, data)
    clamped = saturated.clamp(1e-4, 1 - 1e-4)
    loss32, _ = actor.compute_losses({'pred_boxes': boxes, 'score_map': clamped}, data)
    assert torch.isfinite(loss16) and loss16.item() == pytest.approx(loss32.item(), rel=1e-6)


def _processed_batch(script, cfg, batch=2):
    """Two samples of the family's real processing pipeline on toy frames, collated as the loader does."""
    from lib.train.actors import lorat as lorat_actor
    from lib.train.data.pipeline import build_processing, build_sampler

    processing = lorat_actor.build_processing(cfg) if script == 'lorat' else build_processing(cfg)
    cfg.DATA.MAX_SAMPLE_INTERVAL = 10
    sampler = build_sampler(cfg, cfg.DATA.TRAIN, [ToyVideoDataset(image_size=(240, 320))], processing, seed=0)
    return collate_stack1([sampler[i] for i in range(batch)])


@pytest.mark.parametrize('script,config', [('ostrack', 'tiny_ce'), ('lorat', 'tiny')])
def test_synthetic_batch_has_the_real_pipelines_keys_shapes_and_dtypes(script, config):
    cfg = benchmark_config(script, config, batch_size=2)
    real = _processed_batch(script, cfg)
    fake = synthetic_batch(script, cfg, 2)
    for key, value in fake.items():
        assert key in real, key
        assert (value.shape, value.dtype) == (real[key].shape, real[key].dtype), key


@pytest.mark.parametrize('script,config', [('ostrack', 'tiny_ce'), ('lorat', 'tiny')])
def test_measure_training_returns_named_positive_throughput(script, config):
    results = measure_training_paths(script, config, paths=('optimized',), batch_size=2, steps=2, warmup=1)
    assert [r['name'] for r in results] == [
        f'train_samples_per_s.{script}.{config}.plain',
        f'train_samples_per_s.{script}.{config}.optimized',
    ]
    for r in results:
        assert r['unit'] == 'samples/s' and r['path'] in r['name'] and r['notes']
        assert math.isfinite(r['value']) and r['value'] > 0
        assert r['ratio_to_plain'] == pytest.approx(r['value'] / results[0]['value'])
    assert 'explicit' in results[0]['notes'] and 'multi-tensor' in results[0]['notes']
    assert 'sdpa' in results[1]['notes'] and 'fused' in results[1]['notes']
    single = measure_training(script, config, path='plain', batch_size=2, steps=2, warmup=0)
    assert len(single) == 1 and single[0]['ratio_to_plain'] is None and single[0]['value'] > 0
    with pytest.raises(ValueError, match='unknown training benchmark path'):
        measure_training(script, config, path='fastest')


@pytest.mark.parametrize('script,config', [('ostrack', 'tiny_ce'), ('lorat', 'tiny')])
def test_plain_and_optimized_fp32_steps_compute_the_same_losses(script, config):
    plain = TrainingStep(script, config, path='plain', batch_size=2)
    optimized = TrainingStep(script, config, path='optimized', batch_size=2, amp='off')
    assert plain.options['attention'] == 'explicit' and optimized.options['attention'] == 'sdpa'
    assert not plain.fused and optimized.fused
    # the first loss compares the forward passes, the later ones also the two AdamW kernels' updates
    for _ in range(3):
        assert optimized() == pytest.approx(plain(), rel=1e-5, abs=1e-6)
