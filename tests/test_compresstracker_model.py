"""CompressTracker models: released-weights key layout, student initialisation from the teacher,
the replacement schedule and path, the frozen hidden teacher, configs and profiled MACs."""

import json
import os

import pytest
import torch

from lib.config import load_config
from lib.models import build_model_from_cfg, load_weights
from lib.models.compresstracker import profile_inputs, replacement_probability, sample_student_stages
from lib.utils.io import atomic_torch_save
from lib.utils.profiling import thop_macs
from tests.compresstracker_fixtures import tiny_cfg, tiny_teacher_checkpoint

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OFFICIAL_KEYS = os.path.join(REPO, 'tests', 'data', 'compresstracker_vitb_256_4_official_keys.json')

# thop MACs and parameter totals of the official student (test) models (fact sheet sections 3.8, 8).
PUBLISHED = {
    2: (6.381e9, 21_639_813),
    3: (8.648e9, 28_727_685),
    4: (10.915e9, 35_815_557),
    6: (15.449e9, 49_991_301),
}


def test_released_weights_layout_loads_strictly(tmp_path):
    with open(OFFICIAL_KEYS) as f:
        shapes = json.load(f)['shapes']
    released = {k: torch.randn(v) if v else torch.tensor(1) for k, v in shapes.items()}
    path = str(tmp_path / 'CompressTracker_ep0500.pth.tar')
    atomic_torch_save({'net': released}, path)
    model = build_model_from_cfg(
        'compresstracker', load_config('compresstracker', 'compresstracker_vitb_256_4'), training=False
    )
    load_weights(model, path, strict=True)
    key = 'backbone.distill_blocks.3.mlp.fc2.weight'
    assert torch.equal(model.state_dict()[key], released[key])
    # an official *training* checkpoint also carries the teacher: rejected with the keys named
    extra = dict(
        released,
        **{'ori_backbone.norm.weight': torch.ones(768), 'backbone.blocks.0.norm1.weight': torch.ones(768)},
    )
    atomic_torch_save({'net': extra}, str(tmp_path / 'train.pth.tar'))
    with pytest.raises(ValueError, match='2 unexpected'):
        load_weights(model, str(tmp_path / 'train.pth.tar'), strict=True)


def test_student_stages_start_from_the_last_teacher_block_of_each_stage(tmp_path):
    path, teacher = tiny_teacher_checkpoint(tmp_path)
    model = build_model_from_cfg('compresstracker', tiny_cfg(path), training=True)
    student, reference = model.state_dict(), teacher.state_dict()
    # 4 teacher blocks in 2 stages: [0, 1] and [2, 3] -> student blocks from teacher blocks 1 and 3
    for stage, block in ((0, 1), (1, 3)):
        for name in ('norm1.weight', 'attn.qkv.weight', 'attn.proj.bias', 'mlp.fc1.weight', 'mlp.fc2.bias'):
            assert torch.equal(
                student[f'backbone.distill_blocks.{stage}.{name}'],
                reference[f'backbone.blocks.{block}.{name}'],
            )
    assert not torch.equal(
        student['backbone.distill_blocks.0.attn.qkv.weight'], reference['backbone.blocks.0.attn.qkv.weight']
    )
    for name in (
        'backbone.patch_embed.proj.weight',
        'backbone.pos_embed_x',
        'backbone.norm.weight',
        'box_head.conv5_ctr.weight',
        'box_head.conv1_size.1.running_var',
    ):
        assert torch.equal(student[name], reference[name])
    # the teacher is loaded from the checkpoint, frozen, in eval mode, and outside the saved state
    assert all(torch.equal(v, reference[k]) for k, v in model.teacher.state_dict().items())
    model.train()
    assert not model.teacher.training and model.box_head.training
    assert not any(p.requires_grad for p in model.teacher.parameters())
    assert not any(k.startswith(('teacher', 'ori_')) or '.blocks.' in k for k in student)
    test_model = build_model_from_cfg('compresstracker', tiny_cfg(path), training=False)
    test_model.load_state_dict(student, strict=True)
    model.to(torch.float64)  # device/dtype moves carry the (unregistered) teacher along
    assert next(model.teacher.parameters()).dtype == torch.float64


@pytest.mark.parametrize('layers', [2, 3, 4, 6])
def test_student_stage_split_of_vit_b(layers):
    from lib.models.compresstracker.student import stage_last_blocks

    expected = {2: [5, 11], 3: [3, 7, 11], 4: [2, 5, 8, 11], 6: [1, 3, 5, 7, 9, 11]}[layers]
    assert stage_last_blocks(12, layers) == expected


def test_stage_count_must_divide_the_teacher_depth():
    cfg = load_config('compresstracker', 'tiny')
    cfg.MODEL.BACKBONE.DISTILL_LAYER = 3
    with pytest.raises(ValueError, match='DISTILL_LAYER 3'):
        build_model_from_cfg('compresstracker', cfg, training=False)


def test_replacement_probability_schedule():
    # 500 epochs: warm-up and end phase of 50 epochs (fact sheet 4.8)
    assert replacement_probability(1, 500) == 0.5
    assert replacement_probability(51, 500) == 0.5
    assert replacement_probability(52, 500) == pytest.approx(0.5 + 0.5 * 2 / 400)
    assert replacement_probability(100, 500) == pytest.approx(0.5625)
    assert replacement_probability(250, 500) == pytest.approx(0.75)
    assert replacement_probability(450, 500) == pytest.approx(1.0)
    assert replacement_probability(451, 500) == 1.0 and replacement_probability(500, 500) == 1.0
    ramp = [replacement_probability(e, 500) for e in range(1, 501)]
    assert all(a <= b for a, b in zip(ramp, ramp[1:]))
    # tiny: 10 epochs, one warm-up and one end epoch
    assert [replacement_probability(e, 10) for e in (1, 2, 3, 9, 10)] == [
        0.5,
        0.5,
        0.5 + 0.5 * 2 / 8,
        1.0,
        1.0,
    ]


def test_replacement_sampling():
    gen = torch.Generator().manual_seed(0)
    draws = [sample_student_stages(4, 0.5, gen) for _ in range(400)]
    assert all(any(d) for d in draws)  # never a pure-teacher path
    rate = sum(sum(d) for d in draws) / (4 * len(draws))
    # P(student) = 0.5 per stage, plus the forced stage when all four drew the teacher (1/16)
    assert rate == pytest.approx(0.5 + 1 / 64, abs=0.04)
    assert all(sum(sample_student_stages(4, 0.3, gen)) == 1 for _ in range(50))
    assert all(all(sample_student_stages(4, 1.0, gen)) for _ in range(50))


def test_replacement_path_and_student_only_eval(tmp_path, monkeypatch):
    path, teacher = tiny_teacher_checkpoint(tmp_path)
    model = build_model_from_cfg('compresstracker', tiny_cfg(path), training=True)
    z, x = torch.randn(2, 3, 64, 64), torch.randn(2, 3, 128, 128)
    import lib.models.compresstracker.distill as distill

    monkeypatch.setattr(distill, 'sample_student_stages', lambda n, p: [False, True])
    model.train()
    out = model(z, x)
    assert out['student_stages'] == [False, True]
    # stage 0 ran teacher blocks 0 and 1 on the student's embedding, equal to the teacher's stage-0
    # output because the embeddings were copied from the teacher (and the tiny config has no drop path)
    assert torch.allclose(out['stage_features'][0], out['teacher_stage_features'][0], atol=1e-5)
    out['pred_boxes'].sum().backward()
    grads = {n: p.grad for n, p in model.named_parameters()}
    assert grads['backbone.distill_blocks.0.attn.qkv.weight'] is None  # replaced this time
    assert grads['backbone.distill_blocks.1.attn.qkv.weight'].abs().sum() > 0
    assert grads['backbone.patch_embed.proj.weight'].abs().sum() > 0  # through the frozen teacher blocks
    assert all(p.grad is None for p in model.teacher.parameters())
    # evaluation mode (validation) and the test model: the student alone, same output
    model.eval()
    test_model = build_model_from_cfg('compresstracker', tiny_cfg(path), training=False).eval()
    test_model.load_state_dict(model.state_dict(), strict=True)
    with torch.no_grad():
        out = model(z, x)
        assert out['student_stages'] == [True, True]
        assert torch.allclose(out['pred_boxes'], test_model(z, x)['pred_boxes'], atol=1e-6)


def test_training_needs_an_existing_fitting_teacher_checkpoint(tmp_path):
    cfg = tiny_cfg(str(tmp_path / 'missing' / 'OSTrack_ep0300.pth.tar'))
    with pytest.raises(FileNotFoundError, match='MODEL.PRETRAIN_FILE'):
        build_model_from_cfg('compresstracker', cfg, training=True)
    # a student checkpoint is not a teacher: the strict load names the file and the keys
    student = build_model_from_cfg('compresstracker', load_config('compresstracker', 'tiny'), training=False)
    path = str(tmp_path / 'OSTrack_student.pth.tar')
    atomic_torch_save({'net': student.state_dict()}, path)
    with pytest.raises(ValueError, match=r'OSTrack_student.pth.tar does not fit .*backbone.blocks'):
        build_model_from_cfg('compresstracker', tiny_cfg(path), training=True)


def test_official_recipe_in_the_yamls():
    for layers in (2, 3, 4, 6):
        cfg = load_config('compresstracker', f'compresstracker_vitb_256_{layers}')
        assert cfg.MODEL.BACKBONE.DISTILL_LAYER == layers
        assert cfg.MODEL.BACKBONE.TYPE == 'vit_base_patch16_224_compress' and not cfg.MODEL.BACKBONE.CE_LOC
        assert cfg.MODEL.PRETRAIN_FILE == './pretrained_models/OSTrack_ep0300.pth.tar'
        t = cfg.TRAIN
        assert (t.EPOCH, t.LR_DROP_EPOCH, t.LR, t.BACKBONE_MULTIPLIER, t.BATCH_SIZE) == (
            500,
            400,
            4e-4,
            0.1,
            32,
        )
        assert (t.SUP_LOGIT, t.SUP_FEAT, t.SUP_REPLACE, t.VAL_EPOCH_INTERVAL, t.NUM_WORKER) == (
            True,
            True,
            True,
            10,
            8,
        )
        assert (cfg.DATA.SEARCH.SIZE, cfg.DATA.SEARCH.FACTOR, cfg.DATA.TEMPLATE.SIZE, cfg.TEST.EPOCH) == (
            256,
            4.0,
            128,
            500,
        )
        assert cfg.DATA.TRAIN.DATASETS_NAME == ['LASOT', 'GOT10K_vottrain', 'COCO17', 'TRACKINGNET']
    tiny = load_config('compresstracker', 'tiny')
    assert tiny.DATA.TRAIN.DATASETS_NAME == ['SYNTHETIC'] and tiny.MODEL.BACKBONE.DISTILL_LAYER == 2
    teacher = load_config('ostrack', 'tiny_ce').MODEL.BACKBONE
    assert (tiny.MODEL.BACKBONE.EMBED_DIM, tiny.MODEL.BACKBONE.DEPTH, tiny.MODEL.BACKBONE.NUM_HEADS) == (
        teacher.EMBED_DIM,
        teacher.DEPTH,
        teacher.NUM_HEADS,
    )


@pytest.mark.parametrize('layers', sorted(PUBLISHED))
def test_profiled_student_matches_published_macs(layers):
    cfg = load_config('compresstracker', f'compresstracker_vitb_256_{layers}')
    model = build_model_from_cfg('compresstracker', cfg, training=False).eval()
    macs, _ = thop_macs(model, profile_inputs(cfg))
    published_macs, published_params = PUBLISHED[layers]
    assert macs == pytest.approx(published_macs, rel=0.01)
    assert sum(p.numel() for p in model.parameters()) == published_params
