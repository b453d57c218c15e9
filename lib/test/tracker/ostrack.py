"""OSTrack tracker (with or without candidate elimination), matching the official inference step.

Per sequence: one template crop around the first box (never updated). Per frame: a search crop
around the previous box, one network pass, the score map multiplied by a Hann window, the box
decoded at the windowed argmax, mapped back to the image and clipped (at least 10 px, inside the
frame). No confidence threshold, no smoothing, as in the lineage.

DropTrack and CompressTracker run the same step on their networks (their Family's tracker is this one).
"""

import dataclasses
import warnings

import numpy as np
import torch

from lib.test.tracker.base_tracker import clip_to_image, crop_box_to_image, hann2d
from lib.test.tracker.device_crop import normalize_crop, sample_target_device
from lib.test.tracker.slots import SlotTracker, stack
from lib.utils.ce import ce_layers, generate_ce_template_mask
from lib.utils.crop import sample_target, transform_image_to_crop

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


BF16_CE_WARNING = (
    "bf16 autocast with candidate elimination (MODEL.BACKBONE.CE_LOC={ce_loc}): bf16 rounding upstream "
    "of a CE layer flips which search tokens survive on some frames, so boxes can part from the fp32 "
    "ones (trained tiny OSTrack-CE: IoU >= 0.99 on 94-95% of frames; 99.9% with CE off); fp16 keeps "
    "them (99.4-99.8%): use --precision fp16 (docs/benchmarks.md, 'Half precision on trained weights')"
)


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


@dataclasses.dataclass
class OSTrackSlot:
    """One sequence's state: template (1,3,Hz,Wz) normalised image, or its tokens (1,L_z,C) when cached;
    the CE template mask (1,L_z) or None; the last box [x, y, w, h]; frames tracked."""

    template: torch.Tensor
    ce_template_mask: torch.Tensor
    state: list
    frame_id: int = 0


class OSTrackTracker(SlotTracker):
    """Tracker around an OSTrack-family network.

    network: forward(template, search, ce_template_mask=...) -> dict with 'score_map', 'size_map',
    'offset_map' and network.box_head.cal_bbox(score_map, size_map, offset_map) -> (B, 4) normalised
    cx, cy, w, h; with `embed_template` and forward(..., template_tokens=...) the template is embedded
    once per sequence. cfg: the family config (TEST.*, MODEL.BACKBONE.CE_*, DATA.TEMPLATE.SIZE, STRIDE).
    options: InferenceOptions (None: the fast defaults; InferenceOptions.plain(): the reference path).
    """

    def __init__(self, cfg, network, name='ostrack', device=None, debug=0, options=None):
        super().__init__(name, network, device=device, debug=debug, options=options)
        self.cfg = cfg
        self.template_factor = float(cfg.TEST.TEMPLATE_FACTOR)
        self.template_size = int(cfg.TEST.TEMPLATE_SIZE)
        self.search_factor = float(cfg.TEST.SEARCH_FACTOR)
        self.search_size = int(cfg.TEST.SEARCH_SIZE)
        self.uses_ce = bool(ce_layers(cfg))
        if self.uses_ce and self.precision == 'bf16':
            warnings.warn(BF16_CE_WARNING.format(ce_loc=ce_layers(cfg)), stacklevel=2)
        self.cache_template = self.options.template_cache and hasattr(self.network, 'embed_template')
        self.mean = torch.tensor(IMAGENET_MEAN, device=self.device).view(1, 3, 1, 1)
        self.std = torch.tensor(IMAGENET_STD, device=self.device).view(1, 3, 1, 1)
        feat = self.search_size // int(cfg.MODEL.BACKBONE.STRIDE)
        self.window = hann2d((feat, feat), centered=True, device=self.device)

    # the single-sequence state, as before slots existed
    template = property(lambda self: None if self.slot is None else self.slot.template)
    ce_template_mask = property(lambda self: None if self.slot is None else self.slot.ce_template_mask)
    state = property(lambda self: None if self.slot is None else self.slot.state)
    frame_id = property(lambda self: 0 if self.slot is None else self.slot.frame_id)

    def to_network_input(self, crop):
        """RGB uint8 HxWx3 crop (numpy, or a tensor from the device crop) -> 1x3xHxW float tensor on the
        device, ImageNet-normalised."""
        if isinstance(crop, torch.Tensor):
            return normalize_crop(crop, self.mean, self.std)
        tensor = torch.from_numpy(np.ascontiguousarray(crop)).to(self.device)
        tensor = tensor.permute(2, 0, 1).unsqueeze(0).float()
        return (tensor / 255.0 - self.mean) / self.std

    def crop(self, frame, box, factor, size):
        """(uint8 crop, resize factor): sample_target on the host or its exact device twin."""
        if self.device_preprocess:
            return sample_target_device(frame, box, factor, size)
        crop, resize_factor, _ = sample_target(frame, box, factor, size)
        return crop, resize_factor

    def template_box_in_crop(self, init_bbox, resize_factor):
        """The first box in normalised template-crop coordinates, (1, 4) x, y, w, h."""
        box = transform_image_to_crop(init_bbox, init_bbox, resize_factor, self.template_size, normalize=True)
        return box.view(1, 4).to(self.device)

    def new_slot(self, image, info):
        init_bbox = [float(v) for v in info['init_bbox']]
        if len(init_bbox) != 4 or init_bbox[2] <= 0 or init_bbox[3] <= 0:
            raise ValueError(f"init_bbox must be [x, y, w, h] with w, h > 0, got {info['init_bbox']!r}")
        crop, resize_factor = self.crop(
            self.frame_input(image), init_bbox, self.template_factor, self.template_size
        )
        template = self.to_network_input(crop)
        if self.cache_template:
            with torch.inference_mode(), self.autocast():
                template = self.network.embed_template(template)
        ce_template_mask = None
        if self.uses_ce:
            ce_template_mask = generate_ce_template_mask(
                self.cfg, 1, self.device, self.template_box_in_crop(init_bbox, resize_factor)
            )
        if self.debug:
            self._debug_template = as_numpy_image(crop)
        return OSTrackSlot(template, ce_template_mask, init_bbox)

    def forward_network(self, template, search, ce_template_mask):
        """The network's output dict. With bf16/fp16 only the backbone runs under autocast; the center
        head runs in fp32 on the backbone's tokens (its size/offset outputs are the box: an 8-bit
        mantissa would round them by up to 0.4 %), as long as the network has backbone + forward_head."""
        network = self.network
        cached = {'template_tokens': template} if self.cache_template else {}
        template_image = None if self.cache_template else template

        mask = ce_template_mask

        def whole():
            return network(template=template_image, search=search, ce_template_mask=mask, **cached)

        def backbone():
            return network.backbone(template_image, search, ce_template_mask=mask, **cached)

        def head(features):
            feat, aux = features
            out = network.forward_head(feat.float())
            out.update(aux_dict=aux, removed_indexes_s=aux['removed_indexes_s'])
            return out

        return self.run_network(whole, backbone if hasattr(network, 'forward_head') else None, head)

    def set_position(self, slot, box_xywh):
        slot.state = [float(v) for v in box_xywh]

    def network_step(self, template, search, ce_template_mask):
        """Network (under the precision's autocast) + Hann window + box decoding in fp32:
        {'pred': (B, 4) normalised cx, cy, w, h, 'score_map', 'response', 'removed'} ('removed', the
        eliminated search tokens, only with debug output: nothing else reads it)."""
        out = self.forward_network(template, search, ce_template_mask)
        score_map = out['score_map'].float()
        window = self.window
        if window.shape[-2:] != score_map.shape[-2:]:  # a network whose map is not search_size / stride
            window = hann2d(tuple(score_map.shape[-2:]), centered=True, device=score_map.device)
        response = window * score_map
        pred = self.network.box_head.cal_bbox(response, out['size_map'].float(), out['offset_map'].float())
        return {
            'pred': pred.view(-1, 4),
            'score_map': score_map,
            'response': response,
            'removed': removed_search_tokens(out) if self.debug else None,
        }

    def track_slots(self, images, slots, infos=None, pad_to=None):
        """Advances each slot by its next frame in one network forward; returns [{'target_bbox'}]."""
        crops, searches, factors = [], [], []
        for image, slot in zip(images, slots):
            crop, resize_factor = self.crop(
                self.frame_input(image), slot.state, self.search_factor, self.search_size
            )
            crops.append(crop)
            searches.append(self.to_network_input(crop))
            factors.append(resize_factor)
        n = len(slots)
        if n > 1:  # made before the forward is queued, so the upload does not wait for it
            factor_column = torch.tensor(factors, dtype=torch.float32, device=self.device).view(-1, 1)
        out = self.run_step(
            stack([s.template for s in slots]),
            stack(searches),
            stack([s.ce_template_mask for s in slots]),
            pad_to=pad_to,
        )
        pred = out['pred'][:n]
        # Scaled to image pixels in float32 on the tensor, as the lineage does, so that boxes (which
        # the runner truncates to int) match the official tracker's bit for bit; one host read.
        if n == 1:
            scaled = [(pred[0] * self.search_size / factors[0]).tolist()]
        else:
            scaled = (pred * self.search_size / factor_column).tolist()
        results = []
        for i, (image, slot) in enumerate(zip(images, slots)):
            slot.frame_id += 1
            # The box is already in image scale: resize factor 1, crop side search_size / resize_factor.
            box = crop_box_to_image(
                scaled[i], slot.state, 1.0, self.search_size / factors[i], normalized=False
            )
            slot.state = clip_to_image(box, image)
            results.append({'target_bbox': list(slot.state)})
        if self.debug and n == 1:
            self._debug_frame = (as_numpy_image(crops[0]), pred[0].tolist(), out)
        return results

    def send_debug(self, image, info):
        """Debug images of the last single-sequence frame (called by track())."""
        crop, pred_box, out = self._debug_frame
        sink = self.debug_sink
        gt = (info or {}).get('gt_bbox')
        gt = None if gt is None else [float(v) for v in gt]
        sink.image('tracking', image, boxes=[self.state, gt])
        cx, cy, w, h = (v * self.search_size for v in pred_box)
        sink.image('search_region', crop, boxes=[[cx - w / 2, cy - h / 2, w, h]])
        sink.heatmap('score_map', out['score_map'][0, 0])
        sink.heatmap('score_map_hann', out['response'][0, 0])
        removed = out['removed']
        if removed is not None:
            grid = out['score_map'].shape[-1]
            sink.image('kept_search_tokens', kept_tokens_overlay(crop, removed.cpu().numpy(), grid))


def as_numpy_image(crop):
    """A uint8 HxWx3 crop as numpy (device crops are copied to the host: debug output only)."""
    return crop.cpu().numpy() if isinstance(crop, torch.Tensor) else crop


def tracker_for_network(script, cfg, network, device=None, options=None, debug=0):
    """An OSTrackTracker around a built OSTrack-family `network` (OSTrack, DropTrack, CompressTracker);
    `script` names its debug output."""
    return OSTrackTracker(cfg, network, name=script, device=device, debug=debug, options=options)
