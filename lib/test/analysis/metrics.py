"""Per-sequence errors, curves and scores with the conventions of the OSTrack/pytracking analysis
(extract_results.py, plot_results.py) and of the GOT-10k toolkit, so that numbers match theirs.

OPE conventions (OSTrack variant; pytracking additionally required x > 0 and y > 0 for a valid frame):
- predictions with NaN or negative width/height are rejected (the error names the file);
- a predicted box with zero width or height (frame >= 1) is replaced by the previous predicted box,
  unless that ground-truth row has NaN;
- length mismatch: LaSOT truncates a longer prediction and rejects a shorter one; other datasets
  truncate a longer one and zero-pad a shorter one;
- frame 0 is the initialization, so pred[0] = gt[0];
- valid frame: GT w > 0 and h > 0 [and target_visible];
- centre = xy + 0.5 * (wh - 1); the normalized centre error divides both centres by the GT (w, h);
- invalid frames: IoU = -1, normalized centre error = -1, centre error = +inf (-1 for uav); for LaSOT,
  frames where the target is not visible get both centre errors = +inf.
With the default denominator (all GT frames) an error of -1 counts as a success in precision; that is
the official behaviour and is kept so numbers match. exclude_invalid_frames=True scores valid frames only
(numerator and denominator; the official code kept the -1 frames in the numerator).

Success = fraction of frames with IoU > t (strict) for t in 0:0.05:1 (21 values, built from integers
so 0.5 and 0.75 are exact); precision = fraction with error <= t. AUC = mean of the success curve;
sequences are averaged with equal weight.
"""

from typing import NamedTuple

import numpy as np

from lib.utils.box_ops import box_iou_xywh, box_iou_xyxy, box_xywh_to_xyxy

OVERLAP_THRESHOLDS = np.arange(21, dtype=np.float64) / 20.0
CENTER_THRESHOLDS = np.arange(51, dtype=np.float64)
NORM_CENTER_THRESHOLDS = np.arange(51, dtype=np.float64) / 100.0
OP50_INDEX = 10  # OVERLAP_THRESHOLDS[10] == 0.5 exactly
OP75_INDEX = 15  # OVERLAP_THRESHOLDS[15] == 0.75 exactly
PRECISION_INDEX = 20  # 20 px / 0.20 normalized

OPE_SCORE_NAMES = ('AUC', 'OP50', 'OP75', 'Precision', 'Norm Precision')
GOT10K_SCORE_NAMES = ('AO', 'SR0.5', 'SR0.75')


class SequenceErrors(NamedTuple):
    overlap: np.ndarray  # (N,) IoU, -1 on invalid frames
    center: np.ndarray  # (N,) pixels
    center_norm: np.ndarray  # (N,) fraction of the GT size
    valid: np.ndarray  # (N,) bool


def _rows(mask, limit=5):
    rows = np.nonzero(mask)[0]
    listed = ', '.join(str(r + 1) for r in rows[:limit])
    return listed + (f' and {len(rows) - limit} more' if len(rows) > limit else '')


def check_predictions(pred, source):
    """(N, 4) float64 x,y,w,h; ValueError naming `source` for NaN, negative sizes or a wrong shape."""
    pred = np.asarray(pred, dtype=np.float64)
    if pred.ndim != 2 or pred.shape[1] != 4:
        raise ValueError(f'{source}: expected rows of 4 values x,y,w,h, got an array of shape {pred.shape}')
    if np.isnan(pred).any():
        raise ValueError(f'{source}: NaN in predicted boxes on line(s) {_rows(np.isnan(pred).any(1))}')
    if (pred[:, 2:] < 0).any():
        raise ValueError(
            f'{source}: negative predicted width/height on line(s) {_rows((pred[:, 2:] < 0).any(1))}'
        )
    return pred


def _fix_length(pred, n_gt, dataset, source):
    if len(pred) == n_gt:
        return pred
    if len(pred) > n_gt:
        return pred[:n_gt]
    if dataset == 'lasot':
        raise ValueError(
            f'{source}: {len(pred)} predicted boxes but the ground truth has {n_gt} frames '
            f'(LaSOT results must cover every frame)'
        )
    return np.concatenate([pred, np.zeros((n_gt - len(pred), 4))], axis=0)


def _centers(boxes):
    return boxes[:, :2] + 0.5 * (boxes[:, 2:] - 1.0)


def sequence_errors(pred, gt, dataset, target_visible=None, source='predictions', gt_source='ground truth'):
    """Per-frame IoU, centre error and normalized centre error of one sequence (see module doc)."""
    pred = check_predictions(pred, source).copy()
    gt = np.asarray(gt, dtype=np.float64).reshape(-1, 4)
    gt_nan = np.isnan(gt).any(1)
    if gt_nan.any() and dataset != 'uav':
        raise ValueError(
            f'{gt_source}: NaN in the ground truth on line(s) {_rows(gt_nan)} '
            f"(only the 'uav' dataset may have NaN rows)"
        )
    if len(pred) == 0:
        raise ValueError(f'{source}: the result file is empty')

    # Zero-size predictions take the previous box; done in frame order so the fill cascades.
    gt_nan_for_pred = np.zeros(len(pred), dtype=bool)
    gt_nan_for_pred[: min(len(pred), len(gt))] = gt_nan[: len(pred)]
    for i in np.nonzero((pred[:, 2:] == 0).any(1) & ~gt_nan_for_pred)[0]:
        if i >= 1:
            pred[i] = pred[i - 1]

    pred = _fix_length(pred, len(gt), dataset, source)
    pred[0] = gt[0]

    with np.errstate(invalid='ignore'):
        valid = (gt[:, 2] > 0) & (gt[:, 3] > 0)
    if target_visible is not None:
        target_visible = np.asarray(target_visible, dtype=bool).reshape(-1)
        if len(target_visible) != len(gt):
            raise ValueError(
                f'{gt_source}: target_visible has {len(target_visible)} entries for '
                f'{len(gt)} ground-truth frames'
            )
        valid &= target_visible

    with np.errstate(invalid='ignore', divide='ignore'):
        diff = _centers(pred) - _centers(gt)
        center = np.sqrt((diff**2).sum(1))
        diff_norm = _centers(pred) / gt[:, 2:] - _centers(gt) / gt[:, 2:]
        center_norm = np.sqrt((diff_norm**2).sum(1))
        overlap = box_iou_xywh(pred, gt)

    center[~valid] = -1.0 if dataset == 'uav' else np.inf
    center_norm[~valid] = -1.0
    overlap[~valid] = -1.0
    if dataset == 'lasot' and target_visible is not None:
        center[~target_visible] = np.inf
        center_norm[~target_visible] = np.inf
    if np.isnan(overlap).any():
        raise ValueError(f'{source}: IoU is NaN on line(s) {_rows(np.isnan(overlap))}')
    return SequenceErrors(overlap, center, center_norm, valid)


class SequenceCurves(NamedTuple):
    success: np.ndarray  # (21,) over OVERLAP_THRESHOLDS
    precision: np.ndarray  # (51,) over CENTER_THRESHOLDS
    norm_precision: np.ndarray  # (51,) over NORM_CENTER_THRESHOLDS
    avg_overlap: float  # mean IoU over valid frames


def sequence_curves(errors, exclude_invalid_frames=False, seq_name='sequence'):
    """Success and precision curves of one sequence (fractions in [0, 1])."""
    overlap, center, center_norm, valid = errors
    if exclude_invalid_frames:
        overlap, center, center_norm = overlap[valid], center[valid], center_norm[valid]
    n = len(overlap)
    if n == 0:
        raise ValueError(
            f"sequence '{seq_name}': no valid ground-truth frame to score "
            f'(all frames have zero-size GT or an invisible target)'
        )
    success = (overlap[:, None] > OVERLAP_THRESHOLDS[None]).sum(0) / n
    precision = (center[:, None] <= CENTER_THRESHOLDS[None]).sum(0) / n
    norm_precision = (center_norm[:, None] <= NORM_CENTER_THRESHOLDS[None]).sum(0) / n
    avg_overlap = float(errors.overlap[errors.valid].mean()) if errors.valid.any() else float('nan')
    return SequenceCurves(success, precision, norm_precision, avg_overlap)


def ope_scores(success, precision, norm_precision):
    """Scores in percent from per-sequence curves of shape (S, ..., K): sequences weighted equally.
    Returns {name: array of shape (...)} (scalars for (S, K) input)."""
    success_curve = np.asarray(success).mean(0) * 100.0
    prec_curve = np.asarray(precision).mean(0) * 100.0
    norm_curve = np.asarray(norm_precision).mean(0) * 100.0
    return {
        'AUC': success_curve.mean(-1),
        'OP50': success_curve[..., OP50_INDEX],
        'OP75': success_curve[..., OP75_INDEX],
        'Precision': prec_curve[..., PRECISION_INDEX],
        'Norm Precision': norm_curve[..., PRECISION_INDEX],
    }


# ----------------------------------------------------------------------------------------------- GOT-10k
def _bound_like_got10k_toolkit(boxes, width, height):
    """The toolkit's clipping: x into [0, W], then w into [0, W - x] (a box sticking out on the left
    keeps its width and moves right; kept as is so numbers match)."""
    boxes = boxes.copy()
    boxes[:, 0] = np.clip(boxes[:, 0], 0, width)
    boxes[:, 1] = np.clip(boxes[:, 1], 0, height)
    boxes[:, 2] = np.clip(boxes[:, 2], 0, width - boxes[:, 0])
    boxes[:, 3] = np.clip(boxes[:, 3], 0, height - boxes[:, 1])
    return boxes


def got10k_frame_ious(pred, gt, visible=None, image_size=None, source='predictions'):
    """IoUs the GOT-10k toolkit scores for one run of one sequence: frames 1.. (the initialization frame
    is left out), boxes clipped to the image (width, height) when known, IoU = inter / (union + eps)
    clipped to [0, 1], then only frames where the target is visible (cover > 0)."""
    pred = check_predictions(pred, source)
    gt = np.asarray(gt, dtype=np.float64).reshape(-1, 4)
    if pred.shape != gt.shape:
        raise ValueError(
            f'{source}: {len(pred)} predicted boxes but the ground truth has {len(gt)} frames '
            f'(GOT-10k scoring needs one box per frame)'
        )
    pred, gt = pred[1:], gt[1:]
    if image_size is not None:
        pred = _bound_like_got10k_toolkit(pred, *image_size)
        gt = _bound_like_got10k_toolkit(gt, *image_size)
    ious = box_iou_xyxy(box_xywh_to_xyxy(pred), box_xywh_to_xyxy(gt), eps=np.finfo(float).eps)[0]
    ious = np.clip(ious, 0.0, 1.0)
    if visible is not None:
        ious = ious[np.asarray(visible, dtype=bool).reshape(-1)[1:]]
    return ious


def got10k_counts(ious):
    """Sufficient statistics of one sequence: [frames, sum of IoU, frames IoU > 0.5, frames IoU > 0.75]."""
    ious = np.asarray(ious, dtype=np.float64)
    return np.array([len(ious), ious.sum(), (ious > 0.5).sum(), (ious > 0.75).sum()], dtype=np.float64)


def got10k_scores(counts):
    """AO, SR0.5, SR0.75 in percent from per-sequence counts (S, ..., 4). Like the toolkit, the IoUs of
    all sequences (and runs) are pooled, so a sequence weighs by its number of scored frames."""
    total = np.asarray(counts, dtype=np.float64).sum(0)
    n = total[..., 0]
    with np.errstate(invalid='ignore', divide='ignore'):
        return {
            'AO': total[..., 1] / n * 100.0,
            'SR0.5': total[..., 2] / n * 100.0,
            'SR0.75': total[..., 3] / n * 100.0,
        }
