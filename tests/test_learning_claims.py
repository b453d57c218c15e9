"""The learning claims of the README's main job, at full length: `python tracking/quickstart.py` (tiny
OSTrack-CE) and `python tracking/quickstart.py --script lorat` (tiny LoRAT) train on the CPU from
nothing, track the 32 held-out synthetic sequences, and must beat the tracker that keeps the first box
by at least 20 AUC points.

Both commands run as the user runs them, each in a fresh process, so nothing an earlier test changed
in this process (thread counts, seeds, settings) can help or hurt them. They run side by side with one
torch thread each: on a 2-core CI machine that takes about 23 minutes for both, against about 28 one
after the other with two threads each. The thread count changes float rounding, so the AUCs differ a
little from a two-thread run; the claim must hold either way."""

import os
import re
import subprocess
import sys

import pytest

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MIN_GAIN = 20.0  # AUC points over the first-box baseline (issues #3 and #4)
HELD_OUT = 32  # sequences in the synthetic set's testing_set.txt
RESULT_LINE = re.compile(r'\[quickstart\] AUC: (\S+) ([\d.]+), first box ([\d.]+), gain ([+-][\d.]+) points')
FAMILIES = {'ostrack': 'OSTrack', 'lorat': 'LoRAT'}


@pytest.fixture(scope='module')
def main_jobs(tmp_path_factory):
    """Runs both quickstart commands concurrently; returns {script: (returncode, output, save_dir)}."""
    root = tmp_path_factory.mktemp('main_jobs')
    env = dict(os.environ, OMP_NUM_THREADS='1', MKL_NUM_THREADS='1')
    # generate the synthetic set once, before two processes would both wait on its lock
    subprocess.run(
        [sys.executable, os.path.join(REPO_ROOT, 'tracking', 'create_synthetic_data.py')],
        cwd=REPO_ROOT,
        env=env,
        check=True,
        capture_output=True,
    )
    procs = {}
    for script in FAMILIES:
        log = open(root / f'{script}.log', 'w+')
        cmd = [
            sys.executable,
            os.path.join(REPO_ROOT, 'tracking', 'quickstart.py'),
            '--script',
            script,
            '--save_dir',
            str(root / script),
            '--fresh',
        ]
        procs[script] = (
            subprocess.Popen(cmd, cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT),
            log,
        )
    results = {}
    for script, (proc, log) in procs.items():
        try:
            code = proc.wait(timeout=50 * 60)
        except subprocess.TimeoutExpired:
            proc.kill()
            code = proc.wait()
        log.seek(0)
        results[script] = (code, log.read(), root / script)
        log.close()
    return results


@pytest.mark.parametrize('script', sorted(FAMILIES))
def test_tiny_tracker_beats_the_first_box_by_20_auc_points(main_jobs, script):
    code, output, save_dir = main_jobs[script]
    assert code == 0, output[-4000:]
    match = RESULT_LINE.search(output)
    assert match, f'no result line in the output:\n{output[-4000:]}'
    name, tracker_auc, baseline_auc = match.group(1), float(match.group(2)), float(match.group(3))
    print(f'{script}: tracker AUC {tracker_auc:.1f}, first box {baseline_auc:.1f}')
    assert name == FAMILIES[script]
    tracked = os.listdir(save_dir / 'tracking_results' / 'firstbox' / 'default')
    assert len(tracked) == 2 * HELD_OUT  # boxes and times per sequence: the claim is about all 32
    assert 0.0 < baseline_auc < 20.0  # the held-out sequences need tracking: a static box fails
    assert tracker_auc >= baseline_auc + MIN_GAIN, output[-3000:]


# The half-precision tolerance (#6) on the weights the main jobs just trained: IoU >= 0.99 with
# the fp32 box on >= 99% of frames, each frame tracked from the ground-truth position
# (`tracking/benchmark.py --parts precision`), for fp16, the precision the README recommends. bf16 is
# measured there but not asserted: with candidate elimination it keeps about 94-95% of frames, and
# LoRAT's 99.0-99.4% (one-thread and two-thread trainings) sits too close to the line for a test
# that must pass on any CPU (docs/benchmarks.md). Both commands run side by side.
HALF_PRECISION = 'fp16'
HALF_SEQUENCES = 16  # of the 32 held-out sequences: about 900 frames, a few minutes per family


def trained_checkpoint(script, save_dir):
    """The checkpoint the main job tracks with: its config's TEST.EPOCH, where lib/quickstart.py puts it."""
    from lib.config import load_config
    from lib.families import get_family
    from lib.quickstart import checkpoint_name
    from lib.train.trainers.checkpoint import checkpoint_dir, checkpoint_path

    config = get_family(script).quickstart_config
    epoch = load_config(script, config).TEST.EPOCH
    return config, checkpoint_path(
        checkpoint_dir(str(save_dir), script, config), checkpoint_name(script), epoch
    )


@pytest.fixture(scope='module')
def half_precision_rows(main_jobs, tmp_path_factory):
    """{script: (returncode, output, {row name: row})} from the precision part on each trained tracker."""
    import json

    root = tmp_path_factory.mktemp('half_precision')
    env = dict(os.environ, OMP_NUM_THREADS='1', MKL_NUM_THREADS='1')
    procs = {}
    for script in FAMILIES:
        config, weights = trained_checkpoint(script, main_jobs[script][2])
        if not os.path.isfile(weights):
            procs[script] = None
            continue
        cmd = [
            sys.executable,
            os.path.join(REPO_ROOT, 'tracking', 'benchmark.py'),
            '--script',
            script,
            '--config',
            config,
            '--device',
            'cpu',
            '--parts',
            'precision',
            '--checkpoint',
            weights,
            '--precisions',
            HALF_PRECISION,
            '--sequences',
            str(HALF_SEQUENCES),
            '--doc',
            str(root / f'{script}.md'),
            '--json',
            str(root / f'{script}.json'),
        ]
        procs[script] = subprocess.Popen(
            cmd, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
    results = {}
    for script, proc in procs.items():
        if proc is None:
            results[script] = (None, 'the main job wrote no checkpoint', {})
            continue
        output, _ = proc.communicate(timeout=30 * 60)
        path = root / f'{script}.json'
        rows = json.loads(path.read_text())['results'] if path.is_file() else []
        results[script] = (proc.returncode, output, {row['path']: row for row in rows})
    return results


@pytest.mark.parametrize('script', sorted(FAMILIES))
def test_half_precision_keeps_the_trained_trackers_boxes(half_precision_rows, script):
    code, output, rows = half_precision_rows[script]
    assert code == 0, output[-3000:]
    row = rows[HALF_PRECISION]
    print(f"{script} {HALF_PRECISION}: {row['value']:.2f}% of frames IoU >= 0.99 ({row['notes']})")
    assert row['value'] >= 99.0, row
