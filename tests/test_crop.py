"""lib/utils/crop.py: the official crop geometry, checked against hand-computed cases."""

import numpy as np
import pytest
import torch

from lib.utils.crop import crop_window, sample_target, transform_image_to_crop


def coord_image(h, w):
    """Pixel (r, c) holds (r, c, 200): lets a test read back which image pixel landed where."""
    im = np.zeros((h, w, 3), dtype=np.uint8)
    im[..., 0] = np.arange(h)[:, None]
    im[..., 1] = np.arange(w)[None, :]
    im[..., 2] = 200
    return im


def test_crop_inside_image_is_plain_slice():
    im = coord_image(100, 100)
    # side ceil(10*2) = 20, origin round(45 - 10) = 35 and round(35 - 10) = 25
    crop, factor, att = sample_target(im, [40, 30, 10, 10], 2.0, output_sz=20)
    assert crop.shape == (20, 20, 3) and crop.dtype == np.uint8
    assert factor == 1.0
    assert np.array_equal(crop, im[25:45, 35:55])
    assert att.dtype == np.bool_ and not att.any()
    crop2, factor2, att2 = sample_target(im, torch.tensor([40.0, 30.0, 10.0, 10.0]), 2.0, output_sz=40)
    assert factor2 == 2.0 and crop2.shape == (40, 40, 3) and not att2.any()


def test_crop_side_uses_ceil_of_sqrt_area():
    assert crop_window([10, 10, 3, 5], 2.0)[2] == 8  # sqrt(15) * 2 = 7.75 -> 8
    assert crop_window([10, 10, 16, 4], 4.0)[2] == 32  # sqrt(64) * 4 = 32 exactly
    _, _, att = sample_target(coord_image(50, 50), [10, 10, 3, 5], 2.0, output_sz=16)
    assert att.shape == (16, 16)


def test_crop_origin_rounds_half_to_even():
    # centre 13.5, side 18: 13.5 - 9 = 4.5 -> 4 (Python round, as the official code)
    assert crop_window([9, 9, 9, 9], 2.0) == (4, 4, 18)
    crop, _, _ = sample_target(coord_image(60, 60), [9, 9, 9, 9], 2.0)
    assert tuple(crop[0, 0]) == (4, 4, 200)
    # centre 7.5: 7.5 - 9 = -1.5 -> -2, so two padded columns/rows
    crop, _, att = sample_target(coord_image(60, 60), [3, 3, 9, 9], 2.0)
    assert crop_window([3, 3, 9, 9], 2.0) == (-2, -2, 18)
    assert att[:2].all() and att[:, :2].all() and not att[2:, 2:].any()
    assert tuple(crop[2, 2]) == (0, 0, 200)


def test_crop_off_top_left_pads_zero_and_masks():
    im = coord_image(100, 100)
    # side 40, origin round(5 - 20) = -15: 15 padded rows on top and columns on the left
    crop, factor, att = sample_target(im, [0, 0, 10, 10], 4.0)
    assert factor == 1.0 and crop.shape == (40, 40, 3)
    assert not crop[:15].any() and not crop[:, :15].any()
    assert np.array_equal(crop[15:, 15:], im[0:25, 0:25])
    assert att[:15].all() and att[:, :15].all() and not att[15:, 15:].any()


def test_crop_off_bottom_right_drops_last_image_row_and_column():
    im = coord_image(50, 60)
    # side 20, origin (45, 35), end (65, 55): official right pad 65 - 60 + 1 = 6 and bottom pad
    # 55 - 50 + 1 = 6, so only image columns 45..58 and rows 35..48 are used
    crop, _, att = sample_target(im, [50, 40, 10, 10], 2.0)
    assert np.array_equal(crop[:14, :14], im[35:49, 45:59])
    assert not crop[14:].any() and not crop[:, 14:].any()
    assert att[14:].all() and att[:, 14:].all() and not att[:14, :14].any()


def test_crop_touching_right_border_masks_last_column():
    im = coord_image(40, 60)
    # side 20, origin x 40 -> end 60 == W: no pixel is outside, yet the official pad of 1 replaces
    # image column 59 with a zero, masked column
    crop, _, att = sample_target(im, [45, 10, 10, 10], 2.0)
    assert np.array_equal(crop[:, :19], im[5:25, 40:59])
    assert not crop[:, 19].any() and att[:, 19].all()
    assert not att[:, :19].any()


def test_crop_resize_and_mask_downsampling():
    im = coord_image(100, 100)
    # side 40 (15 padded columns/rows) resized to 20: bilinear 2x down reads source pixels 2j and 2j+1,
    # so output column 7 (source 14, 15) still touches padding and column 8 (16, 17) does not
    crop, factor, att = sample_target(im, [0, 0, 10, 10], 4.0, output_sz=20)
    assert factor == 0.5 and crop.shape == (20, 20, 3)
    assert att[:, :8].all() and att[:8, :].all()
    assert not att[8:, 8:].any()
    # output (10, 10) averages source rows/cols 20, 21 -> image rows/cols 5, 6 -> value 5.5 -> 6
    assert tuple(crop[10, 10]) == (6, 6, 200)


def test_crop_of_segmentation_mask():
    im = coord_image(30, 30)
    seg = np.zeros((30, 30), dtype=np.float32)
    seg[0:5, 0:5] = 1
    crop, _, att, seg_crop = sample_target(im, [0, 0, 5, 5], 2.0, mask=seg)
    # side 10, origin round(2.5 - 5) = round(-2.5) = -2
    assert isinstance(seg_crop, torch.Tensor) and seg_crop.shape == (10, 10)
    assert seg_crop[:2].sum() == 0 and seg_crop[:, :2].sum() == 0
    assert seg_crop[2:7, 2:7].eq(1).all() and seg_crop[7:, 7:].sum() == 0
    *_, seg_resized = sample_target(im, [0, 0, 5, 5], 2.0, output_sz=20, mask=torch.from_numpy(seg))
    assert seg_resized.shape == (20, 20)


def test_crop_rejects_empty_box():
    with pytest.raises(ValueError, match=r'\[1.0, 2.0, 0.0, 5.0\]'):
        sample_target(coord_image(20, 20), [1, 2, 0, 5], 2.0, 16)


def test_crop_fully_outside_is_all_padding():
    crop, _, att = sample_target(coord_image(20, 20), [100, 100, 5, 5], 2.0, 8)
    assert not crop.any() and att.all()


def test_transform_image_to_crop_hand_values():
    # extraction box itself: centre at (40 - 1)/2 = 19.5, size scaled by 2 -> 20
    out = transform_image_to_crop(torch.tensor([40.0, 30.0, 10.0, 10.0]), [40, 30, 10, 10], 2.0, 40)
    assert torch.allclose(out, torch.tensor([9.5, 9.5, 20.0, 20.0]))
    # box shifted by (+3, -1) image pixels moves by (+6, -2) crop pixels; normalised by 40
    out = transform_image_to_crop(
        [43, 29, 10, 10], [40, 30, 10, 10], 2.0, torch.tensor([40.0, 40.0]), normalize=True
    )
    assert torch.allclose(out, torch.tensor([15.5, 7.5, 20.0, 20.0]) / 40)


def test_transform_image_to_crop_matches_pixels_in_the_crop():
    im = np.zeros((200, 200, 3), dtype=np.uint8)
    target = [80, 90, 40, 20]
    im[90:110, 80:120] = 255
    extract = [70, 85, 50, 30]
    crop, factor, _ = sample_target(im, extract, 2.0, output_sz=156)  # side ceil(77.46)=78 -> factor 2
    assert factor == 2.0
    box = transform_image_to_crop(target, extract, factor, 156)
    rows, cols = np.nonzero(crop[..., 0] > 127)
    found = [cols.min(), rows.min(), cols.max() + 1 - cols.min(), rows.max() + 1 - rows.min()]
    # the origin rounding and the (crop_sz - 1)/2 centre convention allow about one output pixel
    assert np.allclose(box.numpy(), found, atol=1.5)
    # inverting the mapping recovers the image box
    centre = extract[0] + extract[2] / 2, extract[1] + extract[3] / 2
    x = (box[0] + box[2] / 2 - 155 / 2) / factor + centre[0] - box[2] / factor / 2
    y = (box[1] + box[3] / 2 - 155 / 2) / factor + centre[1] - box[3] / factor / 2
    assert np.allclose([x, y, box[2] / factor, box[3] / factor], target, atol=1e-4)
