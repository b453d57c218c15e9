"""tracking/analysis_results.py: score saved results of one or more trackers on a dataset.

The lineage edited the script to choose trackers; here everything is on the command line.
"""

import argparse
import os
import sys
from dataclasses import dataclass, replace

from lib.test.analysis import PLOT_TYPES

# The scoring modules import torch (through lib/utils/box_ops.py); they are imported when needed, so
# --help and argument errors answer at once.

EPILOG = """\
trackers:
  one tracker:    --tracker_name ostrack --tracker_param vitb_256_mae_ce_32x4_ep300
                  [--display_name OSTrack256]
  several:        --tracker ostrack:vitb_256_mae_ce_32x4_ep300:OSTrack256
                  --tracker ostrack:vitb_384_mae_ce_32x4_ep300
                  (NAME:PARAM[:DISPLAY], repeat the option; both forms can be combined)
  --runids 0 1 2  scores the results folders <param>_000, _001, _002 of every tracker and reports their mean,
                  each run and the spread (min / max / std); without it the folder <param> is used.

output: a table on the terminal; eval_data.npz (cache, keyed by result file sizes and mtimes, so new results
are picked up), scores.csv and, with --plot, success/precision/norm_precision plots (PNG and PDF) are
written to <result_plot_path>/<report_name>/. --csv PATH also writes the score table (percent) to PATH.

example:
  python tracking/analysis_results.py --tracker_name ostrack --tracker_param vitb_256_mae_ce_32x4_ep300 \\
      --dataset lasot --runids 0 1 2 --plot --csv lasot.csv
"""


@dataclass
class AnalysisResult:
    summary: object  # pandas DataFrame, one row per tracker (percent)
    per_run: object  # pandas DataFrame, one row per (tracker, run)
    eval_data: object
    report_dir: str
    files: list
    text: str


def parse_tracker_arg(text):
    parts = text.split(':')
    if len(parts) not in (2, 3) or not all(parts[:2]) or (len(parts) == 3 and not parts[2]):
        raise ValueError(f"--tracker {text!r}: expected NAME:PARAM or NAME:PARAM:DISPLAY_NAME")
    return tuple(parts[:2]) + (None, parts[2] if len(parts) == 3 else None)


def expand_runs(trackers, run_ids):
    """Every tracker without its own run id once per run id in run_ids (None: unchanged)."""
    from lib.test.analysis.extract import as_tracker_spec

    specs = [as_tracker_spec(t) for t in trackers]
    if not run_ids:
        return specs
    expanded = []
    for spec in specs:
        expanded += [replace(spec, run_id=int(r)) for r in run_ids] if spec.run_id is None else [spec]
    return expanded


def _resolve_dataset(dataset):
    if isinstance(dataset, str):
        from lib.test.evaluation.datasets import get_dataset

        return dataset, get_dataset(dataset)
    label = dataset[0].dataset if len(dataset) else 'dataset'
    return label, dataset


def analyze(
    trackers,
    dataset,
    report_name=None,
    run_ids=None,
    results_path=None,
    result_plot_path=None,
    exclude_invalid_frames=False,
    skip_missing=False,
    plot=False,
    plot_types=PLOT_TYPES,
    csv_path=None,
    force=False,
    print_fn=print,
):
    """Scores `trackers` (Tracker objects, TrackerSpecs or (name, param, run_id, display_name) tuples) on
    `dataset` (a SequenceList or a name for get_dataset), prints the table, writes CSV/plots.
    Paths default to results_path / result_plot_path of lib/test/evaluation/local.py."""
    from lib.test.analysis.extract import extract_results
    from lib.test.analysis.plots import plot_curves
    from lib.test.analysis.report import format_report, score_tables, write_csv

    dataset_name, sequences = _resolve_dataset(dataset)
    specs = expand_runs(trackers, run_ids)
    if results_path is None or result_plot_path is None:
        from lib.test.evaluation.environment import env_settings

        settings = env_settings()
        results_path = results_path or settings.results_path
        result_plot_path = result_plot_path or settings.result_plot_path
    # a folder name: custom:drones:test -> custom_drones_test (':' is not allowed in Windows paths)
    report_name = report_name or dataset_name.replace(':', '_')
    report_dir = os.path.join(result_plot_path, report_name)
    eval_data = extract_results(
        specs,
        sequences,
        results_path=results_path,
        exclude_invalid_frames=exclude_invalid_frames,
        skip_missing=skip_missing,
        cache_dir=report_dir,
        force=force,
        progress=print_fn is print,
    )
    summary, per_run = score_tables(eval_data)
    text = format_report(
        report_name, summary, per_run, int(eval_data.valid_sequence.sum()), len(eval_data.valid_sequence)
    )
    files = [write_csv(os.path.join(report_dir, 'scores.csv'), summary)]
    if csv_path:
        files.append(write_csv(csv_path, summary))
        if (summary['Runs'] > 1).any():
            stem, ext = os.path.splitext(csv_path)
            files.append(write_csv(f'{stem}_per_run{ext or ".csv"}', per_run))
    if plot:
        files += plot_curves(eval_data, summary, report_dir, plot_types)
    if print_fn is not None:
        print_fn(text)
        print_fn('\nWritten:\n  ' + '\n  '.join(files))
    return AnalysisResult(summary, per_run, eval_data, report_dir, files, text)


def build_parser():
    parser = argparse.ArgumentParser(
        description='Score tracking results (AUC, OP50, OP75, Precision, Norm '
        'Precision; AO/SR0.5/SR0.75 on GOT-10k val).',
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument('--tracker_name', help='tracker script, e.g. ostrack')
    parser.add_argument('--tracker_param', help='config name, e.g. vitb_256_mae_ce_32x4_ep300')
    parser.add_argument('--display_name', help='legend/table name for --tracker_name/--tracker_param')
    parser.add_argument(
        '--tracker',
        action='append',
        default=[],
        metavar='NAME:PARAM[:DISPLAY]',
        help='a tracker to compare; repeat for several',
    )
    parser.add_argument(
        '--dataset',
        '--dataset_name',
        dest='dataset',
        default='lasot',
        help='dataset name as in lib.test.evaluation.datasets (default: lasot)',
    )
    parser.add_argument('--runids', type=int, nargs='+', metavar='N', help='run ids to average, e.g. 0 1 2')
    parser.add_argument('--report_name', help='folder under result_plot_path (default: the dataset name)')
    parser.add_argument('--plot', action='store_true', help='write success/precision plots (PNG and PDF)')
    parser.add_argument('--plot_types', nargs='+', default=list(PLOT_TYPES), choices=PLOT_TYPES)
    parser.add_argument('--csv', metavar='PATH', help='also write the score table (percent) to PATH')
    parser.add_argument(
        '--exclude_invalid_frames',
        action='store_true',
        help='score only frames with a valid, visible GT box, in numerator and denominator '
        '(default: all frames, as the official analysis; its exclude mode still counted '
        'the -1 errors of invalid frames as hits, this one does not)',
    )
    parser.add_argument(
        '--skip_missing',
        action='store_true',
        help='leave out sequences some tracker has no result for (default: error)',
    )
    parser.add_argument(
        '--force', action='store_true', help='recompute even if the cached scores are current'
    )
    parser.add_argument('--results_path', help='results root (default: results_path of local.py)')
    parser.add_argument('--result_plot_path', help='report root (default: result_plot_path of local.py)')
    return parser


def trackers_from_args(args):
    trackers = []
    if args.tracker_name or args.tracker_param:
        if not (args.tracker_name and args.tracker_param):
            raise ValueError('--tracker_name and --tracker_param go together')
        trackers.append((args.tracker_name, args.tracker_param, None, args.display_name))
    trackers += [parse_tracker_arg(t) for t in args.tracker]
    if not trackers:
        raise ValueError(
            'no tracker given: use --tracker_name/--tracker_param or --tracker NAME:PARAM[:DISPLAY]'
        )
    return trackers


def main(argv=None, dataset=None):
    """CLI entry; `dataset` (a SequenceList) replaces --dataset lookup, for tests. Returns the exit code."""
    args = build_parser().parse_args(argv)
    try:
        analyze(
            trackers_from_args(args),
            dataset if dataset is not None else args.dataset,
            report_name=args.report_name,
            run_ids=args.runids,
            results_path=args.results_path,
            result_plot_path=args.result_plot_path,
            exclude_invalid_frames=args.exclude_invalid_frames,
            skip_missing=args.skip_missing,
            plot=args.plot,
            plot_types=args.plot_types,
            csv_path=args.csv,
            force=args.force,
        )
    except (ValueError, FileNotFoundError, KeyError, RuntimeError) as e:
        message = e.args[0] if isinstance(e, KeyError) and e.args else e
        print(f'error: {message}', file=sys.stderr)
        return 2
    return 0
