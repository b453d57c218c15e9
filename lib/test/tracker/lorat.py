"""LoRAT tracker, the official one-stream evaluation pipeline for one sequence at a time.

Init: a SiamFC context crop of TEST.TEMPLATE_FACTOR around the first box (padded with the frame's
per-channel mean, which is kept as the padding colour of every later search crop) and the template
foreground mask of that box. Per frame: a SiamFC crop of TEST.SEARCH_FACTOR around the last box
(enlarged to at least TEST.MIN_OBJECT_SIZE px first), one joint pass of template and search through
the merged (LoRA folded in) network, score = sigmoid(logits), selection on
(1 - TEST.WINDOW_PENALTY) * score + TEST.WINDOW_PENALTY * Hann window (non-periodic, zero at the map
edges, as torch.hann_window(periodic=False) in the official post-process), the box of the selected cell
mapped back through the inverse of the realised crop map and clipped to the frame. The last box moves
to the prediction only when the clipped box has a positive area. No template update, no threshold.
Float16 autocast on CUDA when TEST.AMP (the official default), float32 on CPU.
"""
import os

import numpy as np
import torch

from lib.test.tracker.base_tracker import BaseTracker, clip_to_image
from lib.utils.siamfc_crop import crop_image, crop_params, inverse_params, map_boxes

CHECKPOINT_NAME = 'LoRAT'  # the training checkpoints' name (lib/train/actors/lorat.py)


def hann_window_2d(map_hw, device='cpu'):
    """(H, W) outer product of non-periodic Hann windows (the official LoRAT window)."""
    h, w = map_hw
    return torch.outer(torch.hann_window(h, periodic=False), torch.hann_window(w, periodic=False)).to(device)


def select_box(score_logits, boxes, window, window_penalty):
    """score_logits (H, W), boxes (H, W, 4) normalised x1y1x2y2, window (H, W). Returns (box (4,) of the
    cell maximising the window-penalised score, un-penalised confidence, flat cell index)."""
    score = score_logits.float().sigmoid().flatten()
    penalised = score * (1 - window_penalty) + window.flatten() * window_penalty
    index = int(torch.argmax(penalised))
    return boxes.float().reshape(-1, 4)[index], float(score[index]), index


def enlarge_to_min_size(box_xyxy, min_size):
    """The box with its width and height raised to at least min_size around the same centre."""
    box = np.asarray(box_xyxy, dtype=np.float64)
    centre = (box[:2] + box[2:]) / 2
    half = np.maximum(box[2:] - box[:2], min_size) / 2
    return np.concatenate((centre - half, centre + half))


class LoRATTracker(BaseTracker):
    """network: forward(z, x, z_feat_mask) -> {'score_map': (B,H,W) logits, 'boxes': (B,H,W,4)}."""

    def __init__(self, cfg, network, name='lorat', device=None, debug=0):
        super().__init__(name, device=device, debug=debug)
        self.cfg = cfg
        self.network = network.to(self.device).eval()
        test = cfg.TEST
        self.template_factor, self.template_size = float(test.TEMPLATE_FACTOR), int(test.TEMPLATE_SIZE)
        self.search_factor, self.search_size = float(test.SEARCH_FACTOR), int(test.SEARCH_SIZE)
        self.min_object_size = float(test.MIN_OBJECT_SIZE)
        self.window_penalty = float(test.WINDOW_PENALTY)
        self.use_amp = bool(test.AMP) and self.device.type == 'cuda'
        stride = int(cfg.MODEL.BACKBONE.STRIDE)
        self.template_grid = (self.template_size // stride,) * 2
        self.window = hann_window_2d((self.search_size // stride,) * 2, self.device)
        self.mean = torch.tensor(cfg.DATA.MEAN, device=self.device).view(1, 3, 1, 1)
        self.std = torch.tensor(cfg.DATA.STD, device=self.device).view(1, 3, 1, 1)
        self.template = self.template_mask = self.padding = self.last_box = None

    def to_network_input(self, crop):
        """float CxHxW crop in 0..255 -> 1x3xHxW normalised tensor on the device."""
        return ((crop.to(self.device)[None] / 255.0) - self.mean) / self.std

    def initialize(self, image, info):
        _check_image(image)
        x, y, w, h = (float(v) for v in info['init_bbox'])
        if not (w > 0 and h > 0):
            raise ValueError(f"init_bbox must be [x, y, w, h] with w, h > 0, got {info['init_bbox']!r}")
        box = np.array([x, y, x + w, y + h])
        crop, self.padding, realised = crop_image(image, self.template_size,
                                                  crop_params(box, self.template_factor, self.template_size))
        self.template = self.to_network_input(crop)
        from lib.models.lorat import template_foreground_mask
        self.template_mask = template_foreground_mask(map_boxes(box, realised)[None], (self.template_size,) * 2,
                                                      self.template_grid).to(self.device)
        self.last_box = box
        if self.debug_sink is not None:
            self.debug_sink.image('template', crop.permute(1, 2, 0).round().byte().numpy())

    def track(self, image, info=None):
        if self.template is None:
            raise RuntimeError(f'{type(self).__name__}.track() called before initialize()')
        _check_image(image)
        params = crop_params(enlarge_to_min_size(self.last_box, self.min_object_size), self.search_factor,
                             self.search_size)
        crop, _, realised = crop_image(image, self.search_size, params, padding=self.padding)
        with torch.inference_mode(), torch.autocast('cuda', dtype=torch.float16, enabled=self.use_amp):
            out = self.network(self.template, self.to_network_input(crop), self.template_mask)
        box, confidence, _ = select_box(out['score_map'][0], out['boxes'][0], self.window, self.window_penalty)
        box_in_crop = box.double().cpu().numpy() * self.search_size
        x1, y1, x2, y2 = map_boxes(box_in_crop, inverse_params(realised))
        clipped = clip_to_image([x1, y1, x2 - x1, y2 - y1], image, margin=0)
        if clipped[2] > 0 and clipped[3] > 0:
            self.last_box = np.array([clipped[0], clipped[1], clipped[0] + clipped[2], clipped[1] + clipped[3]])
        if self.debug_sink is not None:
            self.debug_sink.image('tracking', image, boxes=[clipped, (info or {}).get('gt_bbox')])
            self.debug_sink.heatmap('score_map', out['score_map'][0].float().sigmoid())
        return {'target_bbox': clipped, 'confidence': confidence}


def _check_image(image):
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f'expected an RGB uint8 HxWx3 numpy image, got '
                         f'{getattr(image, "shape", type(image).__name__)}')


def load_network(config_name, cfg, checkpoint=None):
    """The merged inference network with `checkpoint` (default: the trainer's LoRAT_ep<TEST.EPOCH> file)
    in any LoRAT layout (trainable-only, unmerged or merged)."""
    from lib.models import build_model_from_cfg
    from lib.models.lorat import load_checkpoint
    from lib.test.tracker.ostrack import default_checkpoint_path
    path = checkpoint or default_checkpoint_path('lorat', config_name, int(cfg.TEST.EPOCH), CHECKPOINT_NAME)
    if not os.path.isfile(path):
        how = ("pass --checkpoint /path/to/weights to tracking/test.py (Python: "
               f"build_tracker('lorat', '{config_name}', checkpoint=...))")
        where = '' if checkpoint else f' (the default for lorat/{config_name}, epoch TEST.EPOCH={cfg.TEST.EPOCH})'
        raise FileNotFoundError(f'checkpoint not found: {path}{where}; {how}')
    network = build_model_from_cfg('lorat', cfg, training=False)
    return load_checkpoint(network, path)


def build_tracker(config_name, checkpoint=None, device=None, debug=0):
    """The LoRAT tracker of experiments/lorat/<config_name>.yaml."""
    from lib.config import load_config
    cfg = load_config('lorat', config_name)
    return LoRATTracker(cfg, load_network(config_name, cfg, checkpoint), device=device, debug=debug)
