"""Region decoding (lib/utils/jpeg_region.py): the pixels of a decoded region are those of a full
decode, whatever the subsampling, progressive mode, restart markers or grey files; EncodedImage falls
back to a full decode where regions cannot be used; and the fast training processing gives the same
samples from encoded frames as from decoded ones, without reading any pixel it did not decode.

install.sh builds the decoder; these tests need it built (python -m lib.utils.jpeg_region build)."""

import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from lib.config import load_config
from lib.train.data.lorat_processing import LoRATProcessing
from lib.train.data.processing import TemplateSearchProcessing
from lib.train.data.sampler import TrackingSampler
from lib.train.data.transforms import Compose, Normalize, RandomHorizontalFlip, ToGrayscale, ToTensorAndJitter
from lib.utils import jpeg_region
from lib.utils.image_io import EncodedImage, ImageReadError, decode_image
from lib.utils.warp_crop import COPY_LIMIT, WarpCrop
from tests.train_fixtures import write_small_lasot

REPO = Path(__file__).resolve().parents[1]
SAMPLINGS = {
    '420': cv2.IMWRITE_JPEG_SAMPLING_FACTOR_420,
    '422': cv2.IMWRITE_JPEG_SAMPLING_FACTOR_422,
    '444': cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444,
    '411': cv2.IMWRITE_JPEG_SAMPLING_FACTOR_411,
    '440': cv2.IMWRITE_JPEG_SAMPLING_FACTOR_440,
}


@pytest.fixture(scope='module', autouse=True)
def region_decoder():
    assert jpeg_region.available(), (
        'the JPEG region decoder is not built: python -m lib.utils.jpeg_region build (install.sh runs it)'
    )


def scene(h, w, seed=0):
    """Sharp edges and fine texture, where chroma upsampling next to a cut edge would show."""
    rng = np.random.default_rng(seed)
    image = cv2.GaussianBlur(rng.integers(0, 256, (h, w, 3), dtype=np.uint8), (0, 0), 2.0)
    for _ in range(12):
        x, y = int(rng.integers(0, w)), int(rng.integers(0, h))
        cv2.rectangle(
            image,
            (x, y),
            (x + int(rng.integers(3, 40)), y + int(rng.integers(3, 40))),
            [int(v) for v in rng.integers(0, 256, 3)],
            -1,
        )
    return image


def encode(image, sampling='420', progressive=False, restart=0, grey=False):
    bgr = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    params = [
        cv2.IMWRITE_JPEG_QUALITY,
        90,
        cv2.IMWRITE_JPEG_SAMPLING_FACTOR,
        SAMPLINGS[sampling],
        cv2.IMWRITE_JPEG_PROGRESSIVE,
        int(progressive),
        cv2.IMWRITE_JPEG_RST_INTERVAL,
        restart,
    ]
    ok, buf = cv2.imencode('.jpg', cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY) if grey else bgr, params)
    assert ok
    return buf.tobytes()


def random_regions(rng, n, h, w):
    for _ in range(n):
        x0, y0 = int(rng.integers(0, w)), int(rng.integers(0, h))
        yield x0, y0, int(rng.integers(x0 + 1, w + 1)), int(rng.integers(y0 + 1, h + 1))


def mismatched_regions(data, regions, rng):
    full = decode_image(data)
    bad = 0
    for x0, y0, x1, y1 in regions:
        got = jpeg_region.decode_region(data, (x0, y0, x1, y1), fill=int(rng.integers(0, 256)))
        assert got.shape == full.shape
        bad += not np.array_equal(got[y0:y1, x0:x1], full[y0:y1, x0:x1])
    return bad


@pytest.mark.parametrize('sampling', sorted(SAMPLINGS))
@pytest.mark.parametrize('progressive,restart', [(False, 0), (True, 0), (False, 2)])
def test_region_pixels_are_those_of_a_full_decode(sampling, progressive, restart):
    rng = np.random.default_rng(len(sampling) + 7 * progressive + restart)
    data = encode(scene(117, 203), sampling, progressive, restart)
    assert jpeg_region.jpeg_size(data) == (117, 203)
    assert mismatched_regions(data, random_regions(rng, 40, 117, 203), rng) == 0


def test_grey_jpeg_regions_are_the_full_decode_on_three_channels():
    rng = np.random.default_rng(3)
    data = encode(scene(90, 150), grey=True)
    assert decode_image(data).shape == (90, 150, 3)
    assert mismatched_regions(data, random_regions(rng, 40, 90, 150), rng) == 0


@pytest.mark.parametrize('sampling', sorted(SAMPLINGS))
@pytest.mark.parametrize('size', [(117, 203), (90, 150), (728, 1280)])
def test_dc_mean_colour_is_the_decoded_pixels_mean(sampling, size):
    """The mean colour from the DC coefficients (with the edge blocks that reach past the image, whose
    coefficients are averaged over their samples inside it) against the mean of the decoded pixels, on
    sizes that are and are not whole MCUs, with restart markers and grey files too; the region's
    pixels stay those of the full decode."""
    h, w = size
    rng = np.random.default_rng(h + w)
    for restart, grey in ((0, False), (2, False), (0, True)):
        data = encode(scene(h, w, seed=int(rng.integers(100))), sampling, restart=restart, grey=grey)
        full = decode_image(data)
        x0, y0, x1, y1 = next(random_regions(rng, 1, h, w))
        pixels, mean = jpeg_region.decode_region(data, (x0, y0, x1, y1), mean=True)
        assert np.array_equal(pixels[y0:y1, x0:x1], full[y0:y1, x0:x1])
        np.testing.assert_allclose(
            mean, full.reshape(-1, 3).mean(axis=0), rtol=0, atol=jpeg_region.MEAN_TOLERANCE
        )


def test_the_margin_is_what_makes_cut_edges_exact(monkeypatch):
    """Without the margin, the chroma next to a cut edge differs: the images above are sensitive to it."""
    monkeypatch.setattr(jpeg_region, 'MARGIN', 0)
    rng = np.random.default_rng(0)
    data = encode(scene(117, 203), '420')
    assert mismatched_regions(data, random_regions(rng, 40, 117, 203), rng) > 0


def test_build_compiles_a_loadable_library(tmp_path):
    path = jpeg_region.build(output=str(tmp_path / 'region.so'))
    assert jpeg_region._load(path).jr_abi_version() == jpeg_region.ABI_VERSION
    with pytest.raises(jpeg_region.JpegRegionBuildError, match='no C compiler'):
        jpeg_region.build(output=str(tmp_path / 'other.so'), compiler='/nonexistent/cc')
    assert not (tmp_path / 'other.so').exists()


def test_another_libjpeg_loaded_first_is_not_used(tmp_path):
    """torchvision wheels have bundled IJG libjpeg under the soname libjpeg.so.62, without libjpeg-turbo's
    jpeg_skip_scanlines. With such a library already in the process, the decoder still finds its own."""
    (tmp_path / 'ijg.c').write_text('int jpeg_std_error(void) { return 0; }\n')
    (tmp_path / 'ijg.map').write_text('LIBJPEG_6.2 { global: jpeg_std_error; local: *; };\n')
    subprocess.run(
        [
            'cc',
            '-shared',
            '-fPIC',
            '-Wl,-soname,libjpeg.so.62',
            '-Wl,--version-script=ijg.map',
            '-o',
            'libjpeg.so.62',
            'ijg.c',
        ],
        cwd=tmp_path,
        check=True,
    )
    library = jpeg_region.build(output=str(tmp_path / 'region.so'))
    script = (
        f'import ctypes, warnings\n'
        f'ctypes.CDLL({str(tmp_path / "libjpeg.so.62")!r}, mode=ctypes.RTLD_GLOBAL)\n'
        f'from lib.utils import jpeg_region\njpeg_region.LIBRARY = {library!r}\n'
        f'warnings.simplefilter("error")\nprint(jpeg_region.available())'
    )
    run = subprocess.run([sys.executable, '-c', script], cwd=REPO, capture_output=True, text=True)
    assert run.returncode == 0 and run.stdout.strip() == 'True', run.stderr


def test_a_missing_or_stale_library_is_not_used(tmp_path, monkeypatch):
    monkeypatch.setattr(jpeg_region, '_state', None)
    monkeypatch.setattr(jpeg_region, '_library', None)
    monkeypatch.setattr(jpeg_region, 'LIBRARY', str(tmp_path / 'missing.so'))
    with pytest.warns(UserWarning, match='JPEG region decoding is off.*not built.*jpeg_region build'):
        assert not jpeg_region.available()
    data = encode(scene(30, 40))
    assert np.array_equal(EncodedImage(data, 'f.jpg').decode_region((0, 0, 5, 5)), decode_image(data))

    stale = jpeg_region.build(output=str(tmp_path / 'stale.so'))
    monkeypatch.setattr(jpeg_region, 'ABI_VERSION', jpeg_region.ABI_VERSION + 1)
    monkeypatch.setattr(jpeg_region, 'LIBRARY', stale)
    monkeypatch.setattr(jpeg_region, '_state', None)
    with pytest.warns(UserWarning, match='stale build'):
        assert not jpeg_region.available()


# ------------------------------------------------------------------------------------ EncodedImage
def test_encoded_image_shape_and_regions(monkeypatch):
    data = encode(scene(60, 80))
    frame = EncodedImage(data, 'frame.jpg')
    assert frame.shape == (60, 80, 3) and frame._decoded is None  # from the header alone
    monkeypatch.setattr(EncodedImage, 'undecoded_fill', 7)
    pixels = frame.decode_region((10, 20, 30, 40))
    assert frame._decoded is None and np.array_equal(pixels[20:40, 10:30], decode_image(data)[20:40, 10:30])
    assert (pixels[:2] == 7).all()  # rows far from the region were not decoded


def test_encoded_image_falls_back_to_a_full_decode(monkeypatch):
    image = scene(40, 50)
    ok, png = cv2.imencode('.png', image)
    frame = EncodedImage(png.tobytes(), 'frame.png')  # not a JPEG: decoded whole
    assert frame.shape == (40, 50, 3)
    assert np.array_equal(frame.decode_region((1, 2, 3, 4)), decode_image(png.tobytes()))

    data = encode(scene(40, 50))
    monkeypatch.setattr(jpeg_region, '_state', False)  # region decoder unavailable
    frame = EncodedImage(data, 'frame.jpg')
    assert np.array_equal(frame.decode_region((1, 2, 3, 4)), decode_image(data))


def test_corrupt_and_empty_files_raise_naming_the_file():
    with pytest.raises(ImageReadError, match='empty.jpg'):
        EncodedImage(b'', 'empty.jpg')
    broken = EncodedImage(b'\xff\xd8\xff\xe0 not really a jpeg', 'broken.jpg')
    with pytest.raises(ImageReadError, match='broken.jpg'):
        broken.decode_region((0, 0, 4, 4))


def test_corrupt_data_is_left_to_the_full_decoder():
    """A truncated JPEG: libjpeg warns; the region decoder stops and the full decoder decides."""
    data = encode(scene(64, 96))
    truncated = data[: len(data) * 2 // 3]
    with pytest.raises(jpeg_region.JpegRegionError):
        jpeg_region.decode_region(truncated, (0, 40, 96, 64))
    frame = EncodedImage(truncated, 'truncated.jpg')
    try:
        want = decode_image(truncated)
    except ImageReadError:
        with pytest.raises(ImageReadError, match='truncated.jpg'):
            frame.decode_region((0, 40, 96, 64))
    else:
        assert np.array_equal(frame.decode_region((0, 40, 96, 64)), want)


# ------------------------------------------------------------------------------------ processing
@pytest.fixture(scope='module')
def lasot_root(tmp_path_factory):
    return write_small_lasot(tmp_path_factory.mktemp('lasot'), (320, 240))


def _ostrack_processing():
    # large search factor and strong jitter: windows inside the frame, padded and copied, and padded
    # and warped (crop_sz > COPY_LIMIT * 64) all occur; grayscale often
    joint = Compose(ToGrayscale(0.4), RandomHorizontalFlip(0.5), joint=True)
    per_crop = Compose(
        ToTensorAndJitter(0.2),
        RandomHorizontalFlip(0.5, normalized=True),
        Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225]),
    )
    return TemplateSearchProcessing(
        {'template': 2.0, 'search': 5.0},
        {'template': 32, 'search': 64},
        {'template': 0.5, 'search': 3.0},
        {'template': 0.1, 'search': 0.25},
        joint_transform=joint,
        transform=per_crop,
        stride=16,
        fast=True,
    )


def _samplers(root, processing, mode='causal'):
    """(sampler handing the processing encoded frames, sampler handing it decoded arrays)."""
    from lib.train.dataset.lasot import Lasot

    def make(proc):
        return TrackingSampler([Lasot(root)], [1], 200, 20, processing=proc, frame_sample_mode=mode, seed=11)

    return make(processing), make(lambda data, rng: processing(data, rng))


def _assert_same(a, b):
    assert a.keys() == b.keys()
    for key, value in a.items():
        if isinstance(value, torch.Tensor):
            assert torch.equal(value, b[key]), key
        else:
            assert value == b[key], key


@pytest.mark.parametrize('fill', [0, 255])
def test_fast_processing_gives_the_same_samples_from_encoded_frames(lasot_root, monkeypatch, fill):
    monkeypatch.setattr(EncodedImage, 'undecoded_fill', fill)  # a read outside the region would show
    seen = {
        'encoded': 0,
        'arrays': 0,
        'gray': 0,
        'mirror': 0,
        'inside': 0,
        'copied': 0,
        'warped': 0,
        'partial': 0,
    }
    crop = WarpCrop.crop

    def spy_crop(plan, image, copy_limit=COPY_LIMIT):
        if not plan.inside and plan.overlaps:
            seen['copied' if plan.crop_sz <= copy_limit * plan.output_sz else 'warped'] += 1
        seen['inside'] += plan.inside
        seen['mirror'] += plan.mirror_frame
        x0, y0, x1, y1 = plan.source_region()
        seen['partial'] += (x1 - x0) * (y1 - y0) < plan.width * plan.height
        return crop(plan, image, copy_limit)

    processing = _ostrack_processing()
    call = processing._call_fast

    def spy_call(data, rng):
        frames = data['template_images'] + data['search_images']
        seen['encoded'] += all(isinstance(f, EncodedImage) for f in frames)
        seen['arrays'] += all(isinstance(f, np.ndarray) for f in frames)
        return call(data, rng)

    monkeypatch.setattr(WarpCrop, 'crop', spy_crop)
    monkeypatch.setattr(processing, '_call_fast', spy_call)
    gray_roll = processing.transform_plan.roll_frames

    def spy_gray(rng, n):
        rolled = gray_roll(rng, n)
        seen['gray'] += any(g for g, _ in rolled)
        return rolled

    monkeypatch.setattr(processing.transform_plan, 'roll_frames', spy_gray)
    from_encoded, from_arrays = _samplers(lasot_root, processing)
    for index in range(40):
        _assert_same(from_encoded[index], from_arrays[index])
    assert seen['encoded'] >= 40 and seen['arrays'] >= 40  # (redrawn invalid samples add calls)
    assert all(seen[k] > 0 for k in ('gray', 'mirror', 'inside', 'copied', 'warped', 'partial')), seen


def test_a_frame_cropped_twice_is_decoded_once(lasot_root, monkeypatch):
    from lib.train.dataset.lasot import Lasot

    calls = []
    decode_region = EncodedImage.decode_region
    monkeypatch.setattr(
        EncodedImage, 'decode_region', lambda self, r: calls.append(r) or decode_region(self, r)
    )
    monkeypatch.setattr(EncodedImage, 'undecoded_fill', 255)
    dataset = Lasot(lasot_root)
    processing = _ostrack_processing()
    encoded, _, _ = dataset.get_frames(0, [5, 5], encoded=True)
    arrays, _, _ = dataset.get_frames(0, [5, 5])
    box = dataset.get_sequence_info(0)['bbox'][5]
    assert encoded[0] is encoded[1] and isinstance(encoded[0], EncodedImage)
    valid = 0
    for index in range(8):
        before = len(calls)
        samples = []
        for frames in (encoded, arrays):
            data = {
                'template_images': frames[:1],
                'template_anno': [box],
                'search_images': frames[1:],
                'search_anno': [box],
            }
            samples.append(processing(data, np.random.default_rng(index)))
        _assert_same(*samples)
        valid += samples[0]['valid']
        assert len(calls) - before == int(samples[0]['valid'])  # one decode for template and search
    assert valid >= 4


def test_lorat_fast_processing_gives_the_same_samples_from_encoded_frames(lasot_root, monkeypatch):
    """No frame is decoded whole: a crop needing padding gets the frame mean from the DC coefficients,
    so its padding may differ from the decoded pixels' mean by a fraction of a level. Through the
    contrast jitter (which blends with the crop's mean) that moves a few values across a whole level
    before the 8-bit DeiT-III step: at most one level, on at most 1% of the values; boxes and labels
    are the same."""
    monkeypatch.setattr(EncodedImage, 'undecoded_fill', 255)
    whole, regions, means = [], [], []
    decode, decode_region = EncodedImage.decode, EncodedImage.decode_region

    def spy_region(self, region, mean=False):
        (means if mean else regions).append(region)
        return decode_region(self, region, mean)

    monkeypatch.setattr(EncodedImage, 'decode', lambda self: whole.append(1) or decode(self))
    monkeypatch.setattr(EncodedImage, 'decode_region', spy_region)
    cfg = load_config('lorat', 'tiny')
    processing = LoRATProcessing.from_cfg(cfg, training=True, fast=True)
    from_encoded, from_arrays = _samplers(lasot_root, processing, mode='interval')
    level = 1 / 255 / min(cfg.DATA.STD)  # one grey level in normalised units
    values = changed = 0
    for index in range(24):
        a, b = from_encoded[index], from_arrays[index]
        assert a.keys() == b.keys()
        for key, value in a.items():
            if key.endswith('_images'):
                diff = (value - b[key]).abs()
                assert diff.max() <= level * 1.001, (index, key, diff.max())
                values, changed = values + diff.numel(), changed + int((diff > 0).sum())
            elif isinstance(value, torch.Tensor):
                assert torch.equal(value, b[key]), key
            else:
                assert value == b[key], key
    assert not whole and regions and means  # padded crops occurred, and took the DC mean
    print(f'{changed} of {values} values one level apart')
    assert changed <= values // 100


def test_dc_mean_colour_needs_no_pixel_outside_the_region(monkeypatch):
    data = encode(scene(96, 160))
    array, mean = jpeg_region.decode_region(data, None, fill=9, mean=True)
    assert (array == 9).all()  # no pixel written
    np.testing.assert_allclose(
        mean, decode_image(data).reshape(-1, 3).mean(axis=0), rtol=0, atol=jpeg_region.MEAN_TOLERANCE
    )
    monkeypatch.setattr(EncodedImage, 'undecoded_fill', 9)
    frame = EncodedImage(data, 'frame.jpg')
    pixels, frame_mean = frame.decode_region((100, 10, 120, 20), mean=True)
    assert frame._decoded is None and frame_mean.shape == (3,)
    assert (
        np.array_equal(pixels[10:20, 100:120], decode_image(data)[10:20, 100:120])
        and (pixels[60:] == 9).all()
    )


def test_mean_colour_of_files_it_cannot_read_comes_from_the_full_decode():
    """Progressive (multi-scan) files have no single pass to watch: JpegRegionError, and EncodedImage
    gives the whole decode and no mean; a LoRAT crop then pads with the mean of those pixels."""
    from lib.utils.siamfc_crop import crop_params
    from lib.utils.warp_crop import frame_mean, siamfc_resize_crop

    data = encode(scene(60, 80), progressive=True)
    with pytest.raises(jpeg_region.JpegRegionError, match='single-scan'):
        jpeg_region.decode_region(data, (0, 0, 8, 8), mean=True)
    pixels, mean = EncodedImage(data, 'p.jpg').decode_region((0, 0, 8, 8), mean=True)
    full = decode_image(data)
    assert np.array_equal(pixels, full) and mean is None
    _, padding, _ = siamfc_resize_crop(pixels, 32, crop_params([0, 0, 20, 20], 4.0, 32), mean)
    assert torch.equal(padding, frame_mean(full))


def test_source_region_holds_every_pixel_a_crop_reads():
    """Poisoning every pixel outside WarpCrop.source_region() leaves the crop unchanged, on all three
    crop paths (and with every window warped), mirrored or not; the region is no larger than the
    window plus one pixel per side."""
    rng = np.random.default_rng(4)
    image = scene(90, 120)
    paths = set()
    for _ in range(400):
        bw, bh = rng.uniform(2, 70), rng.uniform(2, 50)
        box = [rng.uniform(-bw, 130), rng.uniform(-bh, 100), bw, bh]
        factor, size = float(rng.choice([2.0, 4.0, 6.0])), int(rng.choice([16, 32]))
        plan = WarpCrop(image.shape[:2], box, factor, size, mirror_frame=bool(rng.integers(0, 2)))
        region = plan.source_region()
        if region is None:
            assert not plan.overlaps
            continue
        x0, y0, x1, y1 = region
        assert x1 - x0 <= plan.crop_sz + 2 and y1 - y0 <= plan.crop_sz + 2
        for poison in (0, 255):
            poisoned = np.full_like(image, poison)
            poisoned[y0:y1, x0:x1] = image[y0:y1, x0:x1]
            assert np.array_equal(plan.crop(poisoned), plan.crop(image)), (box, factor, size)
            # every window warped, upscaled ones included (their taps reach past the window's edge)
            assert np.array_equal(plan.crop(poisoned, copy_limit=0), plan.crop(image, copy_limit=0))
        paths.add('inside' if plan.inside else 'copied' if plan.crop_sz <= COPY_LIMIT * size else 'warped')
    assert paths == {'inside', 'copied', 'warped'}
