"""Loading results, run averaging, caching, CSV/plots and the analysis CLI on tiny generated files."""

import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from lib.test.analysis import cli
from lib.test.analysis.extract import TrackerSpec, extract_results
from lib.test.evaluation import results
from lib.test.evaluation.data import Sequence, SequenceList

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GT10 = [0.0, 0.0, 10.0, 10.0]
SHIFT5 = [5.0, 0.0, 10.0, 10.0]  # IoU 1/3 with GT10
HALF = [0.0, 0.0, 5.0, 10.0]  # IoU 1/2 with GT10
AWAY = [50.0, 50.0, 10.0, 10.0]  # IoU 0


def auc_of(ious):
    """AUC (percent) of one sequence from its per-frame IoUs, by direct counting."""
    return np.mean([np.mean([iou > t for iou in ious]) for t in np.arange(21) / 20]) * 100


def make_dataset(label='otb', n_seq=2, n_frames=4):
    return SequenceList(
        Sequence(
            f'seq{i}', [f'/nonexistent/seq{i}/{j:08d}.jpg' for j in range(n_frames)], label, [GT10] * n_frames
        )
        for i in range(n_seq)
    )


def write(results_path, name, param, run_id, seq, boxes, label='otb'):
    folder = results.sequence_results_dir(str(results_path), name, param, run_id, label)
    results.write_sequence_results(folder, seq, boxes, [0.01] * len(boxes))
    return results.box_file(folder, seq)


def test_run_averaging_and_spread(tmp_path):
    ds = make_dataset()
    # run 0: every frame perfect; run 1: frames 1..3 have IoU 1/3
    for seq in ds.names():
        write(tmp_path, 'trk', 'cfg', 0, seq, [GT10] * 4)
        write(tmp_path, 'trk', 'cfg', 1, seq, [GT10] + [SHIFT5] * 3)
    res = cli.analyze(
        [('trk', 'cfg', None, 'Mine')],
        ds,
        run_ids=[0, 1],
        results_path=str(tmp_path),
        result_plot_path=str(tmp_path / 'plots'),
        print_fn=None,
    )
    auc0, auc1 = auc_of([1, 1, 1, 1]), auc_of([1] + [1 / 3] * 3)
    assert res.summary.loc['Mine', 'AUC'] == pytest.approx((auc0 + auc1) / 2)
    assert res.summary.loc['Mine', 'Runs'] == 2
    assert res.summary.loc['Mine', 'AUC std'] == pytest.approx(np.std([auc0, auc1], ddof=1))
    assert res.per_run.loc[('Mine', '001'), 'AUC'] == pytest.approx(auc1)
    assert 'Spread over runs' in res.text and 'Per run' in res.text


def test_several_trackers_csv_and_plots(tmp_path):
    ds = make_dataset()
    for seq in ds.names():
        write(tmp_path, 'a', 'cfg', None, seq, [GT10, HALF, HALF, HALF])
        write(tmp_path, 'b', 'cfg', None, seq, [GT10, AWAY, AWAY, AWAY])
    csv_path = tmp_path / 'out' / 'scores.csv'
    res = cli.analyze(
        [('a', 'cfg', None, 'A'), ('b', 'cfg')],
        ds,
        results_path=str(tmp_path),
        result_plot_path=str(tmp_path / 'plots'),
        report_name='rep',
        plot=True,
        csv_path=str(csv_path),
        print_fn=None,
    )
    table = pd.read_csv(csv_path, index_col=0)
    assert list(table.index) == ['A', 'b_cfg']
    assert table.loc['A', 'AUC'] == pytest.approx(auc_of([1, 0.5, 0.5, 0.5]), abs=1e-4)  # percent
    assert table.loc['b_cfg', 'Precision'] == pytest.approx(25.0)
    report_dir = tmp_path / 'plots' / 'rep'
    for stem in ('success_plot', 'precision_plot', 'norm_precision_plot'):
        assert (report_dir / f'{stem}.png').read_bytes()[:4] == b'\x89PNG'
        assert (report_dir / f'{stem}.pdf').read_bytes()[:4] == b'%PDF'
    assert (report_dir / 'scores.csv').is_file() and (report_dir / 'eval_data.npz').is_file()
    assert not [f for f in os.listdir(report_dir) if f.endswith('.tmp')]
    assert str(report_dir / 'success_plot.pdf') in res.files


def test_got10k_subfolder_and_ao(tmp_path):
    ds = make_dataset('got10k', n_seq=1, n_frames=3)
    path = write(tmp_path, 'trk', 'cfg', None, 'seq0', [AWAY, SHIFT5, HALF], label='got10k')
    assert os.path.join('cfg', 'got10k', 'seq0.txt') in path
    data = extract_results([TrackerSpec('trk', 'cfg')], ds, results_path=str(tmp_path))
    res = cli.analyze(
        [('trk', 'cfg')], ds, results_path=str(tmp_path), result_plot_path=str(tmp_path / 'p'), print_fn=None
    )
    # GOT-10k toolkit: frame 0 left out, IoUs 1/3 and 1/2 pooled
    assert res.summary.loc['trk_cfg', 'AO'] == pytest.approx((1 / 3 + 1 / 2) / 2 * 100)
    assert res.summary.loc['trk_cfg', 'SR0.5'] == 0.0
    assert data.got10k_counts.shape == (1, 1, 4)


def test_withheld_labels_are_refused(tmp_path):
    ds = SequenceList([Sequence('t', ['a.jpg', 'b.jpg', 'c.jpg'], 'got10k', [GT10])])
    with pytest.raises(ValueError, match='withheld'):
        extract_results([('trk', 'cfg')], ds, results_path=str(tmp_path))


def test_missing_results_error_or_skip(tmp_path):
    ds = make_dataset()
    write(tmp_path, 'a', 'cfg', None, 'seq0', [GT10] * 4)
    write(tmp_path, 'a', 'cfg', None, 'seq1', [GT10] + [AWAY] * 3)
    write(tmp_path, 'b', 'cfg', None, 'seq0', [GT10] * 4)
    with pytest.raises(FileNotFoundError, match=r'b/cfg/seq1\.txt'):
        extract_results([('a', 'cfg'), ('b', 'cfg')], ds, results_path=str(tmp_path))
    data = extract_results([('a', 'cfg'), ('b', 'cfg')], ds, results_path=str(tmp_path), skip_missing=True)
    assert data.valid_sequence.tolist() == [True, False]  # seq1 dropped for both trackers
    res = cli.analyze(
        [('a', 'cfg'), ('b', 'cfg')],
        ds,
        results_path=str(tmp_path),
        skip_missing=True,
        result_plot_path=str(tmp_path / 'p'),
        print_fn=None,
    )
    assert res.summary.loc['a_cfg', 'AUC'] == pytest.approx(auc_of([1, 1, 1, 1]))


def test_nan_in_results_names_the_file(tmp_path):
    ds = make_dataset(n_seq=1)
    write(tmp_path, 'a', 'cfg', None, 'seq0', [GT10, GT10, [1, np.nan, 1, 1], GT10])
    with pytest.raises(ValueError, match=r'seq0\.txt: NaN in predicted boxes'):
        extract_results([('a', 'cfg')], ds, results_path=str(tmp_path))


def test_cache_detects_new_results(tmp_path):
    ds = make_dataset()
    for seq in ds.names():
        write(tmp_path, 'a', 'cfg', None, seq, [GT10] * 4)
    kwargs = dict(results_path=str(tmp_path), cache_dir=str(tmp_path / 'cache'))
    first = extract_results([('a', 'cfg')], ds, **kwargs)
    again = extract_results([('a', 'cfg')], ds, **kwargs)
    assert not first.from_cache and again.from_cache
    np.testing.assert_array_equal(first.success, again.success)
    path = write(tmp_path, 'a', 'cfg', None, 'seq1', [GT10] + [AWAY] * 3)
    os.utime(path, ns=(1, 1))  # even with a clock that did not move, size/mtime differ
    updated = extract_results([('a', 'cfg')], ds, **kwargs)
    assert not updated.from_cache
    assert updated.success[1, 0, 0] == pytest.approx(0.25)


def test_tracker_objects_are_accepted(tmp_path):
    class FakeTracker:  # the attributes of lib.test.evaluation.tracker.Tracker that the analysis uses
        def __init__(self, run_id):
            self.name, self.parameter_name, self.run_id = 'trk', 'cfg', run_id
            self.display_name = f'trk_cfg_{run_id:03d}'
            self._results_path = str(tmp_path)

    ds = make_dataset(n_seq=1)
    write(tmp_path, 'trk', 'cfg', 0, 'seq0', [GT10] * 4)
    write(tmp_path, 'trk', 'cfg', 1, 'seq0', [GT10] * 4)
    res = cli.analyze(
        [FakeTracker(0), FakeTracker(1)], ds, result_plot_path=str(tmp_path / 'p'), print_fn=None
    )
    assert list(res.summary.index) == ['trk_cfg'] and res.summary.loc['trk_cfg', 'Runs'] == 2


def test_cli_end_to_end(tmp_path, capsys):
    ds = make_dataset()
    for seq in ds.names():
        for run in (0, 1):
            write(tmp_path, 'ostrack', 'vitb', run, seq, [GT10, HALF, HALF, GT10])
            write(tmp_path, 'other', 'cfg', run, seq, [GT10, AWAY, AWAY, AWAY])
    csv_path = tmp_path / 'x.csv'
    argv = [
        '--tracker_name',
        'ostrack',
        '--tracker_param',
        'vitb',
        '--display_name',
        'OSTrack',
        '--tracker',
        'other:cfg:Other',
        '--runids',
        '0',
        '1',
        '--plot',
        '--csv',
        str(csv_path),
        '--results_path',
        str(tmp_path),
        '--result_plot_path',
        str(tmp_path / 'plots'),
        '--report_name',
        'r',
    ]
    assert cli.main(argv, dataset=ds) == 0
    out = capsys.readouterr().out
    assert 'OSTrack' in out and 'Norm Precision' in out and 'Spread over runs' in out
    table = pd.read_csv(csv_path, index_col=0)
    assert table.loc['OSTrack', 'AUC'] == pytest.approx(auc_of([1, 0.5, 0.5, 1]), abs=1e-4)
    assert table.loc['OSTrack', 'Runs'] == 2
    assert (tmp_path / 'x_per_run.csv').is_file()
    assert (tmp_path / 'plots' / 'r' / 'success_plot.png').is_file()
    # user errors: message and non-zero exit, no traceback
    assert cli.main(argv[:6] + ['--tracker', 'bad', '--results_path', str(tmp_path)], dataset=ds) == 2
    assert "expected NAME:PARAM" in capsys.readouterr().err
    assert (
        cli.main(
            [
                '--tracker',
                'missing:cfg',
                '--results_path',
                str(tmp_path),
                '--result_plot_path',
                str(tmp_path / 'p'),
            ],
            dataset=ds,
        )
        == 2
    )
    assert 'missing/cfg/seq0.txt' in capsys.readouterr().err


def test_script_help_runs_from_any_cwd(tmp_path):
    out = subprocess.run(
        [sys.executable, os.path.join(REPO, 'tracking', 'analysis_results.py'), '--help'],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0 and '--runids' in out.stdout and 'NAME:PARAM[:DISPLAY]' in out.stdout
