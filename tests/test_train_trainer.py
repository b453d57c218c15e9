"""The shared trainer: a step lowers the loss, exact resume, weights-only checkpoints, failures raise."""

import os
import subprocess
import sys

import pytest
import torch

from lib.train.actors import ostrack
from lib.train.data.loader import build_loader
from lib.train.data.pipeline import build_processing
from lib.train.data.sampler import TrackingSampler
from lib.train.trainers import checkpoint as ckpt
from lib.train.trainers.monitor import TrainLogger
from lib.train.trainers.optim import build_optimizer, build_scheduler
from lib.train.trainers.trainer import Trainer
from tests.train_fixtures import TinyOSTrackLike, ToyVideoDataset, tiny_cfg

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def make_trainer(folder, epochs=3, amp=None, init_seed=0, **kwargs):
    cfg = tiny_cfg(epochs=epochs)
    torch.manual_seed(init_seed)
    net = TinyOSTrackLike()
    sampler = TrackingSampler(
        [ToyVideoDataset(num_sequences=4, length=40)],
        [1],
        cfg.DATA.TRAIN.SAMPLE_PER_EPOCH,
        cfg.DATA.MAX_SAMPLE_INTERVAL,
        processing=build_processing(cfg),
        seed=0,
    )
    loader = build_loader(sampler, batch_size=cfg.TRAIN.BATCH_SIZE, num_workers=0)
    optimizer = build_optimizer(cfg, ostrack.param_groups(net, cfg))
    logger = TrainLogger(log_file=os.path.join(folder, 'logs', 'train.log'), tensorboard_dir=None)
    return Trainer(
        ostrack.build_actor(cfg, net, None),
        [loader],
        optimizer,
        build_scheduler(optimizer, cfg),
        max_epochs=epochs,
        checkpoint_dir=os.path.join(folder, 'ckpt'),
        checkpoint_name='OSTrack',
        grad_clip_norm=cfg.TRAIN.GRAD_CLIP_NORM,
        amp=amp,
        logger=logger,
        cfg_dict=cfg.to_dict(),
        show_progress=False,
        **kwargs,
    )


def _batch(trainer, epoch=1):
    loader = trainer.loaders[0]
    loader.sampler.set_epoch(epoch)
    return dict(next(iter(loader)), epoch=epoch)


@pytest.mark.parametrize('amp', [None, 'bf16'])
def test_one_training_step_lowers_the_loss_on_its_batch(tmp_path, amp):
    trainer = make_trainer(str(tmp_path), amp=amp)
    trainer.actor.net.dropout.p = 0.0
    batch = _batch(trainer)
    trainer.actor.train(True)
    losses = []
    for _ in range(2):
        with trainer._autocast():
            loss, _ = trainer.actor(batch)
        losses.append(loss.item())
        trainer.step(loss)
    assert losses[1] < losses[0]


def test_resumed_run_matches_the_uninterrupted_run(tmp_path):
    full = make_trainer(str(tmp_path / 'full'), epochs=3)
    full.train(resume=None)
    part = make_trainer(str(tmp_path / 'part'), epochs=2)
    part.train(resume=None)
    # A new process would rebuild everything (consuming RNG differently) and then resume.
    resumed = make_trainer(str(tmp_path / 'part'), epochs=3, init_seed=123)
    resumed.train(resume='auto')
    assert resumed.history['train'][3] == full.history['train'][3]
    for a, b in zip(full.actor.net.state_dict().values(), resumed.actor.net.state_dict().values()):
        assert torch.equal(a, b)
    assert resumed.optimizer.param_groups[0]['lr'] == full.optimizer.param_groups[0]['lr']


def test_checkpoints_are_named_scheduled_and_load_weights_only(tmp_path):
    trainer = make_trainer(str(tmp_path), epochs=3)
    trainer.train(resume=None)
    folder = str(tmp_path / 'ckpt')
    assert sorted(os.listdir(folder)) == [
        'OSTrack_ep0001.pth.tar',
        'OSTrack_ep0002.pth.tar',
        'OSTrack_ep0003.pth.tar',
        'OSTrack_resume.pth.tar',
    ]
    state = torch.load(os.path.join(folder, 'OSTrack_ep0003.pth.tar'), weights_only=True, map_location='cpu')
    assert {'net', 'optimizer', 'lr_scheduler', 'scaler', 'rng', 'epoch', 'net_type', 'cfg'} <= set(state)
    assert state['epoch'] == 3 and state['net_type'] == 'TinyOSTrackLike'
    assert state['cfg']['TRAIN']['EPOCH'] == 3 and isinstance(state['rng'][0]['torch'], torch.Tensor)
    assert torch.equal(state['net']['backbone.weight'], trainer.actor.net.backbone.weight)
    log = (tmp_path / 'logs' / 'train.log').read_text()
    assert '[train: 3, 2 / 2]' in log and 'data' in log and 'compute' in log


def test_resume_from_an_explicit_path_and_nothing_left_to_train(tmp_path):
    first = make_trainer(str(tmp_path / 'a'), epochs=2)
    first.train(resume=None)
    path = str(tmp_path / 'a' / 'ckpt' / 'OSTrack_ep0001.pth.tar')
    second = make_trainer(str(tmp_path / 'b'), epochs=2)
    second.train(resume=path)
    assert sorted(second.history['train']) == [1, 2] and 1 in second.history['train']
    third = make_trainer(str(tmp_path / 'a'), epochs=2)
    third.train(resume='auto')  # already at epoch 2: returns without training
    assert third.epoch == 2


def test_multistep_scheduler_state_loads_weights_only(tmp_path):
    cfg = tiny_cfg()
    cfg.TRAIN.SCHEDULER.TYPE = 'Mstep'
    cfg.TRAIN.SCHEDULER['MILESTONES'] = [1, 2]
    cfg.TRAIN.SCHEDULER['GAMMA'] = 0.5
    opt = build_optimizer(cfg, [{'params': [torch.nn.Parameter(torch.zeros(1))]}])
    sched = build_scheduler(opt, cfg)
    opt.step()
    sched.step()
    path = str(tmp_path / 's.pth.tar')
    ckpt.save_state(path, {'lr_scheduler': ckpt.scheduler_state(sched)})
    fresh = build_scheduler(opt, cfg)
    ckpt.load_scheduler_state(fresh, torch.load(path, weights_only=True)['lr_scheduler'])
    assert fresh.last_epoch == 1 and dict(fresh.milestones) == {1: 1, 2: 1}


class ExplodingActor:
    net = torch.nn.Linear(1, 1)
    unwrapped_net = net

    def train(self, mode=True):
        pass

    def on_epoch_start(self, epoch):
        pass

    def __call__(self, data):
        raise RuntimeError('boom in the actor')


def test_failures_propagate_instead_of_finishing_silently(tmp_path):
    trainer = make_trainer(str(tmp_path))
    trainer.actor = ExplodingActor()
    with pytest.raises(RuntimeError, match='boom in the actor'):
        trainer.train(resume=None)
    assert not os.path.exists(tmp_path / 'ckpt')


def test_train_cli_exits_non_zero_with_a_message_on_a_bad_config(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            'tracking/train.py',
            '--script',
            'ostrack',
            '--config',
            'no_such_config',
            '--mode',
            'single',
            '--save_dir',
            str(tmp_path),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert 'no_such_config' in result.stderr and 'Traceback' not in result.stderr
