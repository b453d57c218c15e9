"""How closely an inference path reproduces the reference path's boxes (tests, benchmarks, GPU checks).

    from lib.benchmark.agreement import report_agreement
    report_agreement('ostrack', 'tiny_ce', device='cuda')        # every path vs InferenceOptions.plain()

Networks have random weights (fixed seed); frames come from lib.utils.synthetic with a target that
leaves the frame, so crops get padded. Hooks on the head keep the random boxes about target-sized, and
`peaked=True` adds a fixed bump to the score map (see `add_stand_in_hooks`), which makes the argmax
cell stable under reduced precision: with random weights the map is nearly flat and half-precision
noise would flip it between cells, which says nothing about the numerics of the regressed box.
"""

import copy

import numpy as np
import torch

from lib.utils.box_ops import box_iou_xywh

SEARCH_PEAK = 0.8  # OSTrack: added to 0.2 x the (0..1) score map at the peak cell
LOGIT_PEAK = 8.0  # LoRAT: added to 0.1 x the logits at the peak cell
BOX_SHRINK = 0.25  # LoRAT: the boxes scaled around their cell centre (see add_stand_in_hooks)
OSTRACK_SIZE_SCALE = 0.5  # OSTrack: the size map scaled (see add_stand_in_hooks)
RANDOM_LAYER_SCALE = 0.5  # LayerScale gamma of random DINOv2 blocks (see build_network)


def synthetic_sequence(seed=3, num_frames=30, size=(160, 120)):
    """(frames, init_box xywh, the target's whole boxes (N, 4), also where it is outside the image): a
    synthetic sequence whose target leaves the image."""
    from lib.utils.synthetic import render_sequence

    seq = render_sequence(seed, num_frames=num_frames, size=size, out_of_view=True)
    return seq.frames(), [float(v) for v in seq.full_boxes[0]], seq.full_boxes


def build_network(script, config_name, seed=0, peaked=False):
    """(cfg, network): the config's inference network with seeded random weights, eval mode, with the
    stand-in hooks of add_stand_in_hooks (target-sized boxes; a peaked score map when `peaked`).
    config_name: a config of experiments/<script>/, or a merged config (CfgNode) itself."""
    from lib.config import load_config
    from lib.models import build_model_from_cfg
    from lib.models.lorat.builder import set_layer_scale_

    cfg = load_config(script, config_name) if isinstance(config_name, str) else copy.deepcopy(config_name)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        network = build_model_from_cfg(script, cfg, training=False).eval()
    # a random DINOv2 starts at LAYER_SCALE_INIT (1e-5 by default), where the blocks barely touch the
    # residual stream and attention or precision changes would go unseen
    set_layer_scale_(network, RANDOM_LAYER_SCALE)
    return cfg, add_stand_in_hooks(network, peaked)


def add_stand_in_hooks(network, peaked=False):
    """Forward hooks on the head that make a random network behave like a tracker's stand-in: boxes of
    about the target's size (a random head regresses about half (OSTrack) or all (LoRAT) of the search
    crop, i.e. 2-4x the target, so free-running boxes would grow to the whole frame, where clipping
    hides every difference) and, with `peaked`, a fixed bump at one cell of the score map, a stand-in
    for a trained model's confident peak, at (H // 2, W // 2), which the Hann window also favours."""
    bumps = {}  # made on the first (eager / warm-up) call: a CUDA graph capture cannot upload

    def bump(score_map):
        key = (tuple(score_map.shape[-2:]), score_map.device, score_map.dtype)
        if key not in bumps:
            h, w = key[0]
            peak = torch.zeros(h * w, dtype=score_map.dtype)
            peak[(h // 2) * w + w // 2] = 1.0
            bumps[key] = peak.view(h, w).to(score_map.device)
        return bumps[key]

    def ostrack_hook(module, args, output):
        score_map, bbox, size_map, offset_map = output
        if peaked:
            score_map = 0.2 * score_map + SEARCH_PEAK * bump(score_map)
        return score_map, bbox, OSTRACK_SIZE_SCALE * size_map, offset_map

    def lorat_hook(module, args, output):
        out = dict(output)
        if peaked:
            out['score_map'] = 0.1 * out['score_map'] + LOGIT_PEAK * bump(out['score_map'])
        centres = module.bbox_offset.repeat(1, 1, 2).to(out['boxes'].dtype)
        out['boxes'] = centres + BOX_SHRINK * (out['boxes'] - centres)
        return out

    if hasattr(network, 'box_head'):
        network.box_head.register_forward_hook(ostrack_hook)
    else:
        network.head.register_forward_hook(lorat_hook)
    return network


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
