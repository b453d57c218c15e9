"""Evaluation-server submission packers for GOT-10k test and TrackingNet test.

GOT-10k zip: <seq>/<seq>_001.txt (one x,y,w,h line per frame, comma-separated; _002/_003 for more runs)
and <seq>/<seq>_time.txt (seconds per frame, one comma-separated column per run), no wrapper folder.
TrackingNet zip: <seq>.txt (comma-separated x,y,w,h per frame), no wrapper folder.
Before anything is written, every sequence of the dataset must have a result file with exactly one line
per frame (and, for GOT-10k, a time file); otherwise SubmissionError lists what is missing or short.
Raw results are only read; the zip is written atomically and its path returned.
"""

import argparse
import io
import os
import sys
import zipfile

import numpy as np

from lib.test.evaluation import results
from lib.utils.io import atomic_open

MAX_GOT10K_RUNS = 3  # the server reads <seq>_001.txt .. <seq>_003.txt


class SubmissionError(ValueError):
    """Results are incomplete or malformed for a server submission."""


def _run_dirs(results_path, tracker_name, cfg_name, run_ids, label):
    run_ids = list(run_ids) if run_ids else [None]
    return [
        (run_id, results.sequence_results_dir(results_path, tracker_name, cfg_name, run_id, label))
        for run_id in run_ids
    ]


def _load_column(path, ncols):
    try:
        return results.load_text_array(path, ncols=ncols)
    except ValueError as e:
        raise SubmissionError(str(e)) from None


def collect_results(dataset, run_dirs, with_times):
    """{seq name: [(boxes, times or None) per run]} after checking every sequence; SubmissionError
    otherwise."""
    problems, collected = [], {}
    for seq in dataset:
        n_frames = len(seq.frames)
        per_run = []
        for _, folder in run_dirs:
            box_path = results.box_file(folder, seq.name)
            time_path = results.time_file(folder, seq.name)
            if not os.path.isfile(box_path):
                problems.append(f'missing: {box_path}')
                continue
            boxes = _load_column(box_path, 4)
            if len(boxes) != n_frames:
                problems.append(
                    f'{"short" if len(boxes) < n_frames else "long"}: {box_path} has {len(boxes)} '
                    f'lines, the sequence has {n_frames} frames'
                )
            elif not np.isfinite(boxes).all():
                problems.append(f'not finite: {box_path} has NaN/inf values')
            times = None
            if with_times:
                if not os.path.isfile(time_path):
                    problems.append(f'missing: {time_path}')
                else:
                    times = _load_column(time_path, 1)[:, 0]
                    if len(times) != n_frames:
                        problems.append(
                            f'{"short" if len(times) < n_frames else "long"}: {time_path} has '
                            f'{len(times)} lines, the sequence has {n_frames} frames'
                        )
            per_run.append((boxes, times))
        collected[seq.name] = per_run
    if problems:
        shown = '\n    '.join(problems[:30]) + (
            f'\n    ... and {len(problems) - 30} more' if len(problems) > 30 else ''
        )
        raise SubmissionError(
            f'results are incomplete, nothing was packed ({len(problems)} problem(s)):\n    {shown}'
        )
    return collected


def _boxes_text(boxes):
    buffer = io.StringIO()
    np.savetxt(buffer, boxes, delimiter=',', fmt='%.4f')
    return buffer.getvalue()


def write_zip(path, entries):
    """Writes {archive name: text} as a zip atomically; entries sit at the top level of the archive."""
    with atomic_open(path, 'wb') as f:
        with zipfile.ZipFile(f, 'w', compression=zipfile.ZIP_DEFLATED) as archive:
            for name, text in entries.items():
                archive.writestr(name, text)
    return path


def _zip_path(output_dir, tracker_name, cfg_name, run_ids, benchmark):
    runs = ''.join(f'_{r:03d}' for r in run_ids) if run_ids else ''
    return os.path.join(output_dir, f'{tracker_name}_{cfg_name}{runs}_{benchmark}.zip')


def _settings_paths(results_path, output_dir, output_attr):
    if results_path is None or output_dir is None:
        from lib.test.evaluation.environment import env_settings

        settings = env_settings()
        results_path = results_path or settings.results_path
        output_dir = output_dir or getattr(settings, output_attr)
    return results_path, output_dir


def pack_got10k(tracker_name, cfg_name, run_ids=None, dataset=None, results_path=None, output_dir=None):
    """Packs <results_path>/<tracker>/<cfg>[_<run>]/got10k/ for the GOT-10k server; returns the zip path.
    run_ids: None (the folder without run suffix) or up to 3 run ids (-> _001, _002, _003).
    dataset: the GOT-10k test SequenceList (default get_dataset('got10k_test'))."""
    if run_ids and len(run_ids) > MAX_GOT10K_RUNS:
        raise SubmissionError(f'the GOT-10k server takes at most {MAX_GOT10K_RUNS} runs, got {len(run_ids)}')
    if dataset is None:
        from lib.test.evaluation.datasets import get_dataset

        dataset = get_dataset('got10k_test')
    results_path, output_dir = _settings_paths(results_path, output_dir, 'got_packed_results_path')
    collected = collect_results(
        dataset, _run_dirs(results_path, tracker_name, cfg_name, run_ids, 'got10k'), True
    )
    entries = {}
    for name, per_run in collected.items():
        for index, (boxes, _) in enumerate(per_run, 1):
            entries[f'{name}/{name}_{index:03d}.txt'] = _boxes_text(boxes)
        times = np.stack([t for _, t in per_run], axis=1)
        buffer = io.StringIO()
        np.savetxt(buffer, times, delimiter=',', fmt='%.6f')
        entries[f'{name}/{name}_time.txt'] = buffer.getvalue()
    return write_zip(_zip_path(output_dir, tracker_name, cfg_name, run_ids, 'got10k'), entries)


def pack_trackingnet(tracker_name, cfg_name, run_id=None, dataset=None, results_path=None, output_dir=None):
    """Packs <results_path>/<tracker>/<cfg>[_<run>]/trackingnet/ for the TrackingNet server; returns the
    zip path. dataset: the TrackingNet test SequenceList (default get_dataset('trackingnet'))."""
    if dataset is None:
        from lib.test.evaluation.datasets import get_dataset

        dataset = get_dataset('trackingnet')
    results_path, output_dir = _settings_paths(results_path, output_dir, 'tn_packed_results_path')
    run_ids = None if run_id is None else [run_id]
    collected = collect_results(
        dataset, _run_dirs(results_path, tracker_name, cfg_name, run_ids, 'trackingnet'), False
    )
    entries = {f'{name}.txt': _boxes_text(per_run[0][0]) for name, per_run in collected.items()}
    return write_zip(_zip_path(output_dir, tracker_name, cfg_name, run_ids, 'trackingnet'), entries)


def _parser(benchmark, many_runs):
    parser = argparse.ArgumentParser(
        description=f'Pack {benchmark} test results into a server submission zip '
        f'(checked for completeness first; raw results are left untouched).'
    )
    parser.add_argument('--tracker_name', required=True, help='tracker script, e.g. ostrack')
    parser.add_argument(
        '--cfg_name', required=True, help='config name, e.g. vitb_384_mae_ce_32x4_got10k_ep100'
    )
    if many_runs:
        parser.add_argument(
            '--runid',
            type=int,
            nargs='+',
            metavar='N',
            help='run id(s) of the results folder <cfg>_%%03d; up to 3 become _001.._003',
        )
    else:
        parser.add_argument('--runid', type=int, metavar='N', help='run id of the results folder <cfg>_%%03d')
    parser.add_argument('--results_path', help='results root (default: results_path of local.py)')
    parser.add_argument(
        '--output_dir',
        help='where the zip goes (default: got_packed_results_path / tn_packed_results_path of local.py)',
    )
    return parser


def main_got10k(argv=None, dataset=None):
    args = _parser('GOT-10k', many_runs=True).parse_args(argv)
    return _run_cli(
        lambda: pack_got10k(
            args.tracker_name, args.cfg_name, args.runid, dataset, args.results_path, args.output_dir
        )
    )


def main_trackingnet(argv=None, dataset=None):
    args = _parser('TrackingNet', many_runs=False).parse_args(argv)
    return _run_cli(
        lambda: pack_trackingnet(
            args.tracker_name, args.cfg_name, args.runid, dataset, args.results_path, args.output_dir
        )
    )


def _run_cli(pack):
    try:
        path = pack()
    except (SubmissionError, FileNotFoundError, KeyError, RuntimeError) as e:
        print(f'error: {e}', file=sys.stderr)
        return 1
    print(path)
    return 0
