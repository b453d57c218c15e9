"""Command line of tracking/test.py (the lineage's arguments): main(argv) -> exit code.

    python tracking/test.py ostrack vitb_256_mae_ce_32x4_ep300 --dataset lasot --threads 16 --num_gpus 4
    python tracking/test.py lorat base_224 --dataset lasot --batch_sequences 32 --precision bf16

Exit codes: 0 all sequences done, 1 some sequences failed (listed), 2 bad arguments/configuration.
"""

import argparse
import importlib
import os
import sys

from lib.test.tracker.options import COMPILE, PRECISION

DEFAULT_DATASET = 'lasot'


class UsageError(Exception):
    """A user error found before tracking starts; main() prints it without a traceback."""


def build_parser():
    parser = argparse.ArgumentParser(prog='tracking/test.py', description='Run a tracker on a test dataset.')
    from lib.families import family_names

    parser.add_argument('tracker_name', help=f'tracker script: {", ".join(family_names())}')
    parser.add_argument('tracker_param', help='config name (experiments/<tracker>/<name>.yaml)')
    parser.add_argument(
        '--dataset',
        '--dataset_name',
        dest='dataset_name',
        default=DEFAULT_DATASET,
        help=f'test dataset name (default {DEFAULT_DATASET})',
    )
    parser.add_argument('--sequence', default=None, help='only this sequence (name or integer index)')
    parser.add_argument('--runid', type=int, default=None, help='run id, results go to <param>_<runid:03d>')
    parser.add_argument('--debug', type=int, default=0, help='debug level (visualisation; errors propagate)')
    parser.add_argument('--threads', type=int, default=0, help='worker processes (0: run in this process)')
    parser.add_argument('--num_gpus', type=int, default=8, help='GPUs to spread worker processes over')
    parser.add_argument(
        '--checkpoint', default=None, help="weights file (default: the config's checkpoint path)"
    )
    parser.add_argument(
        '--results_path',
        default=None,
        help='results root (default: results_path of lib/test/evaluation/local.py)',
    )
    speed = parser.add_argument_group(
        'inference speed',
        'fp32 paths give the plain boxes, bf16/fp16 approximate them; see lib/test/tracker/options.py',
    )
    speed.add_argument(
        '--batch_sequences',
        type=int,
        default=1,
        help='track this many sequences together, one network forward per step (default 1)',
    )
    speed.add_argument(
        '--precision',
        choices=PRECISION,
        default=None,
        help="autocast precision of the network (default: fp32; LoRAT: fp16 on CUDA when "
        "TEST.AMP, as the official evaluation)",
    )
    speed.add_argument(
        '--compile',
        choices=COMPILE,
        default='off',
        help='torch.compile or CUDA-graph capture of the per-frame network step (default off)',
    )
    speed.add_argument(
        '--reference',
        action='store_true',
        help='the plain reference path: fp32, explicit attention, numpy/cv2 crops, no '
        'template cache, eager (the official computation)',
    )
    return parser


def inference_options(args):
    """InferenceOptions from the speed flags (UsageError for contradictions)."""
    from lib.test.tracker.options import InferenceOptions

    if args.reference:
        if args.precision not in (None, 'fp32') or args.compile != 'off':
            raise UsageError(
                '--reference is the plain fp32 eager path: do not combine it with '
                '--precision bf16/fp16 or --compile'
            )
        return InferenceOptions.plain()
    if args.compile == 'cudagraph':
        import torch

        if not torch.cuda.is_available():
            raise UsageError(
                '--compile cudagraph needs a CUDA GPU (none is available); use --compile compile'
            )
    return InferenceOptions(precision=args.precision, compile=args.compile)


def _user_error_message(exc):
    return exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)


def load_dataset(name, sequence=None):
    """SequenceList of dataset `name`, optionally reduced to one sequence (name or index)."""
    try:
        datasets = importlib.import_module('lib.test.evaluation.datasets')
    except ModuleNotFoundError as e:
        if e.name != 'lib.test.evaluation.datasets':
            raise
        raise UsageError('lib/test/evaluation/datasets.py is not present in this checkout') from None
    available = getattr(datasets, 'available_datasets', None)
    is_name = getattr(datasets, 'is_dataset_name', None) or (lambda n: n in available())
    if available is not None and not is_name(name):
        raise UsageError(f"unknown dataset '{name}' (available: {', '.join(available())})")
    dataset = datasets.get_dataset(name)
    if sequence is None:
        return dataset
    try:
        index = int(sequence)
    except ValueError:
        return type(dataset)([dataset[sequence]])
    if not -len(dataset) <= index < len(dataset):
        raise UsageError(f'--sequence {index} is out of range: dataset {name} has {len(dataset)} sequences')
    return type(dataset)([dataset[index]])


def prepare(args):
    """Validates everything that can be checked before tracking; returns (dataset, tracker)."""
    from lib.test.evaluation.tracker import Tracker
    from lib.test.tracker import check_tracker, tracker_has_network

    if args.threads < 0 or args.num_gpus < 0:
        raise UsageError('--threads and --num_gpus must be >= 0')
    if args.batch_sequences < 1:
        raise UsageError('--batch_sequences must be >= 1')
    if args.batch_sequences > 1 and args.threads:
        raise UsageError('--batch_sequences runs the batch in this process: use it without --threads')
    check_tracker(args.tracker_name, args.tracker_param)
    if args.batch_sequences > 1 and not tracker_has_network(args.tracker_name):
        raise UsageError(f'--batch_sequences needs a tracker with a network; {args.tracker_name} has none')
    options = inference_options(args)
    if args.checkpoint is not None and not os.path.isfile(args.checkpoint):
        raise UsageError(f'--checkpoint {args.checkpoint}: no such file')
    tracker = Tracker(
        args.tracker_name,
        args.tracker_param,
        args.dataset_name,
        args.runid,
        checkpoint=args.checkpoint,
        results_path=args.results_path,
        options=options,
    )
    _ = tracker.results_path  # resolves local.py now, so a missing one is reported before tracking
    dataset = load_dataset(args.dataset_name, args.sequence)
    return dataset, tracker


def main(argv=None):
    from lib.test.evaluation.running import run_dataset

    args = build_parser().parse_args(argv)
    try:
        dataset, tracker = prepare(args)
    except (UsageError, ValueError, KeyError, OSError, RuntimeError) as e:
        print(f'error: {_user_error_message(e)}', file=sys.stderr)
        return 2
    summary = run_dataset(
        dataset,
        [tracker],
        debug=args.debug,
        threads=args.threads,
        num_gpus=args.num_gpus,
        batch_sequences=args.batch_sequences,
    )
    if not summary.ok:
        print(f'error: {len(summary.failed)} sequence(s) failed (see the list above)', file=sys.stderr)
        return 1
    print(f'Results in {tracker.results_dir}')
    return 0
