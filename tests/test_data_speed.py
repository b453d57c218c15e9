"""Fast data path (issue #6): the crop geometry of lib/utils/warp_crop.py against the official
sample_target and SiamFC crops, fast vs plain processing (same draws, boxes and labels; close images),
decoding each needed frame once, decoder backends, and the loader benchmark."""

import math

import cv2
import numpy as np
import pytest
import torch

from lib.config import load_config
from lib.train.data.lorat_processing import LoRATProcessing
from lib.train.data.processing import TemplateSearchProcessing
from lib.train.data.sampler import TrackingSampler, sample_visible_ids
from lib.train.data.transforms import (
    Compose,
    Normalize,
    RandomHorizontalFlip,
    ToGrayscale,
    ToTensorAndJitter,
    Transform,
)
from lib.utils.crop import sample_target, transform_image_to_crop
from lib.utils.image_io import decode_image, default_backend, encode_jpeg
from lib.utils.siamfc_crop import crop_image, jittered_crop_params
from lib.utils.warp_crop import WarpCrop, siamfc_resize_crop
from tests.train_fixtures import write_small_lasot

MEAN, STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
LEVEL = 1 / 255 / min(STD)  # one grey level in ImageNet-normalised units


def textured(h, w, seed=0):
    rng = np.random.default_rng(seed)
    return cv2.GaussianBlur(rng.integers(0, 256, (h, w, 3), dtype=np.uint8), (5, 5), 1.0)


def random_boxes(rng, n, h, w):
    """Boxes of all sizes, many of them crossing or leaving the frame border."""
    for _ in range(n):
        bw, bh = rng.uniform(2, 0.6 * w), rng.uniform(2, 0.6 * h)
        yield [rng.uniform(-bw - 10, w + 10), rng.uniform(-bh - 10, h + 10), bw, bh]


# ------------------------------------------------------------------------------------ warp crop
def test_warp_crop_matches_sample_target_geometry_masks_and_pixels():
    image = textured(90, 120)
    rng = np.random.default_rng(1)
    padded = warped = 0
    for box in random_boxes(rng, 600, 90, 120):
        factor, size = float(rng.choice([2.0, 4.0, 5.0])), int(rng.choice([16, 32, 64]))
        for mirror in (False, True):
            frame = np.ascontiguousarray(image[:, ::-1]) if mirror else image
            try:
                ref, ref_factor, ref_att = sample_target(frame, box, factor, size)
            except ValueError:
                continue
            plan = WarpCrop(image.shape[:2], box, factor, size, mirror_frame=mirror)
            assert plan.resize_factor == ref_factor
            assert np.array_equal(plan.att, ref_att)  # padding masks agree pixel for pixel
            # boxes mapped into the crop depend on the window only: identical
            assert torch.equal(
                transform_image_to_crop(box, box, plan.resize_factor, size),
                transform_image_to_crop(box, box, ref_factor, size),
            )
            # windows inside the frame, and padded ones up to copy_limit: cv2.resize itself, bit-identical
            assert np.array_equal(plan.crop(image, copy_limit=math.inf), ref)
            if plan.inside or not plan.overlaps or plan.crop_sz <= 3 * size:
                assert np.array_equal(plan.crop(image), ref)  # the default copy_limit is 3
            if plan.inside or not plan.overlaps:
                continue
            padded += 1
            crop = plan.crop(image, copy_limit=0)  # force the warp
            diff = np.abs(crop.astype(int) - ref)
            # upscaled crops: pixels sampling within half a source pixel outside the window differ
            band = math.ceil(0.5 * size / plan.crop_sz) if plan.crop_sz < size else 0
            inner = diff[band : size - band, band : size - band]
            assert inner.max() <= 2, (box, factor, size, mirror)  # 1/32 px sample quantisation
            assert diff.mean() < 1.0
            warped += 1
    assert padded > 200 and warped == padded


def test_warp_crop_keeps_the_official_last_column_quirk():
    image = np.full((40, 60, 3), 100, dtype=np.uint8)
    # side 20 at x 40: reaches W exactly; the official padding replaces column 59 by a masked zero
    for copy_limit in (3.0, 0.0):
        plan = WarpCrop(image.shape[:2], [45, 10, 10, 10], 2.0, 20)
        crop = plan.crop(image, copy_limit=copy_limit)
        assert plan.att[:, 19].all() and not plan.att[:, :19].any()
        assert not crop[:, 19].any() and (crop[:, :19] == 100).all()


def test_siamfc_resize_crop_matches_crop_image():
    image = textured(100, 140, seed=2)
    rng = np.random.default_rng(3)
    for box in random_boxes(rng, 60, 100, 140):
        xyxy = [box[0], box[1], box[0] + box[2], box[1] + box[3]]
        params, _ = jittered_crop_params(xyxy, 4.0, 48, 0.25, 3.0, rng)
        ref, ref_pad, ref_params = crop_image(image, 48, params)
        crop, pad, realised = siamfc_resize_crop(image, 48, params)
        np.testing.assert_array_equal(realised, ref_params)
        assert crop.shape == ref.shape
        assert (crop - ref).abs().max() <= 1.0  # cv2.resize rounds to whole levels
        if pad is not None:
            torch.testing.assert_close(pad, ref_pad, rtol=0, atol=1e-3)
        else:  # no padding needed: the crop covers the output
            assert realised[1].min() <= 0 and (realised[0] * [140, 100] + realised[1] >= 48).all()


def _lineage_jitter(box, center_jitter, scale_jitter, rng):
    """The lineage's jitter written in torch float32, the way its processing computes it (the oracle)."""
    box = torch.as_tensor(box, dtype=torch.float32)
    size = box[2:4] * torch.exp(torch.from_numpy(rng.standard_normal(2)).float() * scale_jitter)
    max_offset = size.prod().sqrt() * center_jitter
    center = box[0:2] + 0.5 * box[2:4] + max_offset * (torch.from_numpy(rng.random(2)).float() - 0.5)
    return torch.cat((center - 0.5 * size, size))


def _lineage_box_in_crop(box_in, box_extract, resize_factor, crop_sz):
    """The lineage's transform_image_to_crop (normalised) in torch float32 (the oracle)."""
    box_in, box_extract = (torch.as_tensor(b, dtype=torch.float32) for b in (box_in, box_extract))
    size = torch.tensor([float(crop_sz)])
    out_wh = box_in[2:] * resize_factor
    centre = (size - 1) / 2 + (box_in[:2] + 0.5 * box_in[2:] - (box_extract[:2] + 0.5 * box_extract[2:])) * (
        resize_factor
    )
    return torch.cat((centre - 0.5 * out_wh, out_wh)) / size[0]


def test_box_arithmetic_is_bit_identical_to_the_lineage_torch_code():
    from lib.train.data.transforms import mirror_box as mirror_tensor
    from lib.utils.box_ops import box_in_crop, jitter_box, mirror_box

    rng = np.random.default_rng(11)
    for i, box in enumerate(random_boxes(rng, 3000, 480, 640)):
        center_jitter, scale_jitter = [(0, 0), (3, 0.25), (4.5, 0.5)][i % 3]
        seed = int(rng.integers(1 << 30))
        reference = _lineage_jitter(box, center_jitter, scale_jitter, np.random.default_rng(seed))
        jittered = jitter_box(box, center_jitter, scale_jitter, np.random.default_rng(seed))
        assert jittered.dtype == np.float32 and np.array_equal(reference.numpy(), jittered), (box, seed)
        size = (128, 256, 224)[i % 3]
        factor = size / math.ceil(math.sqrt(float(jittered[2] * jittered[3])) * 4.0)
        reference = _lineage_box_in_crop(box, reference, factor, size)
        in_crop = box_in_crop(box, jittered, factor, size, normalize=True)
        assert np.array_equal(reference.numpy(), in_crop), (box, seed)
        assert torch.equal(transform_image_to_crop(box, jittered, factor, size, normalize=True), reference)
        for right in (639, 1.0):
            mirrored = reference.clone()
            mirrored[0] = right - (reference[0] + reference[2])
            assert np.array_equal(mirrored.numpy(), mirror_box(in_crop, right))
            assert torch.equal(mirror_tensor(reference, right), mirrored)


def test_value_table_is_the_plain_transforms_output_for_every_level():
    from lib.train.data.transforms import CropTransformPlan, lineage_transforms

    plan = CropTransformPlan(*lineage_transforms(MEAN, STD, training=True))
    levels = torch.arange(256, dtype=torch.float32).view(1, 1, 256).expand(3, 1, 256)
    for factor in [0.8, 1.0, 1.2] + list(np.random.default_rng(13).uniform(0.8, 1.2, 500)):
        reference = plan.normalize.normalize(plan.to_tensor.scale(levels, factor))[:, 0, :].numpy()
        assert np.array_equal(plan.value_table(factor), reference), factor


@pytest.mark.parametrize(
    'in_size, out_size', [(256, 16), (128, 8), (96, 6), (100, 7), (48, 3), (7, 7), (5, 10), (33, 4)]
)
def test_nearest_indices_are_those_of_interpolate(in_size, out_size):
    from lib.train.data.processing import nearest_indices

    source = torch.arange(in_size, dtype=torch.float32)[None, None, None]
    picked = torch.nn.functional.interpolate(source, size=(1, out_size))[0, 0, 0].long().numpy()
    assert np.array_equal(nearest_indices(in_size, out_size), picked)


def test_separable_padding_check_gives_the_plain_reasons():
    rng = np.random.default_rng(12)
    seen = set()
    for size, stride in ((96, 16), (100, 16), (48, 16)):
        zero = {'template': 0, 'search': 0}
        processing = TemplateSearchProcessing(
            {'template': 2.0, 'search': 4.0},
            {'template': size, 'search': size},
            zero,
            zero,
            stride=stride,
            fast=False,
        )
        for box in random_boxes(rng, 400, 60, 80):
            plan = WarpCrop((60, 80), box, 4.0, size)
            expected = processing._padding_reason(plan.att, 'search')
            assert processing._separable_padding_reason(plan, 'search') == expected, box
            seen.add(expected)
    assert len(seen) == 3  # usable, all padding, all padding at feature resolution


# ------------------------------------------------------------------------------------ processing
@pytest.fixture(scope='module')
def lasot_root(tmp_path_factory):
    return write_small_lasot(tmp_path_factory.mktemp('lasot'), (200, 150))


def _lineage_processing(fast, gray_p=0.05, extra=()):
    joint = Compose(ToGrayscale(gray_p), RandomHorizontalFlip(0.5), joint=True)
    per_crop = Compose(
        ToTensorAndJitter(0.2), RandomHorizontalFlip(0.5, normalized=True), Normalize(MEAN, STD), *extra
    )
    return TemplateSearchProcessing(
        {'template': 2.0, 'search': 4.0},
        {'template': 48, 'search': 96},
        {'template': 0.0, 'search': 3.0},
        {'template': 0.0, 'search': 0.25},
        joint_transform=joint,
        transform=per_crop,
        stride=16,
        fast=fast,
    )


def _compare(plain, fast, image_tol):
    assert plain.keys() == fast.keys()
    identical = 0
    for key, value in plain.items():
        if not isinstance(value, torch.Tensor):
            assert value == fast[key], key
        elif key.endswith('_images'):
            assert value.dtype == fast[key].dtype and value.shape == fast[key].shape
            diff = (value - fast[key]).abs()
            assert diff.max() <= image_tol, key
            identical += bool(diff.max() == 0)
        else:
            assert torch.equal(value, fast[key]), key  # boxes, padding masks, masks, labels
    return identical


def _sampler(root, processing, mode='causal'):
    from lib.train.dataset.lasot import Lasot

    return TrackingSampler([Lasot(root)], [1], 100, 20, processing=processing, frame_sample_mode=mode, seed=5)


@pytest.mark.parametrize('gray_p', [0.05, 0.6])
def test_fast_processing_equals_plain(lasot_root, gray_p):
    plain = _sampler(lasot_root, _lineage_processing(False, gray_p))
    fast = _sampler(lasot_root, _lineage_processing(True, gray_p))
    assert fast.processing.transform_plan is not None and plain.processing.transform_plan is None
    identical = 0
    for index in range(24):
        # warped (large padded) crops differ by at most a few levels; most crops are bit-identical
        identical += _compare(plain[index], fast[index], image_tol=3 * LEVEL)
    assert identical >= 24


def test_unsupported_transforms_take_the_plain_path(lasot_root):
    class Identity(Transform):
        def apply(self, item, params):
            return item

    from lib.train.data.processing import FastPathFallbackWarning

    with pytest.warns(FastPathFallbackWarning, match='Identity.*every sample takes the plain path'):
        processing = _lineage_processing(True, extra=(Identity(),))
    assert processing.transform_plan is None
    plain = _sampler(lasot_root, _lineage_processing(False, extra=(Identity(),)))
    fast = _sampler(lasot_root, processing)
    assert _compare(plain[0], fast[0], image_tol=0) == 2


def test_lorat_fast_processing_equals_plain(lasot_root):
    cfg = load_config('lorat', 'tiny')
    plain = _sampler(lasot_root, LoRATProcessing.from_cfg(cfg, training=True, fast=False), mode='interval')
    fast = _sampler(lasot_root, LoRATProcessing.from_cfg(cfg, training=True, fast=True), mode='interval')
    for index in range(12):
        # the fast crop is rounded to whole levels before jitter and the 8-bit DeiT-III step
        _compare(plain[index], fast[index], image_tol=4 * LEVEL)


def test_numpy_color_jitter_and_deit3_match_the_tensor_and_pil_forms():
    from PIL import ImageOps

    from lib.train.data.lorat_augment import (
        _from_pil,
        _to_pil,
        color_jitter,
        color_jitter_numpy,
        deit3_numpy,
        roll_color_jitter,
    )

    rng = np.random.default_rng(0)
    for _ in range(10):
        image = rng.random((20, 30, 3), dtype=np.float32)
        state = rng.bit_generator.state
        ref = color_jitter(torch.from_numpy(image).permute(2, 0, 1), 0.4, rng).permute(1, 2, 0).numpy()
        rng.bit_generator.state = state
        assert np.abs(color_jitter_numpy(image, roll_color_jitter(0.4, rng)) - ref).max() < 1e-5
    tensor = torch.from_numpy(image).permute(2, 0, 1)
    for op, pil_op in (('grayscale', lambda p: p.convert('L')), ('solarize', ImageOps.solarize)):
        expected = (_from_pil(pil_op(_to_pil(tensor))) * 255).round().byte().permute(1, 2, 0).numpy()
        assert np.array_equal(deit3_numpy([image], (op, None))[0], expected), op


# ------------------------------------------------------------------------------------ decoding
def test_visible_ids_draw_as_the_reference_scan():
    visible = torch.rand(300, generator=torch.Generator().manual_seed(0)) > 0.3
    for lo, hi in [(None, None), (5, 40), (290, 400), (-3, 2), (50, 50)]:
        lo_ref = 0 if lo is None or lo < 0 else lo
        hi_ref = len(visible) if hi is None or hi > len(visible) else hi
        candidates = [i for i in range(lo_ref, hi_ref) if visible[i]]
        got = sample_visible_ids(visible, np.random.default_rng(1), 3, lo, hi)
        if not candidates:
            assert got is None
        else:
            picks = np.random.default_rng(1).integers(0, len(candidates), size=3)
            assert got == [candidates[j] for j in picks]


def test_each_needed_frame_is_decoded_once(lasot_root):
    from lib.train.dataset.lasot import Lasot

    class Counting(Lasot):
        reads = []

        def _read_frame(self, seq_id, frame_id, encoded=False):
            self.reads.append(frame_id)
            return super()._read_frame(seq_id, frame_id, encoded)

    dataset = Counting(lasot_root)
    sampler = TrackingSampler([dataset], [1], 10, 20, seed=0)
    data = sampler.load_pair(dataset, 0, dataset.get_sequence_info(0), [3], [3])
    assert dataset.reads == [3] and data['template_images'][0] is data['search_images'][0]
    dataset.reads.clear()
    sample = sampler[0]
    assert sorted(dataset.reads) == sorted(set(sample['template_frame_ids'] + sample['search_frame_ids']))


def test_decoder_backends_agree_and_default_backend_switches():
    image = textured(48, 64)
    data = encode_jpeg(image, quality=90)
    decoded = {b: decode_image(data, backend=b) for b in ('jpeg4py', 'opencv', 'pil')}
    for b, value in decoded.items():
        assert value.shape == (48, 64, 3) and value.dtype == np.uint8
        assert np.abs(value.astype(int) - decoded['opencv']).max() <= 1, b
    with default_backend('pil'):
        assert np.array_equal(decode_image(data), decoded['pil'])
    with pytest.raises(ValueError, match='backend'):
        with default_backend('libjpeg'):
            pass


# ------------------------------------------------------------------------------------ benchmark
def test_measure_loader_quick_gives_named_positive_rates(tmp_path):
    from lib.benchmark.data import measure_loader

    results = measure_loader('ostrack', 'tiny_ce', path='both', quick=True, workdir=str(tmp_path))
    results += measure_loader('lorat', 'tiny', path='fast', quick=True, workdir=str(tmp_path))
    names = [r['name'] for r in results]
    assert names == [
        'loader_samples_per_s_per_worker.ostrack.tiny_ce.plain',
        'loader_samples_per_s_per_worker.ostrack.tiny_ce.fast',
        'loader_samples_per_s_per_worker.lorat.tiny.fast',
    ]
    for r in results:
        assert r['unit'] == 'samples/s' and math.isfinite(r['value']) and r['value'] > 0
        assert r['path'] == r['name'].rsplit('.', 1)[1]
    assert results[0]['ratio_to_plain'] is None and results[2]['ratio_to_plain'] is None
    assert math.isfinite(results[1]['ratio_to_plain']) and results[1]['ratio_to_plain'] > 0
    with pytest.raises(ValueError, match='path'):
        measure_loader('ostrack', 'tiny_ce', path='quick', quick=True, workdir=str(tmp_path))
