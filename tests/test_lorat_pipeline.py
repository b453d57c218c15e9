"""LoRAT pipeline units: SiamFC crop geometry, label assignment, loss, processing, augmentation,
parameter groups, warmup + cosine schedule, global batch plan and gradient accumulation."""

import math

import numpy as np
import pytest
import torch

from lib.config import load_config
from lib.models import build_model_from_cfg
from lib.models.lorat import trainable_parameter_names
from lib.train.actors.lorat import lorat_loss, param_groups
from lib.train.data.lorat_augment import LoRATAugmentation, hflip
from lib.train.data.lorat_processing import LoRATProcessing, positive_cells
from lib.train.trainers.optim import build_scheduler, global_batch_plan, warmup_cosine_lr
from lib.train.trainers.trainer import Trainer
from lib.utils.siamfc_crop import crop_image, crop_params, inverse_params, jittered_crop_params, map_boxes


@pytest.fixture(scope='module')
def tiny_cfg():
    return load_config('lorat', 'tiny')


# ------------------------------------------------------------------------------------ crop geometry
def test_siamfc_crop_params_and_pixel_aligned_crop():
    box = [10, 20, 50, 60]  # 40 x 40: padded side 40 + (2 - 1) * 40 = 80 -> scale 112 / 80 = 1.4
    params = crop_params(box, 2.0, 112)
    np.testing.assert_allclose(params, [[1.4, 1.4], [56 - 30 * 1.4, 56 - 40 * 1.4]])
    image = np.zeros((200, 200, 3), dtype=np.uint8)
    image[:, :, 0] = 100
    image[20:60, 10:50] = 250
    crop, padding, realised = crop_image(image, 112, params)
    np.testing.assert_allclose(realised, params)  # block edges fall on whole pixels here
    np.testing.assert_allclose(map_boxes(box, realised), [28, 28, 84, 84])
    assert crop.shape == (3, 112, 112)
    mean = image.reshape(-1, 3).mean(0)
    np.testing.assert_allclose(padding.numpy(), mean, rtol=1e-5)
    # columns 0..13 lie left of the image (x < 0 maps to crop x < 14): the frame mean
    np.testing.assert_allclose(
        crop[:, :, :14].reshape(3, -1).numpy(), np.repeat(mean[:, None], 112 * 14, 1), rtol=1e-5
    )
    # inside the target (bilinear weights sum to 1 only up to float rounding, which differs by thread count)
    torch.testing.assert_close(crop[:, 40:70, 40:70], torch.full((3, 30, 30), 250.0), rtol=0, atol=1e-3)
    np.testing.assert_allclose(map_boxes(map_boxes(box, realised), inverse_params(realised)), box)


def test_jittered_crop_rejects_then_fails_on_tiny_boxes():
    rng = np.random.default_rng(0)
    params, ok = jittered_crop_params([50, 50, 52, 52], 4.0, 112, 0.25, 3.0, rng, min_object_size=40)
    assert not ok  # a 2 px box gives about 112 / 4 = 28 px < 40 at most scales
    params, ok = jittered_crop_params([50, 50, 90, 90], 4.0, 112, 0.0, 0.0, rng, min_object_size=10)
    assert ok
    np.testing.assert_allclose(params, crop_params([50, 50, 90, 90], 4.0, 112))


# ------------------------------------------------------------------------------------ labels, loss
def test_positive_cells_cover_every_cell_the_box_touches():
    # crop 112 px, map 8 x 8 (stride 14): [14, 14, 30, 20] -> [1, 1, 2.14, 1.43] -> cols 1..2, row 1
    mask = positive_cells([14, 14, 30, 20], (8, 8), (112, 112))
    assert mask.sum() == 2 and mask[1, 1] and mask[1, 2]
    # a box ending exactly on a cell edge does not spill into the next cell
    mask = positive_cells([0, 0, 28, 28], (8, 8), (112, 112))
    assert mask.sum() == 4 and mask[:2, :2].all()


def _loss_inputs():
    score = torch.zeros(1, 2, 2)
    score[0, 0, 0] = 2.0
    boxes = torch.tensor([0.1, 0.1, 0.2, 0.2]).repeat(1, 2, 2, 1)
    boxes[0, 0, 0] = torch.tensor([0.0, 0.0, 0.5, 0.5])
    gt = torch.tensor([[0.0, 0.0, 0.5, 1.0]])
    positive = torch.zeros(1, 2, 2, dtype=torch.bool)
    positive[0, 0, 0] = True
    return score, boxes, gt, positive


def test_iou_aware_bce_and_giou_loss_by_hand():
    score, boxes, gt, positive = _loss_inputs()
    total, stats = lorat_loss(score, boxes, gt, positive)
    # positive cell: IoU = GIoU = 0.25 / 0.5 = 0.5; BCE(x=2, t=0.5) = log(1 + e^2) - 1; three cells at
    # x = 0: log 2 each; one positive.
    bce = math.log(1 + math.e**2) - 2 * 0.5 + 3 * math.log(2)
    assert stats['Loss/bce'] == pytest.approx(bce, rel=1e-5)
    assert stats['Loss/giou'] == pytest.approx(0.5, rel=1e-5)
    assert total.item() == pytest.approx(bce + 0.5, rel=1e-5)
    total, stats = lorat_loss(score, boxes, gt, positive, iou_aware=False, bce_weight=2.0, giou_weight=3.0)
    bce_hard = math.log(1 + math.e**2) - 2 + 3 * math.log(2)
    assert total.item() == pytest.approx(2 * bce_hard + 3 * 0.5, rel=1e-5)


def test_loss_without_positives_divides_by_one_and_keeps_gradients_finite():
    score, boxes, gt, positive = _loss_inputs()
    score.requires_grad_(True)
    boxes.requires_grad_(True)
    total, stats = lorat_loss(score, boxes, gt, torch.zeros_like(positive))
    assert stats['Loss/giou'] == 0.0
    assert total.item() == pytest.approx(math.log(1 + math.e**2) + 3 * math.log(2), rel=1e-5)
    total.backward()
    assert torch.isfinite(boxes.grad).all() and boxes.grad.abs().sum() == 0


# ------------------------------------------------------------------------------------ processing
def _pair(image_size=(200, 240), box=(100, 60, 40, 40)):
    image = np.full(image_size + (3,), 60, dtype=np.uint8)
    x, y, w, h = box
    image[y : y + h, x : x + w] = (200, 120, 40)
    return {
        'template_images': [image],
        'template_anno': [torch.tensor(box, dtype=torch.float32)],
        'search_images': [image.copy()],
        'search_anno': [torch.tensor(box, dtype=torch.float32)],
        'dataset': 'toy',
    }


def test_processing_without_jitter_centres_the_target(tiny_cfg):
    processing = LoRATProcessing.from_cfg(tiny_cfg, training=False)
    out = processing(_pair(), np.random.default_rng(0))
    assert out['valid'] and out['dataset'] == 'toy'
    assert out['template_images'].shape == (1, 3, 56, 56) and out['search_images'].shape == (1, 3, 112, 112)
    # search: 40 px box, factor 4 -> padded 160 -> scale 0.7 -> [42, 42, 70, 70] of 112
    torch.testing.assert_close(out['search_box'], torch.tensor([[0.375, 0.375, 0.625, 0.625]]))
    # map cells 3..4 in both directions are positive
    expected = torch.zeros(1, 8, 8, dtype=torch.bool)
    expected[0, 3:5, 3:5] = True
    assert torch.equal(out['search_positive'], expected)
    # template: factor 2 -> scale 0.7 -> [14, 14, 42, 42] of 56 -> patches 1..2 of the 4 x 4 grid
    mask = torch.zeros(1, 4, 4, dtype=torch.long)
    mask[0, 1:3, 1:3] = 1
    assert torch.equal(out['template_feat_mask'], mask)
    torch.testing.assert_close(out['search_anno'], torch.tensor([[0.375, 0.375, 0.25, 0.25]]))
    # ImageNet-normalised: the target colour (200, 120, 40) at the crop centre
    centre = out['search_images'][0, :, 56, 56]
    expected_centre = (
        torch.tensor([200, 120, 40]) / 255.0 - torch.tensor(tiny_cfg.DATA.MEAN)
    ) / torch.tensor(tiny_cfg.DATA.STD)
    torch.testing.assert_close(centre, expected_centre, atol=1e-4, rtol=0)


def test_processing_with_jitter_and_augmentation_keeps_labels_consistent(tiny_cfg):
    processing = LoRATProcessing.from_cfg(tiny_cfg, training=True)
    for seed in range(8):
        out = processing(_pair(), np.random.default_rng(seed))
        assert out['valid']
        box = out['search_box'][0]
        assert (box >= 0).all() and (box <= 1).all() and (box[2:] - box[:2] >= 10 / 112 - 1e-6).all()
        # every positive cell overlaps the (normalised) box, and the box centre cell is positive
        rows, cols = torch.nonzero(out['search_positive'][0], as_tuple=True)
        assert ((cols + 1) / 8 > box[0]).all() and (cols / 8 < box[2]).all()
        assert ((rows + 1) / 8 > box[1]).all() and (rows / 8 < box[3]).all()
        cx, cy = ((box[:2] + box[2:]) / 2 * 8).long().clamp(max=7)
        assert out['search_positive'][0, cy, cx]
        assert out['template_feat_mask'].sum() >= 1


def test_processing_reports_failed_jitter_as_invalid(tiny_cfg):
    processing = LoRATProcessing.from_cfg(tiny_cfg, training=True)
    processing.min_object_size = 1000.0  # no crop can satisfy it
    out = processing(_pair(), np.random.default_rng(0))
    assert out['valid'] is False and 'jitter' in out['invalid_reason']


def test_hflip_and_joint_flip_option():
    image = torch.arange(10.0).view(1, 1, 10).repeat(3, 2, 1)
    flipped, box = hflip(image, [1, 2, 4, 5])
    np.testing.assert_allclose(box, [6, 2, 9, 5])
    assert flipped[0, 0, 0] == 9
    aug = LoRATAugmentation(hflip_prob=0.5, hflip_joint=True, color_jitter=0.0, deit3=False)
    for seed in range(6):
        (zi, zb), (xi, xb) = aug(
            (image, np.array([1.0, 2, 4, 5])), (image, np.array([1.0, 2, 4, 5])), np.random.default_rng(seed)
        )
        assert torch.equal(zi, xi) and np.allclose(zb, xb)


# ------------------------------------------------------------------------------------ optimisation
def test_param_groups_hold_only_the_trainable_set_with_official_decay(tiny_cfg):
    net = build_model_from_cfg('lorat', tiny_cfg, training=True)
    groups = param_groups(net, tiny_cfg)
    names = {id(p): n for n, p in net.named_parameters()}
    decay = {names[id(p)] for p in groups[0]['params']}
    no_decay = {names[id(p)] for p in groups[1]['params']}
    assert decay | no_decay == set(trainable_parameter_names(net)) and not decay & no_decay
    assert groups[0]['weight_decay'] == 0.1 and groups[1]['weight_decay'] == 0.0
    assert 'token_type_embed' in no_decay and 'head.cls_mlp.layers.0.bias' in no_decay
    assert 'head.cls_mlp.layers.0.weight' in decay
    assert any(n.endswith('lora.A') for n in decay) and any(n.endswith('lora.B') for n in decay)
    assert not any(n.startswith(('patch_embed', 'pos_embed', 'norm.')) for n in decay | no_decay)


def test_warmup_cosine_by_hand_and_per_iteration_scheduler(tiny_cfg):
    lr = lambda s: warmup_cosine_lr(s, 1e-4, 2, 10, 1e-7, 1e-6)  # noqa: E731
    assert lr(0) == pytest.approx(1e-7)
    assert lr(1) == pytest.approx(1e-7 + (1e-4 - 1e-7) / 2)
    assert lr(2) == pytest.approx(1e-4)
    assert lr(7) == pytest.approx(1e-6 + (1e-4 - 1e-6) / 2)
    assert lr(12) == pytest.approx(1e-6)
    cfg = tiny_cfg.clone() if hasattr(tiny_cfg, 'clone') else load_config('lorat', 'tiny')
    cfg.TRAIN.EPOCH, cfg.TRAIN.LR = 2, 1e-4
    cfg.TRAIN.SCHEDULER.WARMUP_EPOCHS = 1
    opt = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=cfg.TRAIN.LR)
    sched = build_scheduler(opt, cfg, steps_per_epoch=4)
    seen = []
    for _ in range(6):
        seen.append(opt.param_groups[0]['lr'])
        opt.step()
        sched.step()
    expected = [warmup_cosine_lr(s, 1e-4, 4, 8, 1e-7, 1e-6) for s in range(6)]
    np.testing.assert_allclose(seen, expected, rtol=1e-9)


def test_global_batch_plan():
    cfg = load_config('lorat', 'base_224')
    assert global_batch_plan(cfg, 4) == (2, 1.0)  # 16 x 4 = 64 per step -> accumulate 2 to reach 128
    assert global_batch_plan(cfg, 8) == (1, 1.0)
    cfg.TRAIN.GLOBAL_BATCH_MODE = 'scale_lr'
    assert global_batch_plan(cfg, 4) == (1, 0.5)
    cfg.TRAIN.GLOBAL_BATCH_MODE = 'accumulate'
    cfg.TRAIN.BATCH_SIZE = 24
    with pytest.raises(ValueError, match='GLOBAL_BATCH_SIZE 128'):
        global_batch_plan(cfg, 1)


class _LinearActor:
    def __init__(self, net):
        self.net = net

    def __call__(self, data):
        return ((self.net(data['x']) - data['y']) ** 2).mean(), {}


def test_gradient_accumulation_equals_one_big_batch():
    torch.manual_seed(0)
    x, y = torch.randn(4, 3), torch.randn(4, 1)
    results = []
    for accum, batches in ((1, [(x, y)]), (2, [(x[:2], y[:2]), (x[2:], y[2:])])):
        net = torch.nn.Linear(3, 1)
        torch.nn.init.constant_(net.weight, 0.5)
        torch.nn.init.constant_(net.bias, 0.1)
        opt = torch.optim.SGD(net.parameters(), lr=0.1)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5**s)
        trainer = Trainer(
            _LinearActor(net),
            [],
            opt,
            sched,
            max_epochs=1,
            checkpoint_dir='unused',
            checkpoint_name='x',
            grad_accum_steps=accum,
            lr_step_per_iteration=True,
        )
        stepped = [trainer.step(trainer.actor({'x': bx, 'y': by})[0], flush=False) for bx, by in batches]
        assert stepped == [False] * (accum - 1) + [True]
        assert opt.param_groups[0]['lr'] == pytest.approx(0.05)  # one scheduler step per update
        results.append(net.weight.detach().clone())
    torch.testing.assert_close(results[0], results[1])
