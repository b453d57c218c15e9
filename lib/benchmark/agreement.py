"""How closely an inference path reproduces the reference path's boxes (tests, benchmarks, GPU checks).

    from lib.benchmark.agreement import report_agreement
    report_agreement('ostrack', 'tiny_ce', device='cuda')        # every path vs InferenceOptions.plain()

Networks have random weights (fixed seed); frames come from lib.utils.synthetic with a target that
leaves the frame, so crops get padded. Each family's `stand_in` (Family.stand_in) hooks its head so
that the random boxes stay about target-sized, and with `peaked=True` adds a ScorePeak to the score
map, which makes the argmax cell stable under reduced precision.
"""

import copy

import numpy as np
import torch

from lib.utils.box_ops import box_iou_xywh


def synthetic_sequence(seed=3, num_frames=30, size=(160, 120)):
    """(frames, init_box xywh, the target's whole boxes (N, 4), also where it is outside the image): a
    synthetic sequence whose target leaves the image."""
    from lib.utils.synthetic import render_sequence

    seq = render_sequence(seed, num_frames=num_frames, size=size, out_of_view=True)
    return seq.frames(), [float(v) for v in seq.full_boxes[0]], seq.full_boxes


def build_network(script, config_name, seed=0, peaked=False):
    """(cfg, network): the config's inference network with seeded random weights, eval mode, made a
    tracker's stand-in by its family's `stand_in` (target-sized boxes; a peaked score map when `peaked`).
    config_name: a config of experiments/<script>/, or a merged config (CfgNode) itself."""
    from lib.config import load_config
    from lib.families import get_family
    from lib.models import build_model_from_cfg

    cfg = load_config(script, config_name) if isinstance(config_name, str) else copy.deepcopy(config_name)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        network = build_model_from_cfg(script, cfg, training=False).eval()
    stand_in = get_family(script).stand_in
    return cfg, network if stand_in is None else stand_in(network, peaked)


class ScorePeak:
    """A fixed bump of 1 at cell (H // 2, W // 2) of a score map, which the Hann window also favours: the
    families' stand-ins add it to a random network's nearly flat map, a stand-in for a trained model's
    confident peak, so that reduced-precision noise does not flip the argmax between cells (which says
    nothing about the numerics of the regressed box). Made on the first (eager / warm-up) call: a CUDA
    graph capture cannot upload."""

    def __init__(self):
        self._bumps = {}

    def __call__(self, score_map: torch.Tensor) -> torch.Tensor:
        key = (tuple(score_map.shape[-2:]), score_map.device, score_map.dtype)
        if key not in self._bumps:
            h, w = key[0]
            peak = torch.zeros(h * w, dtype=score_map.dtype)
            peak[(h // 2) * w + w // 2] = 1.0
            self._bumps[key] = peak.view(h, w).to(score_map.device)
        return self._bumps[key]


def track_boxes(tracker, frames, init_box, positions=None):
    """(N, 4) float64 boxes: frame 0 = init_box, then the tracker's output per frame. positions: boxes
    (xywh, one per frame) the tracker is moved to before each frame t >= 2 (positions[t - 1]; frame 1
    starts from init_box), so that paths are compared frame by frame from the same search region."""
    tracker.initialize(frames[0], {'init_bbox': init_box})
    boxes = [init_box]
    for t, frame in enumerate(frames[1:], start=1):
        if positions is not None and t >= 2:
            tracker.set_position(tracker.slot, positions[t - 1])
        boxes.append(tracker.track(frame)['target_bbox'])
    return np.asarray(boxes, dtype=np.float64)


def box_agreement(boxes, reference):
    """Agreement of (N, 4) xywh boxes with the reference, frame 0 (the given box) excluded:
    {'frames', 'identical_frames', 'min_iou', 'frac_iou_099', 'max_abs_diff'}."""
    boxes, reference = np.asarray(boxes)[1:], np.asarray(reference)[1:]
    identical = (boxes == reference).all(axis=1)
    iou = np.where(identical, 1.0, box_iou_xywh(boxes, reference))  # equal empty boxes (clipped away) agree
    return {
        'frames': len(boxes),
        'identical_frames': int(identical.sum()),
        'min_iou': float(iou.min()),
        'frac_iou_099': float((iou >= 0.99).mean()),
        'max_abs_diff': float(np.abs(boxes - reference).max()),
    }


def path_agreement(
    script,
    config_name,
    options,
    reference=None,
    device='cpu',
    peaked=False,
    seed=0,
    frames=None,
    init_box=None,
    positions=None,
):
    """Tracks the same synthetic sequence with `options` and with `reference` (default: plain), each on
    a freshly built random network (same seed); returns box_agreement(options' boxes, reference's).

    positions (e.g. the ground-truth boxes): both trackers are moved there before each frame (see
    track_boxes), so a difference is the per-frame step's alone. A random network does not follow the
    target, so free-running trajectories wander into corners where clipping hides differences, or
    amplify a rounding difference chaotically."""
    from lib.test.tracker.options import InferenceOptions

    if frames is None:
        frames, init_box, positions = synthetic_sequence()
    reference = reference or InferenceOptions.plain()
    return box_agreement(
        *(
            random_tracker_boxes(script, config_name, opts, device, frames, init_box, seed, peaked, positions)
            for opts in (options, reference)
        )
    )


def random_tracker(script, config_name, options, device='cpu', seed=0, peaked=False):
    """A tracker with `options` around build_network(script, config_name, seed, peaked)."""
    from lib.test.tracker import build_tracker_for_network

    cfg, network = build_network(script, config_name, seed=seed, peaked=peaked)
    return build_tracker_for_network(script, cfg, network, device=device, options=options)


def random_tracker_boxes(
    script, config_name, options, device, frames, init_box, seed=0, peaked=False, positions=None
):
    """track_boxes of a freshly built random_tracker."""
    return track_boxes(
        random_tracker(script, config_name, options, device, seed, peaked), frames, init_box, positions
    )


def default_paths(device='cpu'):
    """{name: InferenceOptions} for each optimisation alone and all together (fp32), plus bf16/fp16."""
    from lib.test.tracker.options import InferenceOptions

    plain = InferenceOptions.plain()
    paths = {
        'sdpa': plain.replace(attention='sdpa'),
        'device_preprocess': plain.replace(preprocess='device'),
        'template_cache': plain.replace(template_cache=True),
        'compile': plain.replace(compile='compile'),
        'fast_fp32': InferenceOptions(precision='fp32'),
        'fast_bf16': InferenceOptions(precision='bf16'),
        'fast_fp16': InferenceOptions(precision='fp16'),
    }
    if torch.device(device).type == 'cuda':
        paths['cudagraph'] = plain.replace(compile='cudagraph')
        paths['fast_fp32_cudagraph'] = InferenceOptions(precision='fp32', compile='cudagraph')
        paths['fast_bf16_cudagraph'] = InferenceOptions(precision='bf16', compile='cudagraph')
    return paths


def report_agreement(script, config_name, device='cpu', paths=None):
    """Prints and returns {path: agreement} of every path vs the plain path, frame by frame from the
    ground-truth positions; the half-precision paths are compared with the fast fp32 path on a peaked
    network. Also the free-running fast fp32 path ('fast_fp32_free_running')."""
    from lib.test.tracker.options import InferenceOptions

    frames, init_box, positions = synthetic_sequence()
    report = {}
    paths = dict(paths or default_paths(device))
    for name, opts in paths.items():
        half = opts.precision in ('bf16', 'fp16')
        reference = opts.replace(precision='fp32') if half else None
        report[name] = path_agreement(
            script,
            config_name,
            opts,
            reference=reference,
            device=device,
            peaked=half,
            frames=frames,
            init_box=init_box,
            positions=positions,
        )
        print(f'{script}/{config_name} {device} {name}: {report[name]}', flush=True)
    name = 'fast_fp32_free_running'
    report[name] = path_agreement(
        script,
        config_name,
        InferenceOptions(precision='fp32'),
        device=device,
        frames=frames,
        init_box=init_box,
    )
    print(f'{script}/{config_name} {device} {name}: {report[name]}', flush=True)
    return report
