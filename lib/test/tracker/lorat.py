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
Precision: InferenceOptions.precision; when not given, float16 autocast on CUDA when TEST.AMP (the
official default) and float32 otherwise (always on the CPU).
"""

import dataclasses

import numpy as np
import torch

from lib.test.tracker.base_tracker import clip_to_image
from lib.test.tracker.device_crop import siamfc_crop_device
from lib.test.tracker.slots import SlotTracker, stack
from lib.utils.siamfc_crop import crop_image, crop_params, inverse_params, map_boxes


def hann_window_2d(map_hw, device='cpu'):
    """(H, W) outer product of non-periodic Hann windows (the official LoRAT window)."""
    h, w = map_hw
    return torch.outer(torch.hann_window(h, periodic=False), torch.hann_window(w, periodic=False)).to(device)


def select_box(score_logits, boxes, window, window_penalty):
    """score_logits (H, W), boxes (H, W, 4) normalised x1y1x2y2, window (H, W). Returns (box (4,) of the
    cell maximising the window-penalised score, un-penalised confidence, flat cell index)."""
    box, confidence, index = select_boxes(score_logits[None], boxes[None], window, window_penalty)
    return box[0], float(confidence[0]), int(index[0])


def select_boxes(score_logits, boxes, window, window_penalty):
    """Batched select_box without host syncs: score_logits (B, H, W), boxes (B, H, W, 4) ->
    (boxes (B, 4) float32, confidences (B,), flat cell indices (B,))."""
    score = score_logits.float().sigmoid().flatten(1)
    penalised = score * (1 - window_penalty) + window.flatten() * window_penalty
    index = torch.argmax(penalised, dim=1)
    box = boxes.float().flatten(1, 2).gather(1, index.view(-1, 1, 1).expand(-1, 1, 4))[:, 0]
    return box, score.gather(1, index.view(-1, 1))[:, 0], index


def enlarge_to_min_size(box_xyxy, min_size):
    """The box with its width and height raised to at least min_size around the same centre."""
    box = np.asarray(box_xyxy, dtype=np.float64)
    centre = (box[:2] + box[2:]) / 2
    half = np.maximum(box[2:] - box[:2], min_size) / 2
    return np.concatenate((centre - half, centre + half))


@dataclasses.dataclass
class LoRATSlot:
    """One sequence's state: template (1,3,Hz,Wz) normalised crop, or its tokens (1,Hz*Wz,d) when
    cached; the template foreground mask (1,Hz,Wz); the padding colour (3,); the last box x1y1x2y2."""

    template: torch.Tensor
    template_mask: torch.Tensor
    padding: torch.Tensor
    last_box: np.ndarray


class LoRATTracker(SlotTracker):
    """network: forward(z, x, z_feat_mask) -> {'score_map': (B,H,W) logits, 'boxes': (B,H,W,4)}; with
    `embed_template` and forward(..., template_tokens=...) the template is embedded once per sequence.
    options: InferenceOptions; precision None keeps TEST.AMP's meaning (fp16 autocast on CUDA)."""

    def __init__(self, cfg, network, name='lorat', device=None, debug=0, options=None):
        super().__init__(
            name, network, device=device, debug=debug, options=options, config_amp=bool(cfg.TEST.AMP)
        )
        self.cfg = cfg
        test = cfg.TEST
        self.template_factor, self.template_size = float(test.TEMPLATE_FACTOR), int(test.TEMPLATE_SIZE)
        self.search_factor, self.search_size = float(test.SEARCH_FACTOR), int(test.SEARCH_SIZE)
        self.min_object_size = float(test.MIN_OBJECT_SIZE)
        self.window_penalty = float(test.WINDOW_PENALTY)
        stride = int(cfg.MODEL.BACKBONE.STRIDE)
        self.template_grid = (self.template_size // stride,) * 2
        self.window = hann_window_2d((self.search_size // stride,) * 2, self.device)
        self.mean = torch.tensor(cfg.DATA.MEAN, device=self.device).view(1, 3, 1, 1)
        self.std = torch.tensor(cfg.DATA.STD, device=self.device).view(1, 3, 1, 1)
        self.cache_template = self.options.template_cache and hasattr(self.network, 'embed_template')

    template = property(lambda self: None if self.slot is None else self.slot.template)
    template_mask = property(lambda self: None if self.slot is None else self.slot.template_mask)
    padding = property(lambda self: None if self.slot is None else self.slot.padding)
    last_box = property(lambda self: None if self.slot is None else self.slot.last_box)

    def to_network_input(self, crop):
        """float CxHxW crop in 0..255 -> 1x3xHxW normalised tensor on the device."""
        return ((crop.to(self.device)[None] / 255.0) - self.mean) / self.std

    def crop(self, frame, size, params, padding=None):
        if self.device_preprocess:
            return siamfc_crop_device(frame, size, params, padding=padding)
        return crop_image(frame, size, params, padding=padding)

    def new_slot(self, image, info):
        x, y, w, h = (float(v) for v in info['init_bbox'])
        if not (w > 0 and h > 0):
            raise ValueError(f"init_bbox must be [x, y, w, h] with w, h > 0, got {info['init_bbox']!r}")
        box = np.array([x, y, x + w, y + h])
        crop, padding, realised = self.crop(
            self.frame_input(image),
            self.template_size,
            crop_params(box, self.template_factor, self.template_size),
        )
        template = self.to_network_input(crop)
        from lib.models.lorat import template_foreground_mask

        mask = template_foreground_mask(
            map_boxes(box, realised)[None], (self.template_size,) * 2, self.template_grid
        ).to(self.device)
        if self.cache_template:
            with torch.inference_mode(), self.autocast():
                template = self.network.embed_template(template, mask)
        if self.debug:
            self._debug_template = crop.permute(1, 2, 0).round().byte().cpu().numpy()
        return LoRATSlot(template, mask, padding, box)

    def set_position(self, slot, box_xywh):
        x, y, w, h = (float(v) for v in box_xywh)
        slot.last_box = np.array([x, y, x + w, y + h])

    def network_step(self, template, search, template_mask):
        """Network (backbone under the precision's autocast) + window-penalised selection in fp32:
        {'box': (B, 4) normalised x1y1x2y2, 'confidence': (B,), 'score_map': (B, H, W) logits}."""
        network = self.network
        cached = {'template_tokens': template} if self.cache_template else {}
        z, z_mask = (None, None) if self.cache_template else (template, template_mask)
        out = self.run_network(
            lambda: network(z, search, z_mask, **cached),
            (lambda: network.forward_features(z, search, z_mask, **cached))
            if hasattr(network, 'forward_features')
            else None,
            lambda tokens: network.head(tokens.float()),
        )
        box, confidence, _ = select_boxes(out['score_map'], out['boxes'], self.window, self.window_penalty)
        return {'box': box, 'confidence': confidence, 'score_map': out['score_map']}

    def track_slots(self, images, slots, infos=None, pad_to=None):
        """Advances each slot by its next frame in one network forward; returns
        [{'target_bbox', 'confidence'}]."""
        searches, inverse = [], []
        for image, slot in zip(images, slots):
            params = crop_params(
                enlarge_to_min_size(slot.last_box, self.min_object_size), self.search_factor, self.search_size
            )
            crop, _, realised = self.crop(
                self.frame_input(image), self.search_size, params, padding=slot.padding
            )
            searches.append(self.to_network_input(crop))
            inverse.append(inverse_params(realised))
        n = len(slots)
        out = self.run_step(
            stack([s.template for s in slots]),
            stack(searches),
            None if self.cache_template else stack([s.template_mask for s in slots]),
            pad_to=pad_to,
        )
        rows = torch.cat((out['box'][:n], out['confidence'][:n, None]), dim=1).tolist()  # the one host read
        results = []
        for image, slot, row, back in zip(images, slots, rows, inverse):
            box_in_crop = np.asarray(row[:4], dtype=np.float64) * self.search_size
            x1, y1, x2, y2 = map_boxes(box_in_crop, back)
            clipped = clip_to_image([x1, y1, x2 - x1, y2 - y1], image, margin=0)
            if clipped[2] > 0 and clipped[3] > 0:
                slot.last_box = np.array(
                    [clipped[0], clipped[1], clipped[0] + clipped[2], clipped[1] + clipped[3]]
                )
            results.append({'target_bbox': clipped, 'confidence': row[4]})
        if self.debug and n == 1:
            self._debug_frame = (results[0]['target_bbox'], out['score_map'][0].float().sigmoid())
        return results

    def send_debug(self, image, info):
        """Debug images of the last single-sequence frame (called by track())."""
        box, score = self._debug_frame
        self.debug_sink.image('tracking', image, boxes=[box, (info or {}).get('gt_bbox')])
        self.debug_sink.heatmap('score_map', score)


def tracker_for_network(script, cfg, network, device=None, options=None, debug=0):
    """A LoRATTracker around an already built network; a LoRA training model is merged first (a copy)."""
    from lib.models.lorat.builder import has_lora, merged_model

    if has_lora(network):
        network = merged_model(network)
    return LoRATTracker(cfg, network, name=script, device=device, debug=debug, options=options)
