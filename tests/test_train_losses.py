"""Labels, losses, CE schedule, optimiser groups and checkpoint schedule of the OSTrack actor."""

import math

import pytest
import torch

from lib.config import CfgNode
from lib.train.actors import droptrack, ostrack
from lib.train.losses import focal_loss
from lib.train.trainers.checkpoint import lineage_checkpoint_due
from lib.train.trainers.optim import build_optimizer, build_scheduler
from lib.utils.ce import adjust_keep_rate, generate_ce_template_mask
from lib.utils.heatmap import gaussian_heatmap
from tests.train_fixtures import TinyOSTrackLike, tiny_cfg


def test_gaussian_label_matches_a_hand_computed_case():
    # Box (4, 4, 4, 4) cells on a 16 x 16 map: centre cell (6, 6). CornerNet radii (lineage variant):
    # r1 = (8 + sqrt(64 - 4 * 16 * 0.3 / 1.7)) / 2 = 7.63, r2 = (16 + sqrt(256 - 76.8)) / 2 = 14.69,
    # r3 = (-11.2 + sqrt(125.44 + 53.76)) / 2 = 1.093 -> radius 1, sigma = 3 / 6 = 0.5.
    heatmap = gaussian_heatmap(torch.tensor([[0.25, 0.25, 0.25, 0.25]]), 16)[0]
    assert heatmap[6, 6] == 1.0
    assert heatmap[6, 7].item() == pytest.approx(math.exp(-2), rel=1e-6)
    assert heatmap[5, 6].item() == pytest.approx(math.exp(-2), rel=1e-6)
    assert heatmap[7, 7].item() == pytest.approx(math.exp(-4), rel=1e-6)
    assert heatmap[6, 8] == 0
    assert heatmap.sum().item() == pytest.approx(1 + 4 * math.exp(-2) + 4 * math.exp(-4))


def test_gaussian_label_is_clipped_at_the_map_border():
    # Centre (0.5 * 0.0625 ... ) -> cell (0, 8): only the right half of the Gaussian lies on the map.
    heatmap = gaussian_heatmap(torch.tensor([[-0.125, 0.375, 0.25, 0.25]]), 16)[0]
    assert heatmap[8, 0] == 1.0 and heatmap[8, 1].item() == pytest.approx(math.exp(-2), rel=1e-6)
    assert (heatmap == 1).sum() == 1


def test_focal_loss_on_a_constructed_case():
    target = torch.tensor([[1.0, 0.5], [0.0, 0.0]])
    pred = torch.full((2, 2), 0.5)
    log_half = math.log(0.5)
    positive = log_half * 0.25
    negatives = log_half * 0.25 * 0.5**4 + 2 * log_half * 0.25
    assert focal_loss(pred, target).item() == pytest.approx(-(positive + negatives), rel=1e-6)
    # No positive cell: the negative sum alone.
    assert focal_loss(pred, torch.zeros(2, 2)).item() == pytest.approx(-4 * log_half * 0.25, rel=1e-6)


def test_actor_loss_is_weighted_giou_l1_and_focal():
    cfg = tiny_cfg(ce=False)
    actor = ostrack.build_actor(cfg, TinyOSTrackLike(), settings=None)
    gt = torch.tensor([[[0.25, 0.25, 0.5, 0.5]]])  # (Ns, B, 4) x, y, w, h
    score = torch.full((1, 1, 4, 4), 0.3)
    pred = {'pred_boxes': torch.tensor([[[0.6, 0.5, 0.5, 0.5]]]), 'score_map': score}
    loss, stats = actor.compute_losses(pred, {'search_anno': gt})
    # pred xyxy (0.35, 0.25, 0.85, 0.75) vs gt (0.25, 0.25, 0.75, 0.75): L1 0.05, IoU = GIoU = 2/3.
    assert stats['Loss/l1'] == pytest.approx(0.05, abs=1e-6)
    assert stats['Loss/giou'] == pytest.approx(1 / 3, abs=1e-5)
    assert stats['IoU'] == pytest.approx(2 / 3, abs=1e-5)
    focal = focal_loss(score, gaussian_heatmap(gt[0], 4).unsqueeze(1)).item()
    assert stats['Loss/location'] == pytest.approx(focal)
    assert loss.item() == pytest.approx(2 / 3 + 5 * 0.05 + focal, abs=1e-5)


def test_actor_clamps_gt_to_the_crop_and_rejects_nan():
    actor = ostrack.build_actor(tiny_cfg(ce=False), TinyOSTrackLike(), settings=None)
    gt = torch.tensor([[[-0.5, 0.0, 1.0, 1.0]]])  # clamps to (0, 0, 0.5, 1)
    pred = {'pred_boxes': torch.tensor([[[0.25, 0.5, 0.5, 1.0]]])}
    _, stats = actor.compute_losses(pred, {'search_anno': gt})
    assert stats['Loss/l1'] == pytest.approx(0, abs=1e-6) and stats['IoU'] == pytest.approx(1, abs=1e-5)
    with pytest.raises(FloatingPointError, match='NaN'):
        actor.compute_losses({'pred_boxes': torch.full((1, 1, 4), float('nan'))}, {'search_anno': gt})


@pytest.mark.parametrize(
    'start, warm, epoch, expected',
    [
        (20, 80, 1, 1.0),
        (20, 80, 19, 1.0),
        (20, 80, 40, 0.956),
        (20, 80, 60, 0.85),
        (20, 80, 80, 0.744),
        (20, 80, 100, 0.7),
        (20, 80, 300, 0.7),
        (20, 50, 45, 0.85),
        (20, 50, 70, 0.7),
    ],
)
def test_ce_keep_rate_schedule(start, warm, epoch, expected):
    value = adjust_keep_rate(
        epoch, warmup_epochs=start, total_epochs=start + warm, iters_per_epoch=1, base_keep_rate=0.7
    )
    assert value == pytest.approx(expected, abs=1e-3)


def test_actor_passes_the_epochs_keep_rate_and_template_mask_to_the_model():
    cfg = tiny_cfg()  # CE_START_EPOCH 1, CE_WARM_EPOCH 2, keep ratio 0.7
    net = TinyOSTrackLike()
    actor = ostrack.build_actor(cfg, net, settings=None)
    batch = {
        'template_images': torch.zeros(1, 2, 3, 32, 32),
        'search_images': torch.zeros(1, 2, 3, 64, 64),
        'template_anno': torch.tensor([[[0.25, 0.25, 0.5, 0.5]] * 2]),
        'search_anno': torch.tensor([[[0.25, 0.25, 0.5, 0.5]] * 2]),
    }
    rates = []
    for epoch in (1, 2, 3):
        _, stats = actor(dict(batch, epoch=epoch))
        rates.append(stats['CE/keep_rate'])
    assert rates == pytest.approx([1.0, 0.85, 0.7]) and net.seen_keep_rates == pytest.approx(rates)


def test_ce_template_masks():
    cfg = CfgNode(
        {
            'MODEL': {'BACKBONE': {'CE_TEMPLATE_RANGE': 'CTR_POINT', 'STRIDE': 16}},
            'DATA': {'TEMPLATE': {'SIZE': 128}},
        }
    )
    mask = generate_ce_template_mask(cfg, 2, 'cpu', None)
    assert mask.shape == (2, 64) and mask[0].nonzero().flatten().tolist() == [3 * 8 + 3]
    cfg.DATA.TEMPLATE.SIZE = 192
    assert generate_ce_template_mask(cfg, 1, 'cpu', None)[0].nonzero().flatten().tolist() == [5 * 12 + 5]
    cfg.MODEL.BACKBONE.CE_TEMPLATE_RANGE = 'CTR_REC'
    cfg.DATA.TEMPLATE.SIZE = 128
    assert generate_ce_template_mask(cfg, 1, 'cpu', None)[0].nonzero().flatten().tolist() == [27, 28, 35, 36]
    cfg.MODEL.BACKBONE.CE_TEMPLATE_RANGE = 'ALL'
    assert generate_ce_template_mask(cfg, 1, 'cpu', None) is None
    cfg.MODEL.BACKBONE.CE_TEMPLATE_RANGE = 'GT_BOX'
    box_mask = generate_ce_template_mask(cfg, 1, 'cpu', torch.tensor([[0.25, 0.25, 0.5, 0.5]]))
    assert box_mask.shape == (1, 64) and box_mask[0, 3 * 8 + 3] and not box_mask[0, 0]
    cfg.MODEL.BACKBONE.CE_TEMPLATE_RANGE = 'NOPE'
    with pytest.raises(ValueError, match='CE_TEMPLATE_RANGE'):
        generate_ce_template_mask(cfg, 1, 'cpu', None)


def test_param_groups_put_the_backbone_at_the_lr_multiplier():
    cfg = tiny_cfg()
    net = TinyOSTrackLike()
    optimizer = build_optimizer(cfg, ostrack.param_groups(net, cfg))
    head_group, backbone_group = optimizer.param_groups
    assert head_group['lr'] == cfg.TRAIN.LR and backbone_group['lr'] == pytest.approx(cfg.TRAIN.LR * 0.1)
    assert {id(p) for p in backbone_group['params']} == {id(p) for p in net.backbone.parameters()}
    assert head_group['weight_decay'] == backbone_group['weight_decay'] == cfg.TRAIN.WEIGHT_DECAY


def test_step_and_multistep_schedulers():
    cfg = tiny_cfg()  # LR_DROP_EPOCH 2
    opt = build_optimizer(cfg, [{'params': [torch.nn.Parameter(torch.zeros(1))]}])
    sched = build_scheduler(opt, cfg)
    lrs = []
    for _ in range(3):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs == pytest.approx([1e-3, 1e-3, 1e-4])
    cfg.TRAIN.SCHEDULER.TYPE = 'Mstep'
    with pytest.raises(ValueError, match='MILESTONES'):
        build_scheduler(opt, cfg)
    cfg.TRAIN.SCHEDULER.TYPE = 'cosine'
    with pytest.raises(ValueError, match='cosine'):
        build_scheduler(opt, cfg)


def test_checkpoint_schedules():
    saved = [e for e in range(1, 301) if lineage_checkpoint_due(e, 300)]
    assert saved == [40, 79, 80, 120, 159, 160, 200, 239, 240, 280, 296, 297, 298, 299, 300]
    dt = [e for e in range(1, 101) if droptrack.checkpoint_due(e, 100)]
    assert dt == [40, 79, 80] + list(range(90, 101))
    from lib.families import get_family

    family = get_family('droptrack')
    assert [e for e in range(1, 101) if family.checkpoint_schedule(None)(e, 100)] == dt
    assert family.build_actor is get_family('ostrack').build_actor and family.checkpoint_name == 'OSTrack'
