"""lib/test/tracker/ostrack.py: the OSTrack inference step (crops, window, decoding, mapping back),
checkpoint loading and debug output. Expected boxes are computed by hand in the comments."""

import os

import numpy as np
import pytest
import torch

import lib.test.evaluation.environment as test_environment
import lib.test.tracker.debug as debug_module
from lib.config import load_config
from lib.test.tracker import build_tracker
from lib.test.tracker.ostrack import OSTrackTracker

TINY_CONFIG = 'tiny_ce'


def small_cfg(search_size=64, search_factor=4.0, template_size=32, ce=False):
    cfg = load_config('ostrack')
    cfg.TEST.SEARCH_SIZE, cfg.TEST.SEARCH_FACTOR = search_size, search_factor
    cfg.TEST.TEMPLATE_SIZE, cfg.TEST.TEMPLATE_FACTOR = template_size, 2.0
    cfg.DATA.SEARCH.SIZE, cfg.DATA.TEMPLATE.SIZE = search_size, template_size
    cfg.MODEL.BACKBONE.STRIDE = 16
    if ce:
        cfg.MODEL.BACKBONE.TYPE = 'vit_base_patch16_224_ce'
        cfg.MODEL.BACKBONE.CE_LOC, cfg.MODEL.BACKBONE.CE_KEEP_RATIO = [1], [0.5]
        cfg.MODEL.BACKBONE.CE_TEMPLATE_RANGE = 'CTR_POINT'
    return cfg


class ArgmaxHead(torch.nn.Module):
    """Stand-in box head: the center head's decoding (argmax cell + offset, size at that cell)."""

    def cal_bbox(self, score_map, size_map, offset_map):
        feat = score_map.shape[-1]
        idx = score_map.flatten(1).argmax(dim=1)
        iy, ix = idx // feat, idx % feat
        size = size_map.flatten(2)[:, :, idx][..., 0]
        offset = offset_map.flatten(2)[:, :, idx][..., 0]
        cx, cy = (ix + offset[:, 0]) / feat, (iy + offset[:, 1]) / feat
        return torch.stack([cx, cy, size[:, 0], size[:, 1]], 1)


class PeakNet(torch.nn.Module):
    """Stand-in network: returns fixed maps and records what it was given."""

    def __init__(self, score, size_wh, offset_xy, removed=None):
        super().__init__()
        feat = score.shape[-1]
        self.register_buffer('score', score.view(1, 1, feat, feat).float())
        self.register_buffer('size', self.constant_map(size_wh, feat))
        self.register_buffer('offset', self.constant_map(offset_xy, feat))
        self.box_head = ArgmaxHead()
        self.removed = removed
        self.calls = []

    @staticmethod
    def constant_map(pair, feat):
        return torch.tensor(pair, dtype=torch.float32).view(1, 2, 1, 1).expand(1, 2, feat, feat)

    def forward(self, template, search, ce_template_mask=None, ce_keep_rate=None):
        self.calls.append((template, search, ce_template_mask))
        out = {'score_map': self.score, 'size_map': self.size, 'offset_map': self.offset, 'aux_dict': {}}
        if self.removed is not None:
            out['aux_dict']['removed_indexes_s'] = [self.removed]
        return out


def peak_map(feat, peaks, background=0.01):
    score = torch.full((feat, feat), background)
    for (row, col), value in peaks.items():
        score[row, col] = value
    return score


def test_box_maps_back_exactly():
    # search side ceil(20 * 4) = 80 -> resize factor 64 / 80 = 0.8; 4x4 map. Peak (row 1, col 2), offset
    # (0.25, 0.5), size (0.25, 0.125): crop cx = 2.25/4 * 80 = 45, cy = 1.5/4 * 80 = 30 image px, w 20, h 10.
    # Crop origin = previous centre (110, 70) - 40 = (70, 30) -> centre (115, 60) -> box [105, 55, 20, 10].
    net = PeakNet(peak_map(4, {(1, 2): 0.9}), (0.25, 0.125), (0.25, 0.5))
    tracker = OSTrackTracker(small_cfg(), net, device='cpu')
    image = np.full((240, 320, 3), 90, dtype=np.uint8)
    tracker.initialize(image, {'init_bbox': [100, 60, 20, 20]})
    out = tracker.track(image)
    assert np.allclose(out['target_bbox'], [105, 55, 20, 10], atol=1e-4)
    # next frame: crop around [105, 55, 20, 10]: side ceil(sqrt(200) * 4) = 57, factor 64/57; the same
    # peak sits at crop (2.25/4 * 57, 1.5/4 * 57) = (32.0625, 21.375), size (14.25, 7.125);
    # origin (86.5, 31.5) -> centre (118.5625, 52.875) -> box [111.4375, 49.3125, 14.25, 7.125];
    # clipping raises h to 10
    out = tracker.track(image)
    assert np.allclose(out['target_bbox'], [111.4375, 49.3125, 14.25, 10.0], atol=1e-4)


def test_box_is_clipped_inside_image_with_margin():
    # image W 120, H 100; box [100, 80, 20, 20] -> side 80, origin (110 - 40, 90 - 40) = (70, 50).
    # Peak (3, 3) + offset 0.9 -> crop centre 3.9/4 * 80 = 78 -> image (148, 128), size 0.05 * 80 = 4.
    # Box x 146..150, y 126..130 -> clipped: x1 = min(146, 120 - 10) = 110, x2 = 120, y1 = 90, y2 = 100.
    net = PeakNet(peak_map(4, {(3, 3): 0.9}, background=0.001), (0.05, 0.05), (0.9, 0.9))
    tracker = OSTrackTracker(small_cfg(), net, device='cpu')
    image = np.zeros((100, 120, 3), dtype=np.uint8)
    tracker.initialize(image, {'init_bbox': [100, 80, 20, 20]})
    assert tracker.track(image)['target_bbox'] == pytest.approx([110, 90, 10, 10])


def test_hann_window_prefers_the_centre():
    # 5x5 map (80 / 16); window 1-D [0.25, 0.75, 1, 0.75, 0.25]. A slightly higher raw peak at the
    # corner (0, 4) scores 0.85 * 0.0625 after windowing and loses to the centre (2, 2) at 0.8.
    net = PeakNet(peak_map(5, {(0, 4): 0.85, (2, 2): 0.8}), (0.2, 0.2), (0.5, 0.5))
    tracker = OSTrackTracker(small_cfg(search_size=80), net, device='cpu')
    image = np.zeros((300, 300, 3), dtype=np.uint8)
    tracker.initialize(image, {'init_bbox': [140, 140, 20, 20]})
    # centre cell + 0.5 offset = the crop centre -> the box stays centred on (150, 150)
    x, y, w, h = tracker.track(image)['target_bbox']
    assert (x + w / 2, y + h / 2) == pytest.approx((150, 150))
    # without the window the corner cell would win: check the stand-in really is ambiguous
    assert net.score.flatten().argmax().item() == 4


def test_network_inputs_are_imagenet_normalised_crops():
    net = PeakNet(peak_map(4, {(1, 1): 0.9}), (0.2, 0.2), (0.5, 0.5))
    tracker = OSTrackTracker(small_cfg(), net, device='cpu')
    image = np.empty((120, 160, 3), dtype=np.uint8)
    image[...] = (255, 128, 0)
    tracker.initialize(image, {'init_bbox': [60, 40, 30, 30]})
    tracker.track(image)
    template, search, ce_mask = net.calls[0]
    assert template.shape == (1, 3, 32, 32) and search.shape == (1, 3, 64, 64)
    assert ce_mask is None  # no CE in this config
    expected = [(1.0 - 0.485) / 0.229, (128 / 255 - 0.456) / 0.224, (0.0 - 0.406) / 0.225]
    assert torch.allclose(search[0, :, 32, 32], torch.tensor(expected), atol=1e-5)
    assert torch.allclose(template[0, :, 16, 16], torch.tensor(expected), atol=1e-5)


def test_ce_template_mask_marks_centre_token():
    # template 128 px / stride 16 = 8x8 tokens; CTR_POINT keeps token (3, 3) = index 27
    net = PeakNet(peak_map(4, {(1, 1): 0.9}), (0.2, 0.2), (0.5, 0.5))
    tracker = OSTrackTracker(small_cfg(ce=True, template_size=128), net, device='cpu')
    image = np.zeros((200, 200, 3), dtype=np.uint8)
    tracker.initialize(image, {'init_bbox': [80, 80, 30, 30]})
    mask = tracker.ce_template_mask
    assert mask.dtype == torch.bool and mask.shape == (1, 64)
    assert mask[0].nonzero().flatten().tolist() == [27]
    tracker.track(image)
    assert torch.equal(net.calls[0][2], mask)


def moving_square_sequence(n_frames=6, size=(96, 128)):
    """A textured 20 px square moving 3 px right and 2 px down per frame on a noisy background."""
    rng = np.random.default_rng(0)
    texture = rng.integers(0, 256, (20, 20, 3), dtype=np.uint8)
    frames, boxes = [], []
    for i in range(n_frames):
        frame = rng.integers(0, 60, size + (3,), dtype=np.uint8)
        x, y = 30 + 3 * i, 20 + 2 * i
        frame[y : y + 20, x : x + 20] = texture
        frames.append(frame)
        boxes.append([x, y, 20, 20])
    return frames, boxes


def save_random_tiny_checkpoint(path):
    from lib.models import build_model_from_cfg

    torch.manual_seed(0)
    model = build_model_from_cfg('ostrack', load_config('ostrack', TINY_CONFIG), training=False)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    torch.save({'net': model.state_dict()}, path)
    return model


def test_tiny_model_tracks_inside_image_from_checkpoint(tmp_path):
    path = str(tmp_path / 'weights.pth.tar')
    model = save_random_tiny_checkpoint(path)
    tracker = build_tracker('ostrack', TINY_CONFIG, checkpoint=path, device='cpu')
    assert not tracker.network.training
    loaded = tracker.network.state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in model.state_dict().items())
    frames, boxes = moving_square_sequence()
    tracker.initialize(frames[0], {'init_bbox': boxes[0]})
    height, width = frames[0].shape[:2]
    for frame in frames[1:]:
        x, y, w, h = tracker.track(frame)['target_bbox']
        assert w >= 10 and h >= 10
        assert 0 <= x and 0 <= y and x + w <= width + 1e-6 and y + h <= height + 1e-6


def test_missing_checkpoint_names_default_path(tmp_path, monkeypatch):
    class Settings:
        save_dir = str(tmp_path / 'out')

    monkeypatch.setattr(test_environment, 'env_settings', lambda: Settings())
    epoch = load_config('ostrack', TINY_CONFIG).TEST.EPOCH
    expected = os.path.join(
        str(tmp_path / 'out'),
        'checkpoints',
        'train',
        'ostrack',
        TINY_CONFIG,
        f'OSTrack_ep{epoch:04d}.pth.tar',
    )
    with pytest.raises(FileNotFoundError) as err:
        build_tracker('ostrack', TINY_CONFIG, device='cpu')
    assert expected in str(err.value) and '--checkpoint' in str(err.value)
    # and the default place is where it is read from
    save_random_tiny_checkpoint(expected)
    assert build_tracker('ostrack', TINY_CONFIG, device='cpu').state is None
    with pytest.raises(FileNotFoundError, match='nowhere.pth'):
        build_tracker('ostrack', TINY_CONFIG, checkpoint=str(tmp_path / 'nowhere.pth'), device='cpu')


def test_debug_writes_pngs_without_visdom(tmp_path, monkeypatch):
    monkeypatch.setattr(debug_module, 'visdom_server_running', lambda *a, **k: False)
    monkeypatch.setattr(debug_module, 'default_save_dir', lambda: str(tmp_path))
    removed = torch.tensor([[0, 1, 2, 3, 15]])
    net = PeakNet(peak_map(4, {(1, 1): 0.9}), (0.2, 0.2), (0.5, 0.5), removed=removed)
    tracker = OSTrackTracker(small_cfg(ce=True, template_size=128), net, device='cpu', debug=1)
    tracker.start_sequence('seq1')
    frames, boxes = moving_square_sequence(3)
    tracker.initialize(frames[0], {'init_bbox': boxes[0]})
    for frame, gt in zip(frames[1:], boxes[1:]):
        tracker.track(frame, {'gt_bbox': gt})
    folder = tmp_path / 'debug' / 'ostrack' / 'seq1'
    names = sorted(os.listdir(folder))
    for title, count in [
        ('template', 1),
        ('tracking', 2),
        ('search_region', 2),
        ('score_map', 2),
        ('score_map_hann', 2),
        ('kept_search_tokens', 2),
    ]:
        assert len([n for n in names if n.rsplit('_', 1)[0] == title and n.endswith('.png')]) == count, names
    from lib.utils.crop import sample_target
    from lib.utils.image_io import read_image

    overlay = read_image(str(folder / 'kept_search_tokens_00000.png'))
    crop = sample_target(frames[1], boxes[0], 4.0, 64)[0].astype(np.float32)
    # removed tokens 0..3 (the top row of 16 px patches) are washed out toward white; rows 1-2 are kept
    assert np.array_equal(overlay[:16], np.round(0.25 * crop[:16] + 0.75 * 255).astype(np.uint8))
    assert np.array_equal(overlay[16:48], crop[16:48].astype(np.uint8))
    assert read_image(str(folder / 'search_region_00000.png')).shape == (64, 64, 3)


def test_droptrack_default_checkpoint_is_its_own(tmp_path, monkeypatch):
    class Settings:
        save_dir = str(tmp_path)

    monkeypatch.setattr(test_environment, 'env_settings', lambda: Settings())
    config = 'vitb_384_mae_ce_32x4_ep300'  # TEST.EPOCH 300
    expected = os.path.join(
        str(tmp_path), 'checkpoints', 'train', 'droptrack', config, 'OSTrack_ep0300.pth.tar'
    )
    with pytest.raises(FileNotFoundError) as err:
        build_tracker('droptrack', config, device='cpu')
    assert expected in str(err.value)


@pytest.mark.parametrize(
    'type_name, layers', [('vit_base_patch16_224_ce', [1]), ('vit_base_patch16_224', [])]
)
def test_candidate_elimination_is_decided_by_the_backbone_type_for_model_actor_and_tracker(type_name, layers):
    from lib.models import build_model_from_cfg
    from lib.train.actors.ostrack import training_keep_rate
    from lib.utils.ce import ce_layers

    cfg = small_cfg(ce=True)  # CE_LOC [1] and a keep ratio of 0.5 in both cases
    cfg.MODEL.BACKBONE.TYPE = type_name
    cfg.MODEL.BACKBONE.EMBED_DIM, cfg.MODEL.BACKBONE.DEPTH, cfg.MODEL.BACKBONE.NUM_HEADS = 32, 2, 2
    assert ce_layers(cfg) == layers
    assert (training_keep_rate(cfg, epoch=1000) == 0.5) if layers else training_keep_rate(cfg, 1000) is None
    network = build_model_from_cfg('ostrack', cfg, training=False)
    assert network.backbone.uses_ce == bool(layers)
    tracker = OSTrackTracker(
        cfg, PeakNet(peak_map(4, {(1, 2): 0.9}), (0.25, 0.125), (0.25, 0.5)), device='cpu'
    )
    assert tracker.uses_ce == bool(layers)
