"""The main job on a fresh clone: synthetic data -> train a tiny tracker on the CPU (OSTrack-CE by default,
LoRAT with --script lorat) -> track the held-out synthetic sequences with it and with the
keep-the-first-box baseline -> analysis table and plots.

Everything it writes lives under one folder (default ./output/quickstart): checkpoints, results, plots.
A second run resumes training where it stopped and skips sequences that are already tracked.
"""

import argparse
import os
import shutil
import sys
import time

from lib.families import BASELINE_TRACKER, DEFAULT_FAMILY, family_names, get_family

BASELINE = (BASELINE_TRACKER, 'default')


def quickstart_families() -> list[str]:
    """The families that declare a quickstart config."""
    return [name for name in family_names() if get_family(name).quickstart_config]


def checkpoint_name(script: str) -> str:
    """The file stem of the family's checkpoints (OSTrack_ep0045.pth.tar -> 'OSTrack')."""
    return get_family(script).checkpoint_name


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        '--script',
        default=DEFAULT_FAMILY,
        choices=quickstart_families(),
        help=f'tracker family (default: {DEFAULT_FAMILY})',
    )
    p.add_argument(
        '--config',
        default=None,
        help='yaml in experiments/<script>/ (default: the family\'s quickstart config: '
        + ', '.join(f'{name} {get_family(name).quickstart_config}' for name in quickstart_families())
        + ')',
    )
    p.add_argument(
        '--save_dir',
        default=None,
        help=f'output folder (default: <repo>/output/quickstart for {DEFAULT_FAMILY}, '
        f'quickstart_<script> for the others)',
    )
    p.add_argument('--threads', type=int, default=0, help='tracking worker processes (0: in this process)')
    p.add_argument('--fresh', action='store_true', help='delete this folder first and start over')
    p.add_argument('--seed', type=int, default=42)
    return p.parse_args(argv)


def ensure_local_files():
    """install.sh writes the path files; create the defaults if a user skipped it."""
    from lib.test.evaluation import environment as test_env
    from lib.train.admin import environment as train_env
    from lib.utils.local_settings import REPO_ROOT

    if not (os.path.isfile(train_env.LOCAL_FILE) and os.path.isfile(test_env.LOCAL_FILE)):
        from lib.utils.local_files_writer import write_local_files

        for path in write_local_files(
            REPO_ROOT, os.path.join(REPO_ROOT, 'data'), os.path.join(REPO_ROOT, 'output')
        ):
            print(f'wrote {path}')


def tracker_display_name(script, config):
    return f'{checkpoint_name(script)} {config}'


def run(config=None, save_dir=None, threads=0, fresh=False, seed=42, print_fn=print, script=DEFAULT_FAMILY):
    """Runs the whole job; returns (summary DataFrame, dict of AUCs by display name, seconds)."""
    from lib.config import load_config
    from lib.utils.local_settings import REPO_ROOT

    if script not in quickstart_families():
        raise ValueError(f"quickstart: unknown script '{script}', expected one of {quickstart_families()}")
    config = config or get_family(script).quickstart_config
    started = time.time()
    default_dir = 'quickstart' if script == DEFAULT_FAMILY else f'quickstart_{script}'
    save_dir = os.path.abspath(save_dir or os.path.join(REPO_ROOT, 'output', default_dir))
    if fresh and os.path.isdir(save_dir):
        shutil.rmtree(save_dir)
    ensure_local_files()
    cfg = load_config(script, config)

    from lib.train.admin.environment import env_settings as train_env_settings
    from lib.utils.synthetic import ensure_default_dataset

    step = time.time()
    ensure_default_dataset(train_env_settings().synthetic_dir)
    print_fn(f'[quickstart] synthetic data ready ({time.time() - step:.0f} s)')

    from lib.train import run_training
    from lib.train.trainers.checkpoint import checkpoint_dir, checkpoint_path

    step = time.time()
    run_training.main(
        ['--script', script, '--config', config, '--save_dir', save_dir, '--seed', str(seed), '--no_progress']
    )
    print_fn(f'[quickstart] training done ({time.time() - step:.0f} s)')

    from lib.test.evaluation.datasets import get_dataset
    from lib.test.evaluation.running import run_dataset
    from lib.test.evaluation.tracker import Tracker

    results_path = os.path.join(save_dir, 'tracking_results')
    weights = checkpoint_path(
        checkpoint_dir(save_dir, script, config), checkpoint_name(script), cfg.TEST.EPOCH
    )
    dataset = get_dataset('synthetic')
    trackers = [
        Tracker(
            script,
            config,
            dataset_name='synthetic',
            checkpoint=weights,
            results_path=results_path,
            display_name=tracker_display_name(script, config),
        ),
        Tracker(
            *BASELINE,
            dataset_name='synthetic',
            results_path=results_path,
            display_name='first box (baseline)',
        ),
    ]
    step = time.time()
    summary = run_dataset(dataset, trackers, threads=threads, num_gpus=0)
    if not summary.ok:
        raise RuntimeError(summary.failure_report())
    print_fn(f'[quickstart] tracked {len(dataset)} held-out sequences ({time.time() - step:.0f} s)')

    from lib.test.analysis.cli import analyze

    result = analyze(
        trackers,
        dataset,
        report_name='quickstart_synthetic',
        results_path=results_path,
        result_plot_path=os.path.join(save_dir, 'result_plots'),
        plot=True,
        print_fn=print_fn,
    )
    aucs = {name: float(row['AUC']) for name, row in result.summary.iterrows()}
    seconds = time.time() - started
    print_fn(f'[quickstart] plots and scores in {result.report_dir}')
    print_fn(f'[quickstart] total time {seconds / 60:.1f} min')
    return result.summary, aucs, seconds


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    config = args.config or get_family(args.script).quickstart_config
    _, aucs, _ = run(config, args.save_dir, args.threads, args.fresh, args.seed, script=args.script)
    tracker_auc = aucs[tracker_display_name(args.script, config)]
    baseline_auc = aucs['first box (baseline)']
    print(
        f'[quickstart] AUC: {checkpoint_name(args.script)} {tracker_auc:.1f}, first box {baseline_auc:.1f}, '
        f'gain {tracker_auc - baseline_auc:+.1f} points'
    )
    return 0
