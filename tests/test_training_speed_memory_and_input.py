"""Gradient checkpointing (same loss and gradients, same state-dict keys, blocks really recomputed) for
the OSTrack ViT-CE, DINOv2/LoRA and CompressTracker models, and the trainer's input-bound warning."""

import copy
import os
import time

import pytest
import torch

from lib.benchmark.training import benchmark_config, synthetic_batch
from lib.models import build_model_from_cfg
from lib.models.layers.grad_checkpoint import (
    disable_grad_checkpointing,
    enable_grad_checkpointing,
    is_grad_checkpointed,
)
from lib.train.actors import compresstracker as ct_actor
from lib.train.actors import lorat as lorat_actor
from lib.train.actors import ostrack as ostrack_actor
from lib.train.trainers.monitor import TrainLogger
from lib.train.trainers.optim import build_optimizer
from lib.train.trainers.trainer import Trainer
from tests.train_fixtures import TinyOSTrackLike, tiny_cfg

ACTORS = {'ostrack': ostrack_actor, 'lorat': lorat_actor, 'compresstracker': ct_actor}


def _cfg(script):
    cfg = benchmark_config(script, 'tiny_ce' if script == 'ostrack' else 'tiny', batch_size=2)
    cfg.TRAIN.DROP_PATH_RATE = 0.2  # random branches: the recomputation must replay the same draws
    return cfg


def _loss_and_grads(script, checkpointed):
    cfg = _cfg(script)
    torch.manual_seed(0)
    net = build_model_from_cfg(script, cfg, training=True)
    if checkpointed:
        enable_grad_checkpointing(net)
    actor = ACTORS[script].build_actor(cfg, net, None)
    actor.train(True)
    actor.on_epoch_start(cfg.TRAIN.EPOCH // 2)  # CE active; CompressTracker mixes teacher stages in
    batch = dict(synthetic_batch(script, cfg, 2), epoch=cfg.TRAIN.EPOCH // 2)
    torch.manual_seed(1)
    loss, _ = actor(batch)
    loss.backward()
    return net, loss.detach(), {n: p.grad for n, p in net.named_parameters() if p.grad is not None}


def _count_calls(modules):
    calls = []
    for m in modules:
        m.register_forward_hook(lambda *_: calls.append(1))
    return calls


@pytest.mark.parametrize('script', ['ostrack', 'lorat', 'compresstracker'])
def test_checkpointing_gives_the_same_loss_and_gradients(script):
    net, loss, grads = _loss_and_grads(script, checkpointed=False)
    ck_net, ck_loss, ck_grads = _loss_and_grads(script, checkpointed=True)
    assert list(ck_net.state_dict()) == list(net.state_dict())
    torch.testing.assert_close(ck_loss, loss, rtol=1e-6, atol=1e-7)
    assert sorted(ck_grads) == sorted(grads) and len(grads) > 0
    for name, grad in grads.items():
        torch.testing.assert_close(ck_grads[name], grad, rtol=1e-5, atol=1e-7, msg=name)


def test_blocks_are_recomputed_in_backward_only_with_grad():
    cfg = _cfg('ostrack')
    net = build_model_from_cfg('ostrack', cfg, training=True)
    keys = {k: v.clone() for k, v in net.state_dict().items()}
    enable_grad_checkpointing(net)
    assert {k: v for k, v in net.state_dict().items()}.keys() == keys.keys()
    blocks = list(net.backbone.blocks)
    assert all(is_grad_checkpointed(b) for b in blocks)
    # norm1 opens each block: it runs again whenever a block is recomputed
    calls = _count_calls([b.norm1 for b in blocks])
    batch = synthetic_batch('ostrack', cfg, 2)
    template, search = batch['template_images'][0], batch['search_images'][0]
    out = net(template, search, ce_keep_rate=0.7)  # the CE path: forward_ce with index tensors
    assert len(calls) == len(blocks)
    out['pred_boxes'].sum().backward()
    assert len(calls) == 2 * len(blocks)  # each block ran again during backward
    with torch.no_grad():
        net(template, search)
    assert len(calls) == 3 * len(blocks)  # no grad: run once, nothing recomputed
    # copies stay independent (the per-instance forward is rebound to the copy)
    twin = copy.deepcopy(net)
    assert twin.backbone.blocks[0].forward.__self__ is twin.backbone.blocks[0]
    disable_grad_checkpointing(net)
    assert not any(is_grad_checkpointed(b) for b in blocks)
    net.load_state_dict(keys)  # strict load: same names and shapes


def test_compresstracker_teacher_stand_in_blocks_are_checkpointed():
    cfg = _cfg('compresstracker')
    net = build_model_from_cfg('compresstracker', cfg, training=True)
    enable_grad_checkpointing(net)
    assert all(is_grad_checkpointed(b) for b in net.backbone.distill_blocks)
    teacher_blocks = list(net.teacher.backbone.blocks)
    assert all(is_grad_checkpointed(b.attn) and is_grad_checkpointed(b.mlp) for b in teacher_blocks)
    assert 'teacher' not in ''.join(net.state_dict())


def test_grad_checkpointing_needs_transformer_blocks():
    with pytest.raises(ValueError, match='no transformer block'):
        enable_grad_checkpointing(torch.nn.Linear(2, 2))


# ------------------------------------------------------------------ input-bound warning
class SlowLoader:
    """A loader stand-in: the same batch `n` times, sleeping delays[i] seconds before batch i."""

    def __init__(self, batch, n, delays):
        self.batch, self.n, self.delays = batch, n, delays
        self.name, self.training, self.epoch_interval, self.num_workers = 'train', True, 1, 0
        self.sampler = None

    def __len__(self):
        return self.n

    def __iter__(self):
        for i in range(self.n):
            time.sleep(self.delays(i))
            yield dict(self.batch)


def _run(tmp_path, delays, epochs=2, n=4):
    cfg = tiny_cfg(epochs=epochs)
    net = TinyOSTrackLike()
    loader = SlowLoader(synthetic_batch('ostrack', cfg, 2), n, delays)
    log_file = os.path.join(tmp_path, 'train.log')
    trainer = Trainer(
        ostrack_actor.build_actor(cfg, net, None),
        [loader],
        build_optimizer(cfg, ostrack_actor.param_groups(net, cfg)),
        None,
        max_epochs=epochs,
        checkpoint_dir=str(tmp_path / 'ckpt'),
        checkpoint_name='OSTrack',
        save_resume_state=False,
        checkpoint_due=lambda epoch, max_epochs: False,
        print_interval=2,
        logger=TrainLogger(log_file=log_file),
        show_progress=False,
    )
    trainer.train(resume=None)
    return [line for line in open(log_file).read().splitlines() if 'input-bound' in line]


def test_input_bound_training_warns_once_per_epoch(tmp_path):
    # 0.5 s per batch: a warning as long as a tiny step's compute stays under 1.1 s, even on a busy machine
    warnings = _run(tmp_path, delays=lambda i: 0.5)
    assert len(warnings) == 2  # 2 epochs, 2 print intervals each: one warning per epoch
    assert 'train epoch 1' in warnings[0] and 'train epoch 2' in warnings[1]
    share = int(warnings[0].split('spent ')[1].split('%')[0])
    assert 30 < share <= 100
    assert 'TRAIN.NUM_WORKER' in warnings[0] and '--use_lmdb 1' in warnings[0]


def test_no_warning_when_compute_dominates_or_only_the_first_batch_waits(tmp_path):
    assert _run(tmp_path / 'fast', delays=lambda i: 0.0) == []
    # the first batch of an epoch waits for the workers to start: warm-up, not a slow pipeline
    assert _run(tmp_path / 'warmup', delays=lambda i: 0.5 if i == 0 else 0.0) == []


# ------------------------------------------------------------------ wiring through the training command
def test_train_command_applies_grad_checkpoint_fused_adamw_and_bf16(tmp_path):
    import yaml

    from lib.train.launch import main as train_main
    from lib.utils.synthetic import ensure_default_dataset
    from tests.test_train_e2e import common_args, short_tiny_yaml

    root = ensure_default_dataset(str(tmp_path / 'synthetic'))
    config = short_tiny_yaml(str(tmp_path))
    with open(config) as f:
        data = yaml.safe_load(f)
    data['TRAIN'].update(GRAD_CHECKPOINT=True, FUSED_OPTIMIZER='true', VAL_EPOCH_INTERVAL=1000)
    with open(config, 'w') as f:
        yaml.safe_dump(data, f)
    args = common_args(tmp_path, root, config) + ['--mode', 'single', '--amp', 'bf16']
    assert train_main(args) == 0
    log = (tmp_path / 'out' / 'logs' / 'ostrack-tiny_short.log').read_text()
    assert 'amp bf16, fused AdamW, gradient checkpointing on' in log
    folder = tmp_path / 'out' / 'checkpoints' / 'train' / 'ostrack' / 'tiny_short'
    state = torch.load(folder / 'OSTrack_ep0001.pth.tar', weights_only=True, map_location='cpu')
    assert state['optimizer']['param_groups'][0]['fused'] is True
    model = build_model_from_cfg('ostrack', _cfg('ostrack'), training=False)
    assert sorted(state['net']) == sorted(model.state_dict())  # checkpointing left the names alone
