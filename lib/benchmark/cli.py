"""tracking/benchmark.py: plain vs optimised paths for tracking, batched evaluation, training and data
loading, in one run on one machine; writes docs/benchmarks.md and optionally a JSON file."""

import argparse
import sys

PARTS = ('tracking', 'batched', 'training', 'data')
OPTIONAL_PARTS = ('precision',)  # needs a trained --checkpoint; run only when asked for


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument(
        '--script',
        default=None,
        help='tracker family (default: every family that declares benchmark configs)',
    )
    p.add_argument('--config', default=None, help='yaml name in experiments/<script>/ (needs --script)')
    p.add_argument('--device', default=None, help="'cpu' or 'cuda' (default: cuda when available)")
    p.add_argument('--json', default=None, metavar='PATH', help='also write the figures as JSON')
    p.add_argument(
        '--doc',
        default='docs/benchmarks.md',
        metavar='PATH',
        help="markdown report (default docs/benchmarks.md; '' for none)",
    )
    p.add_argument(
        '--quick',
        action='store_true',
        help='CI-sized run: tiny configs unless given, few frames/steps, small frames, no compile',
    )
    p.add_argument(
        '--parts',
        default=','.join(PARTS),
        help=f'comma-separated subset of {",".join(PARTS + OPTIONAL_PARTS)} (default: all but '
        f'precision, which measures bf16/fp16 against fp32 on a trained --checkpoint)',
    )
    p.add_argument(
        '--checkpoint', default=None, help='trained weights of --script/--config for --parts precision'
    )
    p.add_argument(
        '--dataset', default='synthetic', help='test dataset for --parts precision (default synthetic)'
    )
    p.add_argument(
        '--sequences', type=int, default=None, help='--parts precision: only the first N sequences'
    )
    p.add_argument(
        '--precisions',
        default='bf16,fp16',
        help='--parts precision: the half precisions set against fp32 (default bf16,fp16)',
    )
    p.add_argument('--frames', type=int, default=None, help='timed frames per tracker path')
    p.add_argument('--batch_sequences', default=None, help='batch sizes for the batched part, e.g. 8,32')
    p.add_argument(
        '--train_compile',
        action='store_true',
        help='also time training with torch.compile (compilation takes minutes)',
    )
    p.add_argument('--train_batch', type=int, default=None, help='training batch size (default: the config)')
    args = p.parse_args(argv)
    if args.config and not args.script:
        p.error('--config needs --script')
    args.parts = [x.strip() for x in args.parts.split(',') if x.strip()]
    unknown = sorted(set(args.parts) - set(PARTS + OPTIONAL_PARTS))
    if unknown:
        p.error(f'--parts: unknown {unknown}; expected a subset of {list(PARTS + OPTIONAL_PARTS)}')
    if 'precision' in args.parts and not (args.checkpoint and args.script and args.config):
        p.error('--parts precision needs --script, --config and the --checkpoint trained with them')
    args.precisions = tuple(v.strip() for v in args.precisions.split(',') if v.strip())
    bad = sorted(set(args.precisions) - {'bf16', 'fp16'})
    if bad or not args.precisions:
        p.error(
            f'--precisions: expected bf16 and/or fp16 (comma-separated), got {",".join(bad) or "nothing"}'
        )
    return args


def default_models(quick: bool) -> dict[str, str]:
    """{family: config} of the families that declare benchmark configs (the tiny ones with quick)."""
    from lib.families import family_names, get_family

    configs = {name: get_family(name).benchmark_configs for name in family_names()}
    return {name: pair[1 if quick else 0] for name, pair in configs.items() if pair}


def models(args):
    default = default_models(args.quick)
    if args.script:
        if not args.config and args.script not in default:
            raise SystemExit(f'benchmark: give --config for --script {args.script}')
        return [(args.script, args.config or default[args.script])]
    return list(default.items())


def _arithmetic_needed(row, fps, what):
    """What `fps` would ask of the arithmetic, from the row's FLOP figures (lib.benchmark.tracking):
    the network alone at fps x GFLOP a frame, against the device's large-matmul rate in that dtype."""
    if not row.get('network_gflop'):
        return ''
    needed = fps * row['network_gflop']
    return (
        f"; {what} needs the network alone at {needed:.0f} GFLOP/s, "
        f"{100 * needed / row['matmul_gflops']:.0f}% "
        f"of this device's large {row['matmul_dtype']} matmul ({row['matmul_gflops']:.0f} GFLOP/s); "
        f"{row['path']} runs it at {100 * row['network_gflops'] / row['matmul_gflops']:.0f}%"
    )


def findings(results, device_type):
    """One line per target of the issue that this run measured: met or not, with the figures."""
    lines = []
    by_name = {r['name']: r for r in results}
    fps = [r for r in results if r['name'].startswith('tracker_fps.') and r['path'] != 'plain']
    for model in sorted({'.'.join(r['name'].split('.')[1:3]) for r in fps}):
        rows = [r for r in fps if '.'.join(r['name'].split('.')[1:3]) == model]
        fp32 = [r for r in rows if 'bf16' not in r['path'] and 'fp16' not in r['path']]
        best = max(fp32 or rows, key=lambda r: r['value'])
        if device_type == 'cuda':
            top = max(rows, key=lambda r: r['value'])
            ok = top['value'] >= 1000 and top['ratio_to_plain'] >= 3
            lines.append(
                f"{model} tracker on GPU: best {top['path']} {top['value']:.0f} FPS, "
                f"{top['ratio_to_plain']:.2f}x plain (target >= 1000 FPS and >= 3x): "
                f"{'met' if ok else 'NOT met'}" + _arithmetic_needed(top, 1000, '1000 FPS')
            )
        else:
            ok = best['ratio_to_plain'] >= 1.5
            target_fps = 1.5 * best['value'] / best['ratio_to_plain']
            lines.append(
                f"{model} tracker on CPU: best fp32 path {best['path']} {best['value']:.1f} FPS, "
                f"{best['ratio_to_plain']:.2f}x plain (target >= 1.5x): {'met' if ok else 'NOT met'}"
                + _arithmetic_needed(best, target_fps, '1.5x plain')
            )
    for name, r in by_name.items():
        if name.startswith('train_samples_per_s.') and r['path'] != 'plain' and device_type == 'cuda':
            lines.append(
                f"{name}: {r['ratio_to_plain']:.2f}x plain (target >= 1.5x on GPU): "
                f"{'met' if r['ratio_to_plain'] >= 1.5 else 'NOT met'}"
            )
        if name.startswith('half_agreement.'):
            lines.append(
                f"{name}: IoU >= 0.99 with the fp32 boxes on {r['value']:.2f}% of frames (target >= 99%): "
                f"{'met' if r['value'] >= 99 else 'NOT met'}"
            )
        if name.startswith('loader_samples_per_s_per_worker.') and r['path'] != 'plain':
            lines.append(
                f"{name}: {r['ratio_to_plain']:.2f}x plain per worker (target >= 2x): "
                f"{'met' if r['ratio_to_plain'] >= 2 else 'NOT met'}"
            )
    return lines


def run(args, print_fn=print):
    import torch

    from lib.benchmark import report

    device = args.device or ('cuda' if torch.cuda.is_available() else 'cpu')
    if torch.device(device).type == 'cuda' and not torch.cuda.is_available():
        raise SystemExit(f"benchmark: --device {device} but this torch build sees no CUDA device")
    quick = args.quick
    frame_size = (320, 240) if quick else (1280, 720)
    frames = args.frames or (6 if quick else 60)
    batch_sizes = (
        [int(v) for v in args.batch_sequences.split(',')]
        if args.batch_sequences
        else ([2] if quick else [8, 32])
    )
    results = []
    for script, config in models(args):
        plain_fps = None
        if 'tracking' in args.parts:
            from lib.benchmark.tracking import measure_tracker_fps

            rows = measure_tracker_fps(
                script,
                config,
                device=device,
                frames=frames,
                warmup=2 if quick else 10,
                frame_size=frame_size,
                quick=quick,
                print_fn=print_fn,
            )
            plain_fps = rows[0]['value']
            results += rows
        if 'batched' in args.parts:
            from lib.benchmark.tracking import measure_batched_fps

            results += measure_batched_fps(
                script,
                config,
                device=device,
                batch_sizes=batch_sizes,
                frames=frames,
                frame_size=frame_size,
                plain_fps=plain_fps,
                print_fn=print_fn,
            )
        if 'training' in args.parts:
            from lib.benchmark.training import measure_training_paths

            paths = (
                ('plain', 'optimized', 'optimized_compile') if args.train_compile else ('plain', 'optimized')
            )
            rows = measure_training_paths(
                script,
                config,
                device=device,
                paths=paths,
                batch_size=args.train_batch or (2 if quick else None),
                steps=2 if quick else 10,
                warmup=1 if quick else 3,
            )
            results += rows
            for r in rows:
                print_fn(f"{r['name']}: {r['value']:.1f} samples/s")
        if 'precision' in args.parts:
            from lib.benchmark.precision import measure_half_precision

            rows = measure_half_precision(
                script,
                config,
                args.checkpoint,
                dataset=args.dataset,
                device=device,
                precisions=args.precisions,
                max_sequences=args.sequences,
                print_fn=print_fn,
            )
            results += rows
            for r in rows:
                print_fn(f"{r['name']}: {r['value']:.1f} {r['unit']}")
        if 'data' in args.parts:
            from lib.benchmark.data import measure_loader

            rows = measure_loader(script, config, path='both', quick=quick)
            results += rows
            for r in rows:
                print_fn(f"{r['name']}: {r['value']:.1f} samples/s")
    for r in results:  # every area reports its plain figure as the 1.0 reference
        if r['path'] == 'plain' and r['ratio_to_plain'] is None:
            r['ratio_to_plain'] = 1.0
    meta = report.environment(device)
    found = findings(results, torch.device(device).type)
    command = 'python tracking/benchmark.py ' + ' '.join(args.argv)
    written = report.write_outputs(results, meta, command.strip(), args.doc or None, args.json, found)
    for line in found:
        print_fn(line)
    for path in written:
        print_fn(f'wrote {path}')
    return results


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    args.argv = list(argv)
    try:
        run(args)
    except (ValueError, FileNotFoundError) as e:
        print(f'benchmark: {e}', file=sys.stderr)
        return 1
    return 0
