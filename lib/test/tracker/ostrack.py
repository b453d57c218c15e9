"""OSTrack tracker (with or without candidate elimination), matching the official inference step.

Per sequence: one template crop around the first box (never updated). Per frame: a search crop
around the previous box, one network pass, the score map multiplied by a Hann window, the box
decoded at the windowed argmax, mapped back to the image and clipped (at least 10 px, inside the
frame). No confidence threshold, no smoothing, as in the lineage.

DropTrack (lib/test/tracker/droptrack.py) runs the same step with its own model family and paths.
"""
import os

import numpy as np
import torch

from lib.test.tracker.base_tracker import BaseTracker, clip_to_image, crop_box_to_image, hann2d
from lib.utils.crop import sample_target, transform_image_to_crop

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# File name stem of the lineage's checkpoints (also used by DropTrack).
CHECKPOINT_NAME = 'OSTrack'


def _check_image(image):
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f'expected an RGB uint8 HxWx3 numpy image, got '
                         f'{getattr(image, "shape", type(image).__name__)}')


def removed_search_tokens(out):
    """Original indices of the search tokens candidate elimination dropped (1-D LongTensor), or None."""
    removed = out.get('removed_indexes_s')
    if removed is None:
        removed = (out.get('aux_dict') or {}).get('removed_indexes_s')
    removed = [r for r in (removed or []) if r is not None]
    if not removed:
        return None
    return torch.cat([r.reshape(-1) for r in removed]).long()


def kept_tokens_overlay(search_rgb, removed_indices, grid_size):
    """The search crop with eliminated token patches washed out toward white (the kept tokens stay)."""
    overlay = search_rgb.astype(np.float32)
    if removed_indices is not None and len(removed_indices):
        dropped = np.zeros(grid_size * grid_size, dtype=bool)
        dropped[np.asarray(removed_indices, dtype=np.int64)] = True
        patch = search_rgb.shape[0] / grid_size
        rows = (np.arange(search_rgb.shape[0]) / patch).astype(np.int64).clip(max=grid_size - 1)
        cols = (np.arange(search_rgb.shape[1]) / patch).astype(np.int64).clip(max=grid_size - 1)
        pixel_dropped = dropped.reshape(grid_size, grid_size)[rows[:, None], cols[None, :]]
        overlay[pixel_dropped] = 0.25 * overlay[pixel_dropped] + 0.75 * 255
    return overlay.round().astype(np.uint8)


class OSTrackTracker(BaseTracker):
    """Tracker around an OSTrack-family network.

    network: forward(template, search, ce_template_mask=...) -> dict with 'score_map', 'size_map',
    'offset_map' and network.box_head.cal_bbox(score_map, size_map, offset_map) -> (B, 4) normalised
    cx, cy, w, h. cfg: the family config (TEST.*, MODEL.BACKBONE.CE_*, DATA.TEMPLATE.SIZE, STRIDE).
    """

    def __init__(self, cfg, network, name='ostrack', device=None, debug=0):
        super().__init__(name, device=device, debug=debug)
        self.cfg = cfg
        self.network = network.to(self.device).eval()
        self.template_factor = float(cfg.TEST.TEMPLATE_FACTOR)
        self.template_size = int(cfg.TEST.TEMPLATE_SIZE)
        self.search_factor = float(cfg.TEST.SEARCH_FACTOR)
        self.search_size = int(cfg.TEST.SEARCH_SIZE)
        self.uses_ce = bool(cfg.MODEL.BACKBONE.CE_LOC)
        self.mean = torch.tensor(IMAGENET_MEAN, device=self.device).view(1, 3, 1, 1)
        self.std = torch.tensor(IMAGENET_STD, device=self.device).view(1, 3, 1, 1)
        self.template = None
        self.ce_template_mask = None
        self.state = None
        self.frame_id = 0

    def to_network_input(self, crop):
        """RGB uint8 HxWx3 crop -> 1x3xHxW float tensor on the device, ImageNet-normalised."""
        tensor = torch.from_numpy(np.ascontiguousarray(crop)).to(self.device)
        tensor = tensor.permute(2, 0, 1).unsqueeze(0).float()
        return (tensor / 255.0 - self.mean) / self.std

    def template_box_in_crop(self, init_bbox, resize_factor):
        """The first box in normalised template-crop coordinates, (1, 4) x, y, w, h."""
        box = transform_image_to_crop(init_bbox, init_bbox, resize_factor, self.template_size, normalize=True)
        return box.view(1, 4).to(self.device)

    def initialize(self, image, info):
        _check_image(image)
        init_bbox = [float(v) for v in info['init_bbox']]
        if len(init_bbox) != 4 or init_bbox[2] <= 0 or init_bbox[3] <= 0:
            raise ValueError(f"init_bbox must be [x, y, w, h] with w, h > 0, got {info['init_bbox']!r}")
        crop, resize_factor, _ = sample_target(image, init_bbox, self.template_factor, self.template_size)
        self.template = self.to_network_input(crop)
        self.ce_template_mask = None
        if self.uses_ce:
            from lib.utils.ce import generate_ce_template_mask
            self.ce_template_mask = generate_ce_template_mask(
                self.cfg, 1, self.device, self.template_box_in_crop(init_bbox, resize_factor))
        self.state = init_bbox
        self.frame_id = 0
        if self.debug_sink is not None:
            self.debug_sink.image('template', crop)

    def track(self, image, info=None):
        if self.template is None:
            raise RuntimeError(f'{type(self).__name__}.track() called before initialize()')
        _check_image(image)
        self.frame_id += 1
        crop, resize_factor, _ = sample_target(image, self.state, self.search_factor, self.search_size)
        search = self.to_network_input(crop)
        with torch.inference_mode():
            out = self.network(template=self.template, search=search, ce_template_mask=self.ce_template_mask)
            score_map = out['score_map']
            window = hann2d(tuple(score_map.shape[-2:]), centered=True, device=score_map.device)
            response = window * score_map
            pred = self.network.box_head.cal_bbox(response, out['size_map'], out['offset_map'])
            pred = pred.view(-1, 4).mean(dim=0)  # normalised cx, cy, w, h in the crop
            # Scaled to image pixels in float32 on the tensor, as the lineage does, so that boxes (which
            # the runner truncates to int) match the official tracker's bit for bit.
            pred_image_scale = (pred * self.search_size / resize_factor).tolist()
        # The box is already in image scale: resize factor 1, crop side search_size / resize_factor.
        box = crop_box_to_image(pred_image_scale, self.state, 1.0, self.search_size / resize_factor,
                                normalized=False)
        self.state = clip_to_image(box, image)
        if self.debug_sink is not None:
            self.send_debug(image, info, crop, pred.tolist(), score_map, response, out)
        return {'target_bbox': list(self.state)}

    def send_debug(self, image, info, crop, pred_box, score_map, response, out):
        sink = self.debug_sink
        gt = (info or {}).get('gt_bbox')
        gt = None if gt is None else [float(v) for v in gt]
        sink.image('tracking', image, boxes=[self.state, gt])
        cx, cy, w, h = (v * self.search_size for v in pred_box)
        sink.image('search_region', crop, boxes=[[cx - w / 2, cy - h / 2, w, h]])
        sink.heatmap('score_map', score_map[0, 0])
        sink.heatmap('score_map_hann', response[0, 0])
        removed = removed_search_tokens(out)
        if removed is not None:
            grid = score_map.shape[-1]
            sink.image('kept_search_tokens', kept_tokens_overlay(crop, removed.cpu().numpy(), grid))


def default_checkpoint_path(script, config_name, epoch, name=CHECKPOINT_NAME):
    """<save_dir>/checkpoints/train/<script>/<config>/<name>_ep%04d.pth.tar (the lineage's place)."""
    from lib.test.evaluation.environment import env_settings
    from lib.utils.local_settings import REPO_ROOT, LocalSettingsMissing
    try:
        save_dir = env_settings().save_dir
    except LocalSettingsMissing:  # no local.py yet: the default save_dir it would get
        save_dir = os.path.join(REPO_ROOT, 'output')
    file_name = '%s_ep%04d.pth.tar' % (name, epoch)
    return os.path.join(save_dir, 'checkpoints', 'train', script, config_name, file_name)


def load_network(script, config_name, cfg, checkpoint=None, name=CHECKPOINT_NAME):
    """Builds the family's network for inference and loads its weights strictly."""
    from lib.models import build_model_from_cfg, load_weights
    path = checkpoint or default_checkpoint_path(script, config_name, int(cfg.TEST.EPOCH), name)
    if not os.path.isfile(path):
        how = ('pass --checkpoint /path/to/weights.pth.tar to tracking/test.py (Python: '
               f"build_tracker('{script}', '{config_name}', checkpoint=...))")
        if checkpoint:
            raise FileNotFoundError(f'checkpoint not found: {path}; {how}')
        raise FileNotFoundError(f'checkpoint not found: {path} (the default for {script}/{config_name}, '
                                f'epoch TEST.EPOCH={cfg.TEST.EPOCH}); train it first or {how}')
    network = build_model_from_cfg(script, cfg, training=False)
    load_weights(network, path, strict=True)  # a mismatch names the file and the keys
    return network


def build_family_tracker(script, config_name, checkpoint=None, device=None, debug=0, name=CHECKPOINT_NAME):
    """An OSTrackTracker for any OSTrack-family script (ostrack, droptrack)."""
    from lib.config import load_config
    cfg = load_config(script, config_name)
    network = load_network(script, config_name, cfg, checkpoint, name)
    return OSTrackTracker(cfg, network, name=script, device=device, debug=debug)


def build_tracker(config_name, checkpoint=None, device=None, debug=0):
    """The OSTrack tracker of experiments/ostrack/<config_name>.yaml."""
    return build_family_tracker('ostrack', config_name, checkpoint=checkpoint, device=device, debug=debug)
