"""Training data pipeline: sampler constraints, processing outputs, transforms, collate, epoch sampling."""

import numpy as np
import pytest
import torch

from lib.train.data.loader import EpochIndexSampler, build_loader, collate_stack1
from lib.train.data.pipeline import build_processing
from lib.train.data.processing import TemplateSearchProcessing
from lib.train.data.sampler import SamplerError, TrackingSampler
from lib.train.data.transforms import Compose, RandomHorizontalFlip, ToGrayscale, ToTensor
from tests.train_fixtures import ToyVideoDataset, tiny_cfg

MEAN, STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]


def _ids(sample):
    return sample['template_frame_ids'], sample['search_frame_ids']


def test_causal_sampling_puts_search_after_template_within_max_gap():
    data = ToyVideoDataset(length=40, invisible={10, 11, 12, 30})
    sampler = TrackingSampler([data], [1], samples_per_epoch=10, max_gap=6)
    for index in range(300):
        (template,), (search,) = _ids(sampler[index])
        assert 0 < search - template < 6
        assert template not in data.invisible and search not in data.invisible


def test_gap_grows_when_no_visible_frame_follows_within_max_gap():
    # Only even frames 0..8 are visible; with max_gap 2 the search range (t, t + 2) holds only the
    # invisible frame t + 1, so every sample needs the gap to grow.
    data = ToyVideoDataset(length=30, invisible=set(range(30)) - {0, 2, 4, 6, 8})
    sampler = TrackingSampler([data], [1], samples_per_epoch=10, max_gap=2)
    for index in range(50):
        (template,), (search,) = _ids(sampler[index])
        assert template in {0, 2, 4, 6} and search in {2, 4, 6, 8} and search > template


def test_dataset_ratios_are_respected():
    a, b = ToyVideoDataset(name='A'), ToyVideoDataset(name='B')
    sampler = TrackingSampler([a, b], [3, 1], samples_per_epoch=10, max_gap=5)
    names = [sampler[i]['dataset'] for i in range(600)]
    assert abs(names.count('A') / 600 - 0.75) < 0.06


def test_short_or_mostly_invisible_sequences_are_never_drawn():
    short = ToyVideoDataset(name='SHORT', length=19)
    with pytest.raises(SamplerError, match='SHORT'):
        TrackingSampler([short], [1], samples_per_epoch=4, max_gap=5, max_sequence_draws=50)[0]


def test_image_dataset_uses_the_same_frame_for_template_and_search():
    images = ToyVideoDataset(name='IMG', video=False)
    sampler = TrackingSampler([images], [1], samples_per_epoch=4, max_gap=5)
    assert _ids(sampler[3]) == ([0], [0])


def test_samples_are_a_function_of_seed_and_index():
    def draw(seed, index):
        s = TrackingSampler(
            [ToyVideoDataset(num_sequences=5, length=60)],
            [1],
            10,
            20,
            seed=seed,
            processing=build_processing(tiny_cfg()),
        )
        return s[index]

    first, again, other, other_seed = draw(0, 7), draw(0, 7), draw(0, 8), draw(1, 7)
    assert torch.equal(first['search_images'], again['search_images'])
    assert not torch.equal(first['search_images'], other['search_images'])
    assert not torch.equal(first['search_images'], other_seed['search_images'])


def test_failing_frames_are_redrawn_but_a_persistent_failure_raises():
    flaky = ToyVideoDataset(length=30, fail_frames={3})
    sampler = TrackingSampler([flaky], [1], samples_per_epoch=4, max_gap=5)
    with pytest.warns(UserWarning, match='cannot read frame'):
        for index in range(60):
            (template,), (search,) = _ids(sampler[index])
            assert 3 not in (template, search)
    broken = ToyVideoDataset(name='BROKEN', length=30, fail_frames=set(range(30)))
    with pytest.warns(UserWarning), pytest.raises(SamplerError, match='BROKEN'):
        TrackingSampler([broken], [1], samples_per_epoch=4, max_gap=5, max_errors=3)[0]


def _frame_data(box, image_size=(96, 128)):
    img = np.full(image_size + (3,), 60, dtype=np.uint8)
    x, y, w, h = box
    img[y : y + h, x : x + w] = (200, 120, 40)
    t = torch.tensor(box, dtype=torch.float32)
    return {
        'template_images': [img],
        'template_anno': [t],
        'search_images': [img.copy()],
        'search_anno': [t],
        'dataset': 'X',
    }


def test_processing_shapes_masks_and_normalisation():
    cfg = tiny_cfg()
    proc = build_processing(cfg, training=False)
    out = proc(_frame_data((40, 30, 24, 18)), np.random.default_rng(0))
    assert out['valid'] is True
    assert out['template_images'].shape == (1, 3, 32, 32) and out['search_images'].shape == (1, 3, 64, 64)
    assert out['template_att'].shape == (1, 32, 32) and out['template_att'].dtype == torch.bool
    assert out['search_masks'].shape == (1, 64, 64) and out['template_anno'].shape == (1, 4)
    # Template: crop side ceil(sqrt(24*18)*2) = 42 inside the image, no jitter: no padding, and the box
    # is 24/42 of the crop wide.
    assert not out['template_att'].any()
    assert out['template_anno'][0, 2].item() == pytest.approx(24 / 42, abs=1e-5)
    expected_bg = [(60 / 255 - m) / s for m, s in zip(MEAN, STD)]
    assert out['template_images'][0, :, 0, 0].tolist() == pytest.approx(expected_bg, abs=1e-5)
    expected_fg = [(v / 255 - m) / s for v, m, s in zip((200, 120, 40), MEAN, STD)]
    assert out['template_images'][0, :, 16, 16].tolist() == pytest.approx(expected_fg, abs=1e-5)


def test_attention_mask_marks_padding_of_a_crop_at_the_image_corner():
    proc = TemplateSearchProcessing(
        {'template': 2.0, 'search': 4.0},
        {'template': 32, 'search': 64},
        {'template': 0, 'search': 0},
        {'template': 0, 'search': 0},
        transform=Compose(ToTensor()),
    )
    out = proc(_frame_data((2, 2, 20, 20)), np.random.default_rng(0))
    att = out['search_att'][0]
    assert att[0, 0] and att[:10, :10].all()  # 28 px of the 80 px crop lie left/above the image
    assert not att[32, 32] and not att[-1, -1]
    assert (out["search_images"][0][:, :20, :20] == 0).all()  # padding is zeros before normalisation


def test_degenerate_or_outside_boxes_are_invalid():
    proc = build_processing(tiny_cfg(), training=False)
    assert proc(_frame_data((40, 30, 0, 18)), np.random.default_rng(0))['valid'] is False
    far = _frame_data((40, 30, 4, 4))
    far['search_anno'] = [torch.tensor([1000.0, 1000.0, 4.0, 4.0])]
    out = proc(far, np.random.default_rng(0))
    assert out['valid'] is False and 'padding' in out['invalid_reason']


def test_joint_transform_shares_grayscale_and_flip_between_template_and_search():
    joint = Compose(ToGrayscale(1.0), RandomHorizontalFlip(1.0), joint=True)
    proc = TemplateSearchProcessing(
        {'template': 2.0, 'search': 4.0},
        {'template': 32, 'search': 64},
        {'template': 0, 'search': 0},
        {'template': 0, 'search': 0},
        joint_transform=joint,
        transform=Compose(ToTensor()),
    )
    out = proc(_frame_data((40, 30, 24, 18)), np.random.default_rng(0))
    for kind in ('template', 'search'):
        img = out[f'{kind}_images'][0]
        assert torch.equal(img[0], img[1]) and torch.equal(img[1], img[2])
    flip = RandomHorizontalFlip(1.0)
    item = flip.apply(
        {'image': np.zeros((96, 128, 3), np.uint8), 'box': torch.tensor([40.0, 30.0, 24.0, 18.0])}, True
    )
    assert item['box'].tolist() == [127 - 64, 30, 24, 18]
    norm = RandomHorizontalFlip(1.0, normalized=True).apply(
        {'image': torch.zeros(3, 8, 8), 'box': torch.tensor([0.1, 0.2, 0.3, 0.4])}, True
    )
    assert norm['box'].tolist() == pytest.approx([0.6, 0.2, 0.3, 0.4])


def test_training_augmentation_rolls_per_crop_and_changes_brightness():
    proc = build_processing(tiny_cfg(), training=True)
    outs = [proc(_frame_data((40, 30, 24, 18)), np.random.default_rng(i)) for i in range(12)]
    corners = {round(o['template_images'][0, 0, 0, 0].item(), 4) for o in outs if o['valid']}
    assert len(corners) > 3  # brightness jitter varies per sample


def test_epoch_index_sampler_splits_ranks_disjointly_and_changes_per_epoch():
    ranks = [EpochIndexSampler(10, rank=r, world_size=3) for r in range(3)]
    for s in ranks:
        s.set_epoch(2)
    drawn = [list(s) for s in ranks]
    assert all(len(d) == 3 for d in drawn)
    flat = sum(drawn, [])
    assert len(set(flat)) == 9 and all(20 <= i < 30 for i in flat)
    ranks[0].set_epoch(3)
    assert set(ranks[0]).isdisjoint(drawn[0])


def test_loader_collates_with_stack_dim_1():
    sampler = TrackingSampler([ToyVideoDataset()], [1], 6, 5, processing=build_processing(tiny_cfg()))
    loader = build_loader(sampler, batch_size=3, num_workers=0)
    batch = next(iter(loader))
    assert batch['template_images'].shape == (1, 3, 3, 32, 32)
    assert batch['search_anno'].shape == (1, 3, 4) and batch['search_att'].dtype == torch.bool
    assert batch['dataset'] == ['TOY'] * 3 and batch['valid'].tolist() == [True] * 3
    assert collate_stack1([{'a': None}, {'a': None}]) == {'a': [None, None]}


def test_loader_with_workers_gives_the_same_batches_as_without():
    def batches(workers):
        sampler = TrackingSampler([ToyVideoDataset()], [1], 4, 5, processing=build_processing(tiny_cfg()))
        loader = build_loader(sampler, batch_size=2, num_workers=workers)
        loader.sampler.set_epoch(5)
        return [b['search_images'] for b in loader]

    for a, b in zip(batches(0), batches(2)):
        assert torch.equal(a, b)
