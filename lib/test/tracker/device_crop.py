"""Search/template crops computed with torch ops on the tracker's device (no numpy round trip).

`sample_target_device` reproduces lib.utils.crop.sample_target bit for bit: the same window
(crop_window: side ceil(sqrt(wh) * f), origin round(...)), zero padding outside the image, the
lineage's quirk that the image's last row and column never enter a crop, and cv2.resize's INTER_LINEAR
on uint8 images. That resize is emulated in integer arithmetic: source position (d + 0.5) * in / out
- 0.5 computed in float64 and rounded to float32, taps clamped to the patch (border replicate),
weights quantised to 1/2048 (round half to even), a horizontal pass in int32 and cv2's vectorised
vertical pass ((b0 * (h0 >> 4)) >> 16) + ((b1 * (h1 >> 4)) >> 16) + 2) >> 2. It matched
cv2.resize on every value of 24 M test pixels (random sizes 3..400 -> 56..256, OpenCV 5.0 on x86);
cv2's exact-2x INTER_AREA shortcut gives the same values. Checked in tests/test_inference_paths.py.

`siamfc_crop_device` runs LoRAT's SiamFC crop (lib.utils.siamfc_crop.crop_image) on a device frame.

Both take a `DeviceFrame`: the host frame, whose pixels go to the device only as crops ask for them.
On a GPU a crop uploads just the block of the frame it reads (a 4x search window of a small target is
a few percent of a 1280x720 frame; a whole frame from pageable memory is ~2.8 MB a frame over PCIe),
except LoRAT's template crop, whose padding colour is the whole frame's mean. On the CPU there is
nothing to upload: the frame is used in place. Either way the crop is the same, bit for bit.
"""

import functools

import numpy as np
import torch

from lib.utils.crop import crop_window, source_span
from lib.utils.siamfc_crop import as_size, crop_image, paste_block, pixel_blocks

COEF_BITS = 11  # cv2 INTER_RESIZE_COEF_BITS
COEF_SCALE = 1 << COEF_BITS


def _rgb_frame(image):
    """The RGB uint8 HxWx3 numpy frame (contiguous; the same array when it already is), or ValueError."""
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(
            f'expected an RGB uint8 HxWx3 numpy image, got '
            f'{getattr(image, "dtype", type(image).__name__)} {getattr(image, "shape", "")}'
        )
    return np.ascontiguousarray(image)


def upload_frame(image, device):
    """RGB uint8 HxWx3 numpy frame -> uint8 HxWx3 tensor on `device` (a tensor is passed through)."""
    if isinstance(image, torch.Tensor):
        return image.to(device)
    return torch.from_numpy(_rgb_frame(image)).to(device)


class DeviceFrame:
    """A frame for crops on `device`: an RGB uint8 HxWx3 numpy array, or a uint8 HxWxC tensor already on
    its device (used whole). region() gives a block of it as a uint8 tensor on the device: uploaded
    alone (upload='region', the default off the CPU), or cut from the frame uploaded once
    (upload='whole', the default on the CPU, where that is a view of the array). uploaded_bytes counts
    what went to the device."""

    def __init__(self, image, device=None, upload=None):
        self.uploaded_bytes = 0
        if isinstance(image, torch.Tensor):
            self.device, self.image, self._whole, self.upload = image.device, None, image, 'whole'
            self.shape = tuple(image.shape)
            return
        self.device = torch.device(device)
        self.image = _rgb_frame(image)
        self.shape = self.image.shape
        self.upload = upload or ('whole' if self.device.type == 'cpu' else 'region')
        if self.upload not in ('whole', 'region'):
            raise ValueError(f"DeviceFrame: upload must be 'whole' or 'region', got {upload!r}")
        self._whole = None

    def whole(self):
        """The whole frame on the device (uploaded on first use)."""
        if self._whole is None:
            self._whole = upload_frame(self.image, self.device)
            if self.device.type != 'cpu':
                self.uploaded_bytes += self.image.nbytes
        return self._whole

    def region(self, rows, cols):
        """Frame rows [r0, r1) x columns [c0, c1) as a uint8 (r1-r0, c1-c0, C) tensor on the device."""
        (r0, r1), (c0, c1) = rows, cols
        if self.upload == 'whole':
            return self.whole()[r0:r1, c0:c1]
        block = np.ascontiguousarray(self.image[r0:r1, c0:c1])
        self.uploaded_bytes += block.nbytes
        return torch.from_numpy(block).to(self.device)


@functools.lru_cache(maxsize=512)
def _axis_taps(in_len, out_len, columns, device):
    """cv2 INTER_LINEAR taps of one axis: (index0, index1, weight0, weight1), indices into [0, in_len)
    (int64), int32 weights in 1/2048. cv2 treats the axes differently at the borders: a column tap
    outside the source is moved inside with its fraction dropped, a row tap is only clamped (its
    weights stay), which rounds differently in the vertical pass."""
    with torch.inference_mode(False):
        scale = 1.0 / (out_len / in_len)  # cv2: scale = 1 / inv_scale, inv_scale = out / in (doubles)
        pos = ((torch.arange(out_len, dtype=torch.float64, device=device) + 0.5) * scale - 0.5).float()
        start = torch.floor(pos)
        frac = pos - start
        start = start.long()
        if columns:
            outside = (start < 0) | (start >= in_len - 1)
            frac = torch.where(outside, torch.zeros_like(frac), frac)
        w0 = torch.round((1 - frac) * COEF_SCALE).to(torch.int32)
        w1 = torch.round(frac * COEF_SCALE).to(torch.int32)
        return start.clamp(0, in_len - 1), (start + 1).clamp(0, in_len - 1), w0, w1


def _gather_axis(index, offset, block_len):
    """Window indices -> (block indices clamped for gathering, int32 1/0 validity: inside the block)."""
    pos = index + offset
    valid = ((pos >= 0) & (pos < block_len)).to(torch.int32)
    return pos.clamp(0, block_len - 1), valid


def crop_resize(block, x1, y1, crop_sz, out_sz):
    """The crop_sz x crop_sz window at (x1, y1) (block coordinates, possibly negative) over `block`
    (uint8 HxWxC tensor, every pixel of it usable), zero outside the block, resized to out_sz x out_sz
    exactly as cv2.resize(INTER_LINEAR) would: uint8 (out, out, C)."""
    img_h, img_w = block.shape[:2]
    c0, c1, a0, a1 = _axis_taps(int(crop_sz), int(out_sz), True, block.device)
    r0, r1, b0, b1 = _axis_taps(int(crop_sz), int(out_sz), False, block.device)
    c0, vc0 = _gather_axis(c0, x1, img_w)
    c1, vc1 = _gather_axis(c1, x1, img_w)
    r0, vr0 = _gather_axis(r0, y1, img_h)
    r1, vr1 = _gather_axis(r1, y1, img_h)
    a0, a1 = (a0 * vc0)[None, :, None], (a1 * vc1)[None, :, None]

    def horizontal(rows, row_valid):
        band = block.index_select(0, rows)  # (out, W, C) uint8
        h = band.index_select(1, c0).to(torch.int32) * a0 + band.index_select(1, c1).to(torch.int32) * a1
        return h * row_valid[:, None, None]

    h0, h1 = horizontal(r0, vr0), horizontal(r1, vr1)
    out = (((b0[:, None, None] * (h0 >> 4)) >> 16) + ((b1[:, None, None] * (h1 >> 4)) >> 16) + 2) >> 2
    return out.clamp(0, 255).to(torch.uint8)


def sample_target_device(frame, box_xywh, search_area_factor, output_sz):
    """lib.utils.crop.sample_target on the device: (crop uint8 (out, out, C) tensor, resize_factor).
    frame: a DeviceFrame or a uint8 HxWxC device tensor. Only the frame block inside the window is read
    (and, for a DeviceFrame on a GPU, uploaded); the frame's last row and column are left out of it,
    the lineage's padding quirk."""
    frame = frame if isinstance(frame, DeviceFrame) else DeviceFrame(frame)
    x1, y1, crop_sz = crop_window(box_xywh, search_area_factor)
    height, width = frame.shape[:2]
    cols, rows = source_span(x1, crop_sz, width), source_span(y1, crop_sz, height)
    output_sz = int(output_sz)
    if cols[1] <= cols[0] or rows[1] <= rows[0]:  # the window misses the frame: all padding
        crop = torch.zeros(
            (output_sz, output_sz) + tuple(frame.shape[2:]), dtype=torch.uint8, device=frame.device
        )
    else:
        crop = crop_resize(frame.region(rows, cols), x1 - cols[0], y1 - rows[0], crop_sz, output_sz)
    return crop, output_sz / crop_sz


def normalize_crop(crop, mean, std):
    """uint8 (H, W, 3) crop -> (1, 3, H, W) float32 (x / 255 - mean) / std: the numpy path's (and the
    official) operations in the same order, down to the strides of the result (a permuted view, which
    selects the same convolution kernels, so the network output is bit-identical)."""
    return (crop.permute(2, 0, 1).unsqueeze(0).float() / 255.0 - mean) / std


def siamfc_crop_device(frame, output_size, params, padding=None):
    """LoRAT's SiamFC crop on the device: crop_image's geometry and interpolation on the CxHxW view of
    the frame (a DeviceFrame or a uint8 HxWx3 device tensor). With a padding colour given, only the
    source block is read (uploaded, on a GPU); without one the whole frame is, for its mean."""
    frame = frame if isinstance(frame, DeviceFrame) else DeviceFrame(frame)
    if padding is None:
        return crop_image(frame.whole().permute(2, 0, 1), output_size, params)
    height, width = frame.shape[:2]
    blocks = pixel_blocks((width, height), as_size(output_size), params)
    block = None
    if blocks is not None:
        ix1, iy1, ix2, iy2 = blocks[1]
        block = frame.region((iy1, iy2), (ix1, ix2)).permute(2, 0, 1).float()
    return paste_block(block, blocks, output_size, padding, params, frame.device)
