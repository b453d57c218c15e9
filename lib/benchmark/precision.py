"""Half precision against fp32 on a trained checkpoint: the issue's tolerance (IoU >= 0.99 with the fp32
boxes on >= 99 % of frames) measured where it means something, on real weights and real sequences.

    measure_half_precision('ostrack', 'tiny_ce', 'output/quickstart/.../OSTrack_ep0045.pth.tar',
                           dataset='synthetic', device='cpu')
    -> [{'name': 'half_agreement.ostrack.tiny_ce.bf16', 'value': 92.2, 'unit': '% of frames IoU>=0.99',
         'path': 'bf16', ...}, ...]

Each precision runs the fast path (InferenceOptions(precision=p)) beside the fast fp32 path on the same
checkpoint. Both trackers are moved to the ground-truth box before every frame (the last visible one
while the target is out of view), so each frame compares one per-frame step from the same search region:
free-running trajectories part for good after the first differing frame, which measures chaos rather
than numerics. The random-weight tests (tests/test_inference_paths.py) cannot judge bf16 with candidate
elimination: an untrained network ranks tokens by noise.
"""

import warnings

import numpy as np

METRIC = 'half_agreement'
PRECISIONS = ('bf16', 'fp16')


def _visible(seq):
    """(N,) bool: the ground-truth box is finite with a positive size (and the target marked visible)."""
    gt = np.asarray(seq.ground_truth_rect, dtype=np.float64)
    visible = np.isfinite(gt).all(1) & (gt[:, 2] > 0) & (gt[:, 3] > 0)
    if seq.target_visible is not None:
        visible &= seq.target_visible
    return visible


def ground_truth_positions(seq):
    """One xywh box per frame: the ground truth, or while the target is not visible the last box where it
    was (the first box when it never was)."""
    gt = np.asarray(seq.ground_truth_rect, dtype=np.float64)
    if len(gt) != len(seq.frames):
        raise ValueError(
            f"sequence '{seq.name}' has ground truth for {len(gt)} of {len(seq.frames)} frames; "
            f"half-precision agreement needs a dataset with a box on every frame"
        )
    positions, last = [], gt[0]
    for box, visible in zip(gt, _visible(seq)):
        last = box if visible else last
        positions.append([float(v) for v in last])
    return positions


def measure_half_precision(
    script,
    config,
    checkpoint,
    dataset='synthetic',
    device='cpu',
    precisions=PRECISIONS,
    max_sequences=None,
    print_fn=None,
):
    """Rows (one per precision) of the percentage of frames whose box has IoU >= 0.99 with the fp32 box."""
    from lib.benchmark.agreement import track_boxes
    from lib.test.evaluation.datasets import get_dataset
    from lib.test.tracker import build_tracker
    from lib.test.tracker.options import InferenceOptions
    from lib.utils.box_ops import box_iou_xywh

    unknown = sorted(set(precisions) - {'fp32', 'bf16', 'fp16'})
    if unknown:
        raise ValueError(
            f'half-precision agreement: unknown precision(s) {unknown}; expected bf16, fp16 or fp32'
        )
    sequences = get_dataset(dataset)
    if max_sequences:
        sequences = sequences[: int(max_sequences)]
    if len(sequences) == 0:
        raise ValueError(f"half-precision agreement: dataset '{dataset}' has no sequences")
    with warnings.catch_warnings():  # the bf16-with-CE advice: measuring that is this function's point
        warnings.filterwarnings('ignore', message='bf16 autocast with candidate elimination')
        trackers = {
            p: build_tracker(
                script, config, checkpoint=checkpoint, device=device, options=InferenceOptions(precision=p)
            )
            for p in ('fp32',) + tuple(precisions)
        }
    ious = {p: [] for p in precisions}
    identical = dict.fromkeys(precisions, 0)
    visible = []
    for seq in sequences:
        frames = [seq.read_frame(i) for i in range(len(seq))]
        positions = ground_truth_positions(seq)
        boxes = {p: track_boxes(t, frames, positions[0], positions) for p, t in trackers.items()}
        for p in precisions:  # frame 0 is the given box in every path
            same = (boxes[p][1:] == boxes['fp32'][1:]).all(1)
            identical[p] += int(same.sum())
            ious[p].append(np.where(same, 1.0, box_iou_xywh(boxes[p][1:], boxes['fp32'][1:])))
        visible.append(_visible(seq)[1:])
        if print_fn:
            print_fn(f'half-precision agreement: {seq.name} ({len(seq)} frames)')
    visible = np.concatenate(visible)
    rows = []
    for p in precisions:
        iou = np.concatenate(ious[p])
        good = iou >= 0.99
        rows.append(
            {
                'name': f'{METRIC}.{script}.{config}.{p}',
                'value': 100.0 * float(good.mean()),
                'unit': '% of frames IoU>=0.99',
                'path': p,
                'ratio_to_plain': None,
                'notes': (
                    f"{p} vs fp32 (fast paths) on checkpoint {checkpoint}, dataset {dataset}: "
                    f"{len(sequences)} sequences, {len(iou)} frames ({int(identical[p])} bit-identical), "
                    f"each from the "
                    f"ground-truth position; min IoU "
                    f"{iou.min():.4f}, {int((iou < 0.5).sum())} frames below 0.5; target visible: "
                    f"{100.0 * float(good[visible].mean()) if visible.any() else float('nan'):.1f}% of "
                    f"{int(visible.sum())} frames"
                ),
            }
        )
    return rows
