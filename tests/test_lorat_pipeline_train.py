"""LoRAT on the shared trainer and runner: a training step lowers the loss, resume reproduces the next
epoch, release weights beside the checkpoints, the tracker's map-back, build_tracker from a trainer
checkpoint, and profiling of the tiny config."""

import numpy as np
import pytest
import torch

from lib.config import load_config
from lib.models import build_model_from_cfg
from lib.models.lorat import merged_model
from lib.train.actors import lorat as lorat_actor
from lib.train.data.loader import build_loader
from lib.train.data.pipeline import build_sampler
from lib.train.trainers import checkpoint as ckpt
from lib.train.trainers.optim import build_optimizer, build_scheduler
from lib.train.trainers.trainer import Trainer
from lib.utils.io import atomic_torch_save
from tests.train_fixtures import ToyVideoDataset


def tiny_cfg(epochs=2):
    cfg = load_config('lorat', 'tiny')
    cfg.TRAIN.EPOCH, cfg.TRAIN.BATCH_SIZE, cfg.TRAIN.LR = epochs, 2, 1e-3
    cfg.DATA.TRAIN.SAMPLE_PER_EPOCH = 4
    cfg.DATA.MAX_SAMPLE_INTERVAL = 10
    return cfg


def make_trainer(cfg, folder, max_epochs):
    loader = build_loader(
        build_sampler(cfg, cfg.DATA.TRAIN, [ToyVideoDataset()], lorat_actor.build_processing(cfg), seed=3),
        batch_size=cfg.TRAIN.BATCH_SIZE,
        name='train',
        training=True,
    )
    net = build_model_from_cfg('lorat', cfg, training=True)
    optimizer = build_optimizer(cfg, lorat_actor.param_groups(net, cfg))
    scheduler = build_scheduler(optimizer, cfg, steps_per_epoch=len(loader))
    return Trainer(
        lorat_actor.build_actor(cfg, net, None),
        [loader],
        optimizer,
        scheduler,
        max_epochs=max_epochs,
        checkpoint_dir=str(folder),
        checkpoint_name='LoRAT',
        checkpoint_due=lorat_actor.checkpoint_schedule(cfg),
        grad_clip_norm=1.0,
        show_progress=False,
        lr_step_per_iteration=True,
    )


def test_one_training_step_lowers_the_loss():
    cfg = tiny_cfg()
    trainer = make_trainer(cfg, 'unused', 1)
    batch = next(iter(trainer.loaders[0]))
    batch['epoch'] = 1
    losses = []
    for _ in range(3):
        loss, _ = trainer.actor(batch)
        losses.append(loss.item())
        trainer.step(loss)
    assert losses[-1] < losses[0]
    frozen = dict(trainer.actor.net.named_parameters())['blocks.0.attn.qkv.q.linear.weight']
    assert frozen.grad is None  # the backbone stays frozen


def test_resume_gives_the_same_next_epoch_and_release_weights(tmp_path):
    cfg = tiny_cfg(epochs=2)
    straight = make_trainer(cfg, tmp_path / 'a', 2)
    straight.train(resume=None)
    first = make_trainer(cfg, tmp_path / 'b', 1)
    first.train(resume=None)
    resumed = make_trainer(cfg, tmp_path / 'b', 2)
    resumed.train(resume='auto')
    assert resumed.history['train'][2] == pytest.approx(straight.history['train'][2], rel=1e-6)
    # tiny.yaml saves every epoch: full state + official trainable-only safetensors beside it
    from safetensors.torch import load_file

    tensors = load_file(str(tmp_path / 'a' / 'LoRAT_ep0002.safetensors'))
    state = torch.load(tmp_path / 'a' / 'LoRAT_ep0002.pth.tar', weights_only=True, map_location='cpu')
    assert 'token_type_embed' in tensors and any(k.endswith('lora.A') for k in tensors)
    assert not any(k.startswith(('patch_embed', 'blocks.0.norm1')) for k in tensors)
    torch.testing.assert_close(
        tensors['head.reg_mlp.layers.2.weight'], state['net']['head.reg_mlp.layers.2.weight']
    )


class PeakNet(torch.nn.Module):
    """Stand-in: score logit 10 at one cell (-10 elsewhere) whose box is `box`; records its inputs."""

    def __init__(self, cell, box, map_hw=(8, 8)):
        super().__init__()
        self.cell, self.box, self.map_hw, self.inputs = cell, box, map_hw, []

    def forward(self, z, x, z_feat_mask):
        self.inputs.append((z.clone(), x.clone(), z_feat_mask.clone()))
        score = torch.full((1,) + self.map_hw, -10.0)
        score[0, self.cell[0], self.cell[1]] = 10.0
        boxes = torch.tensor([0.45, 0.45, 0.55, 0.55]).repeat(1, *self.map_hw, 1)
        boxes[0, self.cell[0], self.cell[1]] = torch.tensor(self.box)
        return {'score_map': score, 'boxes': boxes}


def test_tracker_maps_the_peak_back_to_the_image_and_clips():
    from lib.test.tracker.lorat import LoRATTracker

    cfg = load_config('lorat', 'tiny')
    net = PeakNet((2, 5), [0.5, 0.25, 0.75, 0.5])
    tracker = LoRATTracker(cfg, net, device='cpu')
    image = np.full((200, 200, 3), 90, dtype=np.uint8)
    tracker.initialize(image, {'init_bbox': [80, 80, 40, 40]})
    # template: factor 2 around a 40 px box -> the centre 2 x 2 patches of the 4 x 4 grid
    assert tracker.template_mask[0].tolist() == [[0, 0, 0, 0], [0, 1, 1, 0], [0, 1, 1, 0], [0, 0, 0, 0]]
    # search: factor 4, 112 px -> scale 0.7, translation -14; crop box [56, 28, 84, 56] -> image
    # ((56 + 14) / 0.7, (28 + 14) / 0.7, ...) = [100, 60, 140, 100]
    out = tracker.track(image)
    np.testing.assert_allclose(out['target_bbox'], [100, 60, 40, 40], atol=1e-6)
    assert out['confidence'] == pytest.approx(torch.sigmoid(torch.tensor(10.0)).item())
    net.box = [-1.0, -1.0, -0.9, -0.9]  # far outside: clipped to an empty box, the last box is kept
    out = tracker.track(image)
    np.testing.assert_allclose(out['target_bbox'], [0, 0, 0, 0], atol=1e-6)
    tracker.track(image)
    assert torch.equal(net.inputs[-1][1], net.inputs[-2][1])  # same search crop as before


def test_build_tracker_from_a_trainer_checkpoint(tmp_path, monkeypatch):
    from lib.test.evaluation import environment
    from lib.test.tracker import build_tracker

    cfg = load_config('lorat', 'tiny')
    model = build_model_from_cfg('lorat', cfg, training=True)
    with torch.no_grad():
        for p in model.parameters():
            if p.requires_grad:
                p.add_(0.05 * torch.randn_like(p))
    folder = ckpt.checkpoint_dir(str(tmp_path), 'lorat', 'tiny')
    atomic_torch_save(
        {'net': model.state_dict(), 'epoch': cfg.TEST.EPOCH},
        ckpt.checkpoint_path(folder, 'LoRAT', cfg.TEST.EPOCH),
    )
    monkeypatch.setattr(environment, 'env_settings', lambda: type('S', (), {'save_dir': str(tmp_path)})())
    tracker = build_tracker('lorat', 'tiny', device='cpu')  # the trainer's default path for TEST.EPOCH
    assert not any('lora' in k for k in tracker.network.state_dict())  # merged for inference
    z, x = torch.randn(1, 3, 56, 56), torch.randn(1, 3, 112, 112)
    mask = torch.zeros(1, 4, 4, dtype=torch.long)
    with torch.no_grad():
        expected = merged_model(model)(z, x, mask)
        got = tracker.network(z, x, mask)
    torch.testing.assert_close(got['score_map'], expected['score_map'], atol=1e-4, rtol=1e-4)
    with pytest.raises(FileNotFoundError, match='LoRAT_ep0007.pth.tar'):
        build_tracker('lorat', 'tiny', checkpoint=str(tmp_path / 'LoRAT_ep0007.pth.tar'))


def test_profile_of_the_tiny_config_counts_every_matmul():
    from lib.utils.profiling import profile_config

    report = profile_config('lorat', 'tiny', iters=1, warmup=1)
    n, d, depth, search_tokens = 16 + 64, 128, 4, 64  # 4x4 template + 8x8 search tokens
    blocks = depth * (n * 12 * d * d + 2 * n * n * d)  # qkv, proj, fc1, fc2 + attention products
    patch_embed = n * 3 * 14 * 14 * d
    head = search_tokens * (4 * d * d + 5 * d)  # two 3-layer MLPs (1 and 4 outputs)
    assert report['flops'] == 2 * (blocks + patch_embed + head)
    assert 0 < report['thop_macs'] < report['flops'] // 2  # thop leaves the attention products out
    assert report['params'] == sum(
        p.numel()
        for p in build_model_from_cfg('lorat', load_config('lorat', 'tiny'), training=False).parameters()
    )
    assert report['latency']['float32']['ms'] > 0
