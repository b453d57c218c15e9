"""Tracking speed: per-frame FPS at batch 1 (the full step: crop, network, decode, the box back on the
host) and batched-evaluation throughput, for the plain reference path and the optimised paths.

The network has random weights (nothing is read from disk), so the numbers measure speed only. The
frames are a synthetic video rendered once at the benchmark's frame size and held in memory, so disk
reading is not timed; the target leaves the frame, so padded crops are timed too. Box agreement with
the plain path is measured per frame on the same network weights (lib.benchmark.agreement: both
paths are moved to the ground-truth box before each frame), because a random network does not follow
the target and free-running trajectories amplify any rounding difference chaotically.

Each path's row also says how hard it drives the arithmetic: the network's FLOPs a frame
(FlopCounterMode) times the FPS, against the rate of one large square matmul on the same device and
dtype. When a path already runs near that rate, no kernel change can make it much faster; when it
runs far below it, the time goes to launches, host work and transfers instead.
"""

import copy
import time

import torch

from lib.test.tracker.options import InferenceOptions

FPS_METRIC = 'tracker_fps'
BATCHED_METRIC = 'batched_fps'


def tracker_paths(device, quick=False):
    """{path name: InferenceOptions}: the plain reference first, then the optimised paths worth timing
    on this device (compilation is left out of quick runs: it takes minutes on a CPU)."""
    plain = InferenceOptions.plain()
    paths = {'plain': plain, 'fast_fp32': InferenceOptions(precision='fp32')}
    if torch.device(device).type == 'cuda':
        paths['fast_bf16'] = InferenceOptions(precision='bf16')
        paths['fast_fp32_cudagraph'] = InferenceOptions(precision='fp32', compile='cudagraph')
        paths['fast_bf16_cudagraph'] = InferenceOptions(precision='bf16', compile='cudagraph')
    elif not quick:
        paths['fast_fp32_compile'] = InferenceOptions(precision='fp32', compile='compile')
    return paths


def _dtype_of(options, device):
    """The dtype a path's backbone products run in (autocast's, or fp32)."""
    from lib.test.tracker.step import DTYPES

    return DTYPES[options.resolved_precision(False, torch.device(device).type)] or torch.float32


def matmul_size(device, quick=False):
    """The side of the yardstick matmul: large enough to reach the device's rate on large products
    (2048 on a CPU, 8192 on a GPU), 1024 in quick runs."""
    return 1024 if quick else (8192 if torch.device(device).type == 'cuda' else 2048)


def matmul_gflops(device, dtype, n, repeats=5):
    """GFLOP/s of an n x n by n x n matmul on `device` in `dtype`."""
    generator = torch.Generator().manual_seed(0)
    a, b = (torch.randn(n, n, generator=generator).to(device=device, dtype=dtype) for _ in range(2))
    for _ in range(2):
        a @ b
    _synchronize(device)
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    _synchronize(device)
    return 2 * n**3 * repeats / (time.perf_counter() - start) / 1e9


def network_gflop(script, cfg, network):
    """GFLOP of one batch-1 forward of `network` (on the CPU) on the family's profiling inputs at the
    config's test crop sizes, counted by FlopCounterMode (matmuls, convolutions and attention products);
    None for a family without profile_inputs."""
    from lib.families import get_family
    from lib.utils.profiling import exact_flops

    family = get_family(script)
    if family.profile_inputs is None:
        return None
    return exact_flops(network, family.profile_inputs(cfg, batch=1)) / 1e9


def _num(value):
    return f'{value:.3g}' if value < 100 else f'{value:.0f}'


def compute_note(fps, gflop, rate, dtype, n):
    """The row's arithmetic rate against the matmul's, in words, and the same figures for the JSON."""
    achieved = fps * gflop
    fields = {
        'network_gflop': gflop,
        'network_gflops': achieved,
        'matmul_gflops': rate,
        'matmul_dtype': str(dtype).replace('torch.', ''),
    }
    note = (
        f"network {_num(gflop)} GFLOP a frame, so {_num(achieved)} GFLOP/s: {100 * achieved / rate:.0f}% "
        f"of a {n}x{n} {fields['matmul_dtype']} matmul's {_num(rate)} GFLOP/s"
    )
    return note, fields


def _synchronize(device):
    if torch.device(device).type == 'cuda':
        torch.cuda.synchronize(device)


def _video(num_frames, frame_size, seed=3):
    """(frames, init box, whole target boxes) of a synthetic video whose target leaves the frame."""
    from lib.benchmark.agreement import synthetic_sequence

    return synthetic_sequence(seed, num_frames=num_frames, size=tuple(frame_size))


def time_tracker(tracker, frames, init_box, warmup):
    """Seconds per frame of tracker.track over frames[1 + warmup:] (initialize and warm-up untimed)."""
    tracker.initialize(frames[0], {'init_bbox': init_box})
    for frame in frames[1 : 1 + warmup]:
        tracker.track(frame)
    _synchronize(tracker.device)
    timed = frames[1 + warmup :]
    start = time.perf_counter()
    for frame in timed:
        tracker.track(frame)  # returns a host box: every frame ends with one device sync
    _synchronize(tracker.device)
    return (time.perf_counter() - start) / len(timed)


def _agreement_note(script, cfg, options, device, frames, init_box, positions):
    from lib.benchmark.agreement import path_agreement

    half = options.precision in ('bf16', 'fp16')
    reference = options.replace(precision='fp32') if half else InferenceOptions.plain()
    agreement = path_agreement(
        script,
        cfg,
        options,
        reference=reference,
        device=device,
        peaked=half,
        frames=frames[:24],
        init_box=init_box,
        positions=positions[:24],
    )
    versus = 'fast fp32 (peaked score map)' if half else 'plain'
    return (
        f"boxes vs {versus}: {agreement['identical_frames']}/{agreement['frames']} identical, "
        f"min IoU {agreement['min_iou']:.4f}, IoU>=0.99 on {100 * agreement['frac_iou_099']:.0f}%"
    )


def measure_tracker_fps(
    script,
    config,
    device='cpu',
    frames=60,
    warmup=10,
    frame_size=(1280, 720),
    quick=False,
    agreement=True,
    print_fn=None,
):
    """Batch-1 tracker FPS of every path of tracker_paths; ratio_to_plain filled."""
    from lib.benchmark.agreement import build_network
    from lib.test.tracker import build_tracker_for_network

    cfg, network = build_network(script, config)
    video, init_box, positions = _video(frames + warmup + 1, frame_size)
    gflop = network_gflop(script, cfg, network)
    matmul_n = matmul_size(device, quick)
    rates = {}  # dtype -> matmul GFLOP/s, measured once per run
    results = []
    for path, options in tracker_paths(device, quick).items():
        tracker = build_tracker_for_network(
            script, cfg, copy.deepcopy(network), device=device, options=options
        )
        seconds = time_tracker(tracker, video, init_box, warmup)
        row = {
            'name': f'{FPS_METRIC}.{script}.{config}.{path}',
            'value': 1.0 / seconds,
            'unit': 'frames/s',
            'path': path,
            'ratio_to_plain': None,
        }
        note = f'{frames} frames of {frame_size[0]}x{frame_size[1]} after {warmup} warm-up frames'
        if gflop:
            dtype = _dtype_of(options, device)
            if dtype not in rates:
                rates[dtype] = matmul_gflops(device, dtype, matmul_n)
            text, fields = compute_note(row['value'], gflop, rates[dtype], dtype, matmul_n)
            note += '; ' + text
            row.update(fields)
        if agreement and path != 'plain':
            note += '; ' + _agreement_note(script, cfg, options, device, video, init_box, positions)
        results.append(dict(row, notes=note))
        if print_fn:
            print_fn(f"{results[-1]['name']}: {1.0 / seconds:.1f} frames/s")
        del tracker
    plain = results[0]['value']
    for r in results:
        r['ratio_to_plain'] = r['value'] / plain
    return results


class _MemorySequence:
    """A sequence held in memory, in the interface track_sequences reads."""

    def __init__(self, name, frames, init_box):
        self.name, self.frames, self._init_box = name, frames, init_box
        self.ground_truth_rect = None

    def init_info(self):
        return {'init_bbox': list(self._init_box)}

    def read_frame(self, index):
        return self.frames[index]


def measure_batched_fps(
    script,
    config,
    device='cpu',
    batch_sizes=(8, 32),
    sequences=None,
    frames=40,
    frame_size=(1280, 720),
    options=None,
    plain_fps=None,
    print_fn=None,
):
    """Frames/s of track_sequences over `sequences` in-memory videos for each batch size (the same
    video, shifted, per sequence). ratio_to_plain: against `plain_fps` (the plain per-frame path's FPS),
    when given."""
    from lib.benchmark.agreement import build_network
    from lib.test.evaluation.stepping import track_sequences
    from lib.test.tracker import build_tracker_for_network

    options = options or InferenceOptions(precision='bf16' if torch.device(device).type == 'cuda' else 'fp32')
    cfg, network = build_network(script, config)
    video, init_box, _ = _video(frames + 8, frame_size)
    results = []
    for batch_size in batch_sizes:
        count = sequences or 2 * batch_size
        seqs = [_MemorySequence(f'seq{i}', video[i % 8 : i % 8 + frames], init_box) for i in range(count)]
        tracker = build_tracker_for_network(
            script, cfg, copy.deepcopy(network), device=device, options=options
        )
        track_sequences(tracker, seqs[:batch_size], batch_size)  # warm-up (allocations, capture)
        _synchronize(device)
        start = time.perf_counter()
        track_sequences(tracker, seqs, batch_size)
        _synchronize(device)
        rate = count * frames / (time.perf_counter() - start)
        precision = options.resolved_precision(False, torch.device(device).type)
        results.append(
            {
                'name': f'{BATCHED_METRIC}.{script}.{config}.batch{batch_size}',
                'value': rate,
                'unit': 'frames/s',
                'path': f'batch{batch_size}',
                'ratio_to_plain': rate / plain_fps if plain_fps else None,
                'notes': f'{count} sequences x {frames} frames of {frame_size[0]}x{frame_size[1]}, '
                f'{batch_size} at a time, {precision}, compile={options.compile}',
            }
        )
        if print_fn:
            print_fn(f"{results[-1]['name']}: {rate:.1f} frames/s")
        del tracker
    return results
