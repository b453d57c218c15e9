"""CompressTracker training: distillation losses on hand-made inputs, the actor's total and schedule,
the optimizer groups, one CPU step, and train (shared core, CLI) -> checkpoint -> tracker."""

import os

import numpy as np
import pytest
import torch
import yaml

from lib.config import load_config
from lib.models import build_model_from_cfg
from lib.test.tracker import build_tracker
from lib.train.actors import compresstracker as ct_actor
from lib.train.actors.ostrack import OSTrackActor
from lib.train.trainers.optim import build_optimizer
from tests.compresstracker_fixtures import tiny_cfg, tiny_teacher_checkpoint

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_box_distill_loss_by_hand():
    student = torch.tensor([[[0.5, 0.5, 0.2, 0.2]]])
    teacher = torch.tensor([[[0.6, 0.5, 0.2, 0.2]]])
    # xyxy (0.4,0.4,0.6,0.6) vs (0.5,0.4,0.7,0.6): L1 = (0.1+0+0.1+0)/4; IoU = 0.02/0.06, enclosing box
    # 0.3 x 0.2 = the union, so GIoU = IoU = 1/3 and the loss 2/3
    giou, l1 = ct_actor.box_distill_loss(student, teacher)
    assert giou.item() == pytest.approx(2 / 3, abs=1e-5) and l1.item() == pytest.approx(0.05, abs=1e-6)
    giou, l1 = ct_actor.box_distill_loss(teacher, teacher)
    assert giou.item() == pytest.approx(0, abs=1e-6) and l1.item() == 0


def test_feature_distill_loss_by_hand():
    teacher = [torch.zeros(2, 5, 3), torch.zeros(2, 5, 3)]  # 1 template + 4 search tokens
    stage0 = torch.zeros(2, 5, 3)
    stage0[:, 1:] = 1.0  # search tokens off by 1 -> (1 + 0) / 2
    stage1 = torch.zeros(2, 5, 3)
    stage1[:, :1] = 2.0  # template token off by 2 -> (0 + 4) / 2
    loss = ct_actor.feature_distill_loss([stage0, stage1], teacher, search_len=4)
    assert loss.item() == pytest.approx((0.5 + 2.0) / 2)
    with pytest.raises(ValueError, match='one teacher feature per stage'):
        ct_actor.feature_distill_loss([stage0], teacher, search_len=4)


def _batch(cfg, batch=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    z, x = cfg.DATA.TEMPLATE.SIZE, cfg.DATA.SEARCH.SIZE
    boxes = torch.tensor([[0.35, 0.4, 0.25, 0.2], [0.3, 0.3, 0.4, 0.3]])[:batch]
    return {
        'template_images': torch.randn(1, batch, 3, z, z, generator=g),
        'search_images': torch.randn(1, batch, 3, x, x, generator=g),
        'template_anno': torch.tensor([[[0.25, 0.25, 0.5, 0.5]] * batch]),
        'search_anno': boxes[None],
        'epoch': 1,
    }


def test_actor_total_is_task_plus_weighted_distillation():
    cfg = load_config('compresstracker', 'tiny')
    actor = ct_actor.build_actor(cfg, torch.nn.Identity(), None)
    feat_sz = cfg.DATA.SEARCH.SIZE // 16
    score = torch.full((2, 1, feat_sz, feat_sz), 0.1)
    pred = {
        'pred_boxes': torch.tensor([[[0.5, 0.5, 0.2, 0.2]], [[0.4, 0.5, 0.3, 0.3]]]),
        'score_map': score,
        'teacher_pred_boxes': torch.tensor([[[0.6, 0.5, 0.2, 0.2]], [[0.4, 0.5, 0.3, 0.3]]]),
        'stage_features': [torch.ones(2, 80, 4), torch.zeros(2, 80, 4)],
        'teacher_stage_features': [torch.zeros(2, 80, 4), torch.zeros(2, 80, 4)],
    }
    data = _batch(cfg)
    loss, stats = actor.compute_losses(pred, data)
    task, _ = OSTrackActor(torch.nn.Identity(), cfg).compute_losses(pred, data)
    # logit: sample 1 as above (GIoU loss 2/3, L1 0.05), sample 2 identical -> means 1/3 and 0.025
    logit = 2.0 * (1 / 3) + 5.0 * 0.025
    feat = 0.2 * (1.0 + 0.0) / 2  # stage 0 all tokens off by 1 (MSE 1 on both parts), stage 1 exact
    assert stats['Loss/dst_logit'] == pytest.approx(logit, abs=1e-5)
    assert stats['Loss/dst_feat_all'] == pytest.approx(feat, abs=1e-6)
    assert loss.item() == pytest.approx(task.item() + logit + feat, abs=1e-5)
    assert stats['Loss/total'] == pytest.approx(loss.item())
    cfg.TRAIN.SUP_LOGIT = cfg.TRAIN.SUP_FEAT = False  # official crash here (SUP_FEAT_ONLY_LAST); not ours
    loss, stats = ct_actor.build_actor(cfg, torch.nn.Identity(), None).compute_losses(pred, data)
    assert loss.item() == pytest.approx(task.item()) and 'Loss/dst_feat_all' not in stats


def test_one_cpu_step_lowers_the_loss_and_only_the_student_trains(tmp_path):
    path, _ = tiny_teacher_checkpoint(tmp_path)
    cfg = tiny_cfg(path)
    torch.manual_seed(0)
    net = build_model_from_cfg('compresstracker', cfg, training=True)
    actor = ct_actor.build_actor(cfg, net, None)
    actor.on_epoch_start(cfg.TRAIN.EPOCH)  # last epoch: p = 1, the student path, deterministic
    assert net.replace_probability == 1.0
    groups = ct_actor.param_groups(net, cfg)
    assert len(groups) == 1 and groups[0]['lr'] == cfg.TRAIN.LR * cfg.TRAIN.BACKBONE_MULTIPLIER
    assert sum(p.numel() for p in groups[0]['params']) == sum(p.numel() for p in net.parameters())
    optimizer = build_optimizer(cfg, groups)
    teacher_before = {k: v.clone() for k, v in net.teacher.state_dict().items()}
    data = _batch(cfg)
    actor.train(True)
    losses = []
    for _ in range(2):
        loss, stats = actor(data)
        losses.append(loss.item())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert losses[1] < losses[0]
    assert stats['Bernoulli'] == 1.0 and stats['Loss/dst_feat_all'] >= 0
    assert all(torch.equal(v, teacher_before[k]) for k, v in net.teacher.state_dict().items())


def _short_yaml(folder, teacher_path):
    """experiments/compresstracker/tiny.yaml cut to two iterations per epoch. The data is a small
    generated GOT-10k folder (GOT10K_official_val reads it whole) instead of the default synthetic set,
    which takes ~20 s to generate; the readers and the model are the same."""
    with open(os.path.join(REPO, 'experiments', 'compresstracker', 'tiny.yaml')) as f:
        data = yaml.safe_load(f)
    data['MODEL']['PRETRAIN_FILE'] = teacher_path
    data['TRAIN'].update(EPOCH=2, BATCH_SIZE=2, NUM_WORKER=0, PRINT_INTERVAL=1, VAL_EPOCH_INTERVAL=2)
    for split in ('TRAIN', 'VAL'):
        data['DATA'][split].update(DATASETS_NAME=['GOT10K_official_val'], SAMPLE_PER_EPOCH=4)
    data['TEST']['EPOCH'] = 2
    path = os.path.join(folder, 'tiny_short.yaml')
    with open(path, 'w') as f:
        yaml.safe_dump(data, f)
    return path


def _moving_box_frames(n=4, size=(120, 160)):
    frames, x = [], 40
    for i in range(n):
        img = np.full(size + (3,), 70, dtype=np.uint8)
        img[50:80, x + 3 * i : x + 3 * i + 24] = (220, 140, 30)
        frames.append(img)
    return frames


def test_train_save_and_track_round_trip(tmp_path):
    from lib.train.launch import main as train_main
    from lib.utils.synthetic import write_got10k

    write_got10k(
        str(tmp_path / 'got10k'), n_train=0, n_val=2, n_test=0, size=(160, 120), frame_range=(22, 26)
    )
    teacher_path, _ = tiny_teacher_checkpoint(tmp_path)
    config = _short_yaml(str(tmp_path), teacher_path)
    args = [
        '--script',
        'compresstracker',
        '--config',
        config,
        '--save_dir',
        str(tmp_path / 'out'),
        '--set_path',
        f'got10k_val_dir={tmp_path / "got10k" / "val"}',
        '--set_path',
        f'tensorboard_dir={tmp_path / "tb"}',
        '--no_progress',
        '--mode',
        'single',
    ]
    assert train_main(args) == 0
    folder = tmp_path / 'out' / 'checkpoints' / 'train' / 'compresstracker' / 'tiny_short'
    ckpt = folder / 'CompressTracker_ep0002.pth.tar'
    state = torch.load(ckpt, weights_only=True, map_location='cpu')
    assert state['epoch'] == 2
    log = (tmp_path / 'out' / 'logs' / 'compresstracker-tiny_short.log').read_text()
    assert 'Loss/dst_feat_all' in log and '[val: 2,' in log
    # replacement probability per epoch for TRAIN.EPOCH 2: 0.5, then the end phase 1.0
    assert '[train: 1, 2 / 2]' in log and 'Bernoulli: 0.50000' in log.split('[train: 2,')[0]
    assert 'Bernoulli: 1.00000' in log.split('[train: 2,')[1]
    # the checkpoint holds exactly the student: it builds the tracker of the tiny config strictly
    tracker = build_tracker('compresstracker', 'tiny', checkpoint=str(ckpt), device='cpu')
    student = tracker.network.state_dict()
    assert set(state['net']) == set(student)
    assert torch.equal(
        student['backbone.distill_blocks.1.mlp.fc1.weight'],
        state['net']['backbone.distill_blocks.1.mlp.fc1.weight'],
    )
    frames = _moving_box_frames()
    tracker.initialize(frames[0], {'init_bbox': [40, 50, 24, 30]})
    for frame in frames[1:]:
        box = tracker.track(frame)['target_bbox']
        assert len(box) == 4 and all(np.isfinite(box)) and box[2] > 0 and box[3] > 0
        assert 0 <= box[0] <= 160 and 0 <= box[1] <= 120


def test_default_checkpoint_name_is_the_official_one():
    with pytest.raises(
        FileNotFoundError, match=r'compresstracker.compresstracker_vitb_256_4.CompressTracker_ep0500'
    ):
        build_tracker('compresstracker', 'compresstracker_vitb_256_4', device='cpu')
