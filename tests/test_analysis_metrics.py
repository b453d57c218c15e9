"""Metric conventions on tiny sequences whose IoUs, errors and curves are computed by hand here."""

import numpy as np
import pytest

from lib.test.analysis import metrics

GT10 = [0.0, 0.0, 10.0, 10.0]  # a 10x10 box touching the image corner (valid in the OSTrack variant)


def scores_of(pred, gt, dataset='otb', target_visible=None, exclude=False):
    errors = metrics.sequence_errors(pred, gt, dataset, target_visible, source='pred.txt')
    curves = metrics.sequence_curves(errors, exclude)
    return (
        errors,
        curves,
        metrics.ope_scores(curves.success[None], curves.precision[None], curves.norm_precision[None]),
    )


def test_thresholds_are_exact():
    assert len(metrics.OVERLAP_THRESHOLDS) == 21
    assert metrics.OVERLAP_THRESHOLDS[metrics.OP50_INDEX] == 0.5
    assert metrics.OVERLAP_THRESHOLDS[metrics.OP75_INDEX] == 0.75
    assert metrics.CENTER_THRESHOLDS[metrics.PRECISION_INDEX] == 20.0
    assert metrics.NORM_CENTER_THRESHOLDS[metrics.PRECISION_INDEX] == 0.2


def test_hand_computed_sequence():
    gt = [GT10, GT10, GT10]
    # frame 0 is replaced by GT; frame 1 shifted by 5 px: IoU 50/150; frame 2 half width: IoU 50/100.
    pred = [[99, 99, 1, 1], [5, 0, 10, 10], [0, 0, 5, 10]]
    errors, curves, s = scores_of(pred, gt)
    np.testing.assert_allclose(errors.overlap, [1.0, 1 / 3, 0.5])
    # centres xy + 0.5 (wh - 1): GT (4.5, 4.5); frame 1 (9.5, 4.5); frame 2 (2, 4.5)
    np.testing.assert_allclose(errors.center, [0.0, 5.0, 2.5])
    np.testing.assert_allclose(errors.center_norm, [0.0, 0.5, 0.25])
    assert errors.valid.all()  # x = y = 0 is valid here (pytracking would mark it invalid)
    # success: t=0 and t=0.05..0.30 -> 3/3 (7 thresholds); 0.35..0.45 -> 2/3 (3); 0.5..0.95 -> 1/3 (10);
    # 1.0 -> 0
    expected_auc = (7 * 1 + 3 * 2 / 3 + 10 * 1 / 3) / 21 * 100
    assert s['AUC'] == pytest.approx(expected_auc)
    assert s['OP50'] == pytest.approx(100 / 3)  # IoU 0.5 is not > 0.5
    assert s['OP75'] == pytest.approx(100 / 3)
    assert s['Precision'] == pytest.approx(100.0)
    assert s['Norm Precision'] == pytest.approx(100 / 3)  # 0.25 and 0.5 exceed 0.20
    assert curves.avg_overlap == pytest.approx((1 + 1 / 3 + 0.5) / 3)


def test_iou_exactly_at_threshold_is_not_counted():
    gt = [GT10] * 3
    pred = [GT10, [0, 0, 7.5, 10], [0, 0, 5, 10]]  # IoU 0.75 and 0.5 exactly
    errors, _, s = scores_of(pred, gt)
    assert errors.overlap[1] == 0.75 and errors.overlap[2] == 0.5
    assert s['OP75'] == pytest.approx(100 / 3)  # only frame 0
    assert s['OP50'] == pytest.approx(200 / 3)  # frames 0 and 1


def test_invalid_gt_frames_default_and_excluded():
    gt = [GT10, [0, 0, 0, 10], GT10, GT10]  # frame 1 has zero width -> invalid
    pred = [GT10, GT10, GT10, [100, 100, 10, 10]]
    errors, curves, s = scores_of(pred, gt)
    assert errors.valid.tolist() == [True, False, True, True]
    assert errors.overlap[1] == -1 and errors.center[1] == np.inf and errors.center_norm[1] == -1
    assert curves.success[0] == pytest.approx(2 / 4)  # invalid frame counts as a failure
    assert s['Precision'] == pytest.approx(50.0)  # inf error fails
    assert s['Norm Precision'] == pytest.approx(75.0)  # -1 "passes": the official convention
    _, curves_ex, s_ex = scores_of(pred, gt, exclude=True)
    assert curves_ex.success[0] == pytest.approx(2 / 3)
    assert s_ex['Precision'] == pytest.approx(200 / 3)
    assert s_ex['Norm Precision'] == pytest.approx(200 / 3)


def test_target_visible_and_lasot_rule():
    gt = [GT10] * 4
    pred = [GT10] * 4
    visible = [True, True, False, True]
    errors, curves, s = scores_of(pred, gt, 'lasot', visible)
    assert errors.valid.tolist() == visible
    assert errors.center[2] == np.inf and errors.center_norm[2] == np.inf  # LaSOT: both inf when invisible
    assert s['Norm Precision'] == pytest.approx(75.0)
    errors_otb, _, s_otb = scores_of(pred, gt, 'otb', visible)
    assert errors_otb.center_norm[2] == -1 and s_otb['Norm Precision'] == pytest.approx(100.0)


def test_uav_nan_rows_allowed_and_center_minus_one():
    gt = [GT10, [np.nan] * 4, GT10]
    pred = [GT10, [50, 50, 10, 10], [50, 50, 10, 10]]
    errors, _, s = scores_of(pred, gt, 'uav')
    assert errors.center[1] == -1 and errors.overlap[1] == -1
    assert s['Precision'] == pytest.approx(200 / 3)  # frame 0 and the NaN frame pass, frame 2 fails
    with pytest.raises(ValueError, match='NaN in the ground truth'):
        metrics.sequence_errors(pred, gt, 'lasot', gt_source='gt of seqX')


def test_zero_size_prediction_takes_previous_box():
    gt = [GT10] * 4
    pred = [GT10, [2, 0, 10, 10], [7, 7, 0, 3], [1, 1, 5, 0]]  # frames 2 and 3 cascade to frame 1's box
    errors, _, _ = scores_of(pred, gt)
    np.testing.assert_allclose(errors.overlap[1:], [80 / 120] * 3)


def test_length_mismatch_rules():
    gt = [GT10] * 4
    short = [GT10, GT10]
    errors, _, _ = scores_of(short, gt, 'otb')
    assert errors.overlap.tolist() == [1.0, 1.0, 0.0, 0.0]  # zero-padded
    with pytest.raises(ValueError, match='pred.txt.*2 predicted boxes'):
        scores_of(short, gt, 'lasot', [True] * 4)
    long = [GT10] * 4 + [[50, 50, 1, 1]]
    errors, _, _ = scores_of(long, gt, 'lasot', [True] * 4)
    assert len(errors.overlap) == 4


def test_bad_predictions_name_the_file():
    with pytest.raises(ValueError, match=r'pred\.txt: NaN in predicted boxes on line\(s\) 2'):
        scores_of([GT10, [1, np.nan, 2, 2]], [GT10, GT10])
    with pytest.raises(ValueError, match=r'pred\.txt: negative predicted width'):
        scores_of([GT10, [1, 1, -2, 2]], [GT10, GT10])


def test_sequences_weighted_equally():
    success = np.zeros((2, 21))
    success[0] = 1.0  # a perfect short sequence and a failed long one -> 50, whatever their lengths
    s = metrics.ope_scores(success, np.zeros((2, 51)), np.zeros((2, 51)))
    assert s['AUC'] == pytest.approx(50.0)


def test_got10k_ious_skip_first_frame_and_covered_frames():
    gt = np.array([GT10] * 3)
    pred = np.array([[50, 50, 5, 5], [5, 0, 10, 10], [50, 50, 5, 5]])
    ious = metrics.got10k_frame_ious(pred, gt, visible=[True, True, False])
    np.testing.assert_allclose(ious, [1 / 3])  # frame 0 (wrong here) and the covered frame 2 are left out
    scores = metrics.got10k_scores(metrics.got10k_counts(ious)[None])
    assert scores['AO'] == pytest.approx(100 / 3) and scores['SR0.5'] == 0 and scores['SR0.75'] == 0


def test_got10k_toolkit_clipping_and_pooling():
    gt = np.array([GT10, GT10])
    pred = np.array([GT10, [-5, 0, 10, 10]])
    # unclipped IoU 50/150; the toolkit moves x to 0 and keeps w = 10 -> IoU 1
    assert metrics.got10k_frame_ious(pred, gt)[0] == pytest.approx(1 / 3)
    assert metrics.got10k_frame_ious(pred, gt, image_size=(20, 20))[0] == pytest.approx(1.0)
    # pooling: a 1-frame sequence with IoU 1 and a 3-frame one with IoU 0 -> AO 25 (not 50)
    counts = np.stack([metrics.got10k_counts([1.0]), metrics.got10k_counts([0.0, 0.0, 0.0])])
    assert metrics.got10k_scores(counts)['AO'] == pytest.approx(25.0)
    assert metrics.got10k_scores(counts)['SR0.75'] == pytest.approx(25.0)
    with pytest.raises(ValueError, match='res.txt: 1 predicted boxes'):
        metrics.got10k_frame_ious(pred[:1], gt, source='res.txt')
