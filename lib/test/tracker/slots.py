"""SlotTracker: the per-frame machinery OSTrack-family and LoRAT trackers share, for one sequence or
for several sequences advancing together (lib/test/evaluation/stepping.py).

A *slot* holds one sequence's state (template input or cached template tokens, last box, ...).
`initialize` / `track` run one slot; `new_slot` / `track_slots` let a caller stack K slots into one
network forward. The per-frame step is: crop (on the device, or numpy/cv2 on the host) -> network
(SDPA or explicit attention, optional autocast, eager / torch.compile / CUDA graph) -> window, argmax
and box decoding on the device -> one host read of the boxes. Subclasses implement `new_slot`,
`network_step(template, search, mask) -> dict of tensors` and `track_slots`.
"""

import numpy as np
import torch

from lib.models.layers.attention import attention_layers, set_attention_impl
from lib.test.tracker.base_tracker import BaseTracker
from lib.test.tracker.device_crop import DeviceFrame
from lib.test.tracker.options import as_options
from lib.test.tracker.step import NetworkStep, autocast


def check_image(image):
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(
            f'expected an RGB uint8 HxWx3 numpy image, got {getattr(image, "shape", type(image).__name__)}'
        )


def stack(tensors):
    """cat along the batch dimension (no copy for one tensor); None when the inputs are None."""
    if tensors[0] is None:
        return None
    return tensors[0] if len(tensors) == 1 else torch.cat(tensors)


def pad_batch(tensor, size):
    """Repeats the last sample so the batch has `size` samples (fixed shapes for compile / CUDA graphs)."""
    if tensor is None or tensor.shape[0] >= size:
        return tensor
    return torch.cat([tensor, tensor[-1:].expand(size - tensor.shape[0], *tensor.shape[1:])])


class SlotTracker(BaseTracker):
    """network: the family's network; options: InferenceOptions (None = the fast defaults);
    config_amp: the config's AMP wish for precision=None (LoRAT's TEST.AMP)."""

    # How device crops get their pixels (lib/test/tracker/device_crop.py::DeviceFrame): None = its
    # default (a GPU uploads only the blocks the crops read, the CPU uses the frame in place).
    frame_upload = None

    def __init__(self, name, network, device=None, debug=0, options=None, config_amp=False):
        super().__init__(name, device=device, debug=debug)
        self.options = as_options(options)
        self.options.check_device(self.device)
        self.network = set_attention_impl(network.to(self.device).eval(), self.options.attention)
        self._attention_layers = attention_layers(self.network)
        self.precision = self.options.resolved_precision(config_amp, self.device.type)
        self.device_preprocess = self.options.preprocess == 'device'
        self.step = NetworkStep(self.network_step, self.device, self.options.compile)
        self.slot = None

    # -- hooks for subclasses ------------------------------------------------------------------------
    def new_slot(self, image, info):
        raise NotImplementedError

    def network_step(self, template, search, mask):
        raise NotImplementedError

    def set_position(self, slot, box_xywh):
        """Moves a slot to `box_xywh` (the next search crop is centred there): for tests and
        measurements that compare paths frame by frame from the same position."""
        raise NotImplementedError

    def track_slots(self, images, slots, infos=None, pad_to=None):
        """Advances each slot by its frame in `images` in one network forward (padded to `pad_to`
        samples when given); returns one output dict per slot ({'target_bbox': [x, y, w, h], ...})."""
        raise NotImplementedError

    # -- shared helpers ------------------------------------------------------------------------------
    def autocast(self):
        return autocast(self.device, self.precision)

    def run_network(self, whole, backbone=None, head=None):
        """Every tracker's precision rule for its network: in fp32, or for a network without a separable
        head (backbone None), `whole()` under the precision's autocast; in bf16/fp16 only `backbone()`
        runs under autocast and `head(features)` runs outside it (the head casts the features to fp32:
        its outputs are the box, which an 8-bit mantissa would round by up to 0.4 %)."""
        if self.precision == 'fp32' or backbone is None:
            with self.autocast():
                return whole()
        with self.autocast():
            features = backbone()
        return head(features)

    def frame_input(self, image):
        """The frame as the crop functions take it: a DeviceFrame (device path: on a GPU each crop
        uploads only the block it reads; `frame_upload` = 'whole' uploads the frame once instead) or
        the numpy array."""
        check_image(image)
        return DeviceFrame(image, self.device, self.frame_upload) if self.device_preprocess else image

    def run_step(self, template, search, mask, pad_to=None):
        """Runs the network step on stacked inputs, padded to `pad_to` samples when given."""
        if pad_to is not None:
            template, search, mask = (pad_batch(t, pad_to) for t in (template, search, mask))
        # A network may be shared by trackers with different options: re-assert this one's attention.
        for layer in self._attention_layers:
            layer.impl = self.options.attention
        with torch.inference_mode():
            return self.step(template, search, mask)

    # -- the single-sequence contract ----------------------------------------------------------------
    def initialize(self, image, info):
        self.slot = self.new_slot(image, info)
        if self.debug_sink is not None:  # debug images go out for single sequences only
            self.debug_sink.image('template', self._debug_template)

    def track(self, image, info=None):
        if self.slot is None:
            raise RuntimeError(f'{type(self).__name__}.track() called before initialize()')
        out = self.track_slots([image], [self.slot], [info])[0]
        if self.debug_sink is not None:
            self.send_debug(image, info)
        return out

    def send_debug(self, image, info):
        """Sends the last single-sequence frame's debug images (track_slots keeps what it needs)."""
