"""Runner: result layout, timing, restart after a killed run, failure isolation, worker processes, CLI."""

import os
import sys
import time
import types

import numpy as np
import pytest
from runner_helpers import make_dataset

from lib.test.evaluation import results
from lib.test.evaluation.cli import main as cli_main
from lib.test.evaluation.data import Sequence, SequenceList
from lib.test.evaluation.running import run_dataset, sequence_complete, worker_device
from lib.test.evaluation.tracker import Tracker

INIT_BOX = [3.25, 4.5, 10.75, 8.5]


def count_lines(path):
    with open(path) as f:
        return sum(1 for line in f if line.strip())


def test_result_layout_runid_subfolders_and_float_boxes(tmp_path):
    data = make_dataset(tmp_path / 'data', [('seqA', 3), ('seqB', 4, 'got10k'), ('seqC', 2, 'trackingnet')])
    res = tmp_path / 'res'
    summary = run_dataset(data, [Tracker('firstbox', 'default', run_id=7, results_path=str(res))])
    assert summary.ok and len(summary.done) == 3 and summary.frames == 9
    run = res / 'firstbox' / 'default_007'
    for folder, name, n in ((run, 'seqA', 3), (run / 'got10k', 'seqB', 4), (run / 'trackingnet', 'seqC', 2)):
        boxes = results.read_boxes(folder / f'{name}.txt')
        np.testing.assert_allclose(boxes, np.tile(INIT_BOX, (n, 1)))
        assert '3.25' in (folder / f'{name}.txt').read_text()  # not truncated to integers
        times = results.load_text_array(folder / f'{name}_time.txt')
        assert times.shape == (n, 1) and np.all(times >= 0)
    assert not (run / 'seqB.txt').exists()

    run_dataset(data[:1], Tracker('firstbox', 'default', results_path=str(res)))
    assert (res / 'firstbox' / 'default' / 'seqA.txt').is_file()


class SlowInitTracker:
    """Initialize takes 50 ms, track is instant, and the box moves by one pixel per frame."""

    def initialize(self, image, info):
        time.sleep(0.05)
        self.box = list(info['init_bbox'])

    def track(self, image, info=None):
        self.box = [self.box[0] + 1, self.box[1], self.box[2], self.box[3]]
        return {'target_bbox': self.box}


def test_run_sequence_times_exclude_image_reading(tmp_path):
    def slow_reader(path):
        time.sleep(0.05)
        return np.zeros((20, 30, 3), np.uint8)

    seq = Sequence('s', [f'f{i}' for i in range(4)], 'lasot', [[1, 2, 3, 4]], image_reader=slow_reader)
    out = Tracker('firstbox', 'default', results_path=str(tmp_path)).run_sequence(seq, SlowInitTracker())
    assert out['time'][0] >= 0.045
    assert np.all(out['time'][1:] < 0.03)
    np.testing.assert_allclose(out['target_bbox'][:, 0], [1, 2, 3, 4])
    assert out['target_bbox'].dtype == np.float64 and out['target_bbox'].shape == (4, 4)


def test_bad_tracker_output_names_sequence_and_frame(tmp_path):
    class Bad(SlowInitTracker):
        def track(self, image, info=None):
            return {'box': [1, 2]}

    seq = Sequence(
        'badseq', ['a', 'b'], 'lasot', [[1, 2, 3, 4]], image_reader=lambda p: np.zeros((8, 8, 3), np.uint8)
    )
    with pytest.raises(ValueError, match='badseq, frame 1'):
        Tracker('firstbox', 'default', results_path=str(tmp_path)).run_sequence(seq, Bad())


def test_run_sequence_reads_frames_outside_the_timed_calls_and_passes_ground_truth_in_debug(tmp_path):
    reads, infos = [], []

    class Recording(SlowInitTracker):
        def track(self, image, info=None):
            infos.append(info)
            assert len(reads) == len(infos) + 1  # this frame was read before track(), the next one not yet
            return super().track(image, info)

    def reader(path):
        reads.append(path)
        return np.zeros((20, 30, 3), np.uint8)

    gt = [[1, 2, 3, 4], [2, 2, 3, 4], [3, 2, 3, 4]]
    seq = Sequence('s', ['f0', 'f1', 'f2'], 'lasot', gt, image_reader=reader)
    tracker = Tracker('firstbox', 'default', results_path=str(tmp_path))
    tracker.run_sequence(seq, Recording(), debug=1)
    assert infos == [{'gt_bbox': [2.0, 2.0, 3.0, 4.0]}, {'gt_bbox': [3.0, 2.0, 3.0, 4.0]}]
    reads.clear(), infos.clear()
    tracker.run_sequence(seq, Recording())
    assert infos == [None, None]


def test_a_tracker_without_slots_cannot_track_several_sequences_at_once():
    from lib.test.evaluation.stepping import track_sequences

    seq = Sequence(
        's', ['a', 'b'], 'lasot', [[1, 2, 3, 4]], image_reader=lambda p: np.zeros((8, 8, 3), np.uint8)
    )
    with pytest.raises(TypeError, match='SlowInitTracker tracks one sequence at a time'):
        track_sequences(SlowInitTracker(), [seq], batch_size=2)


def test_restart_reruns_only_missing_or_incomplete(tmp_path):
    data = make_dataset(tmp_path / 'data', [('seqA', 5), ('seqB', 5), ('seqC', 5)])
    tracker = Tracker('firstbox', 'default', results_path=str(tmp_path / 'res'))
    run_dataset(data, [tracker])
    out = tmp_path / 'res' / 'firstbox' / 'default'
    # Simulate a killed run: seqB's box file short (an old non-atomic writer), seqC never renamed into place.
    lines = (out / 'seqB.txt').read_text().splitlines()
    (out / 'seqB.txt').write_text('\n'.join(lines[:2]) + '\n')
    (out / 'seqC.txt').unlink()
    strays = [out / '.seqC.txt.k1l2m3.tmp', out / '.seqC_time.txt.x9y8.tmp', out / '.seqA.txt.zz.tmp']
    for stray in strays:
        stray.write_text('1\t2\n')
    old = time.time() - 1000
    os.utime(out / 'seqA.txt', (old, old))
    os.utime(out / 'seqA_time.txt', (old, old))

    assert [sequence_complete(tracker, s) for s in data] == [True, False, False]
    summary = run_dataset(data, [tracker])
    assert [name for _, name in summary.done] == ['seqB', 'seqC']
    assert [name for _, name in summary.skipped] == ['seqA']
    assert os.path.getmtime(out / 'seqA.txt') == pytest.approx(old)
    assert os.path.getmtime(out / 'seqA_time.txt') == pytest.approx(old)
    for name in ('seqB', 'seqC'):
        assert count_lines(out / f'{name}.txt') == 5 and count_lines(out / f'{name}_time.txt') == 5
    assert not strays[0].exists() and not strays[1].exists()
    # A third run has nothing to do.
    summary = run_dataset(data, [tracker])
    assert len(summary.skipped) == 3 and not summary.done


def test_failing_sequence_is_isolated_and_debug_propagates(tmp_path, capsys):
    data = make_dataset(tmp_path / 'data', [('good1', 3), ('broken', 4, 'lasot', 2), ('good2', 3)])
    tracker = Tracker('firstbox', 'default', results_path=str(tmp_path / 'res'))
    summary = run_dataset(data, [tracker])
    assert [name for _, name in summary.done] == ['good1', 'good2']
    assert len(summary.failed) == 1
    _, name, message = summary.failed[0]
    assert name == 'broken' and '00000003.jpg' in message
    printed = capsys.readouterr().out
    assert 'broken' in printed and '00000003.jpg' in printed and 'Overall FPS' in printed
    assert not (tmp_path / 'res' / 'firstbox' / 'default' / 'broken.txt').exists()

    from lib.utils.image_io import ImageReadError

    with pytest.raises(ImageReadError, match='00000003.jpg'):
        run_dataset(data, [tracker], debug=1)


def test_debug_mode_reruns_and_saves(tmp_path, monkeypatch):
    monkeypatch.setattr('lib.test.tracker.debug.visdom_server_running', lambda *a, **k: False)
    monkeypatch.setattr('lib.test.tracker.debug.default_save_dir', lambda: str(tmp_path / 'save'))
    data = make_dataset(tmp_path / 'data', [('seqA', 3)])
    tracker = Tracker('firstbox', 'default', results_path=str(tmp_path / 'res'))
    run_dataset(data, [tracker])
    box_file = tmp_path / 'res' / 'firstbox' / 'default' / 'seqA.txt'
    old = time.time() - 1000
    os.utime(box_file, (old, old))
    summary = run_dataset(data, [tracker], debug=1)
    assert len(summary.done) == 1 and os.path.getmtime(box_file) > old + 500
    pngs = sorted(os.listdir(tmp_path / 'save' / 'debug' / 'firstbox' / 'seqA'))
    assert pngs == ['tracking_00000.png', 'tracking_00001.png', 'tracking_00002.png']


def test_tracker_built_once_per_process(tmp_path, monkeypatch):
    calls = []
    original = Tracker.build

    def counting_build(self, device=None, debug=0):
        calls.append(device)
        return original(self, device=device, debug=debug)

    monkeypatch.setattr(Tracker, 'build', counting_build)
    data = make_dataset(tmp_path / 'data', [('a', 2), ('b', 2), ('c', 2)])
    run_dataset(data, [Tracker('firstbox', 'default', results_path=str(tmp_path / 'res'))], num_gpus=8)
    assert calls == ['cpu']


def test_worker_processes_and_failure_isolation(tmp_path):
    data = make_dataset(
        tmp_path / 'data', [('w1', 3), ('w2', 4, 'got10k'), ('wbad', 3, 'lasot', 1), ('w3', 2)]
    )
    tracker = Tracker('firstbox', 'default', run_id=1, results_path=str(tmp_path / 'res'))
    summary = run_dataset(data, [tracker], threads=2, num_gpus=8)
    assert sorted(name for _, name in summary.done) == ['w1', 'w2', 'w3']
    assert [(name, '00000002.jpg' in msg) for _, name, msg in summary.failed] == [('wbad', True)]
    out = tmp_path / 'res' / 'firstbox' / 'default_001'
    np.testing.assert_allclose(results.read_boxes(out / 'got10k' / 'w2.txt'), np.tile(INIT_BOX, (4, 1)))
    assert count_lines(out / 'w1_time.txt') == 3 and count_lines(out / 'w3.txt') == 2
    assert summary.frames == 9


def test_worker_device_round_robin(monkeypatch):
    import torch

    assert (
        worker_device(3, 8) == 'cpu'
        if not torch.cuda.is_available()
        else worker_device(3, 8).startswith('cuda')
    )
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    monkeypatch.setattr(torch.cuda, 'device_count', lambda: 4)
    assert [worker_device(k, 4) for k in range(6)] == [
        'cuda:0',
        'cuda:1',
        'cuda:2',
        'cuda:3',
        'cuda:0',
        'cuda:1',
    ]
    assert [worker_device(k, 2) for k in range(3)] == ['cuda:0', 'cuda:1', 'cuda:0']
    assert worker_device(5, 0) == 'cpu'


@pytest.fixture
def fake_datasets(tmp_path, monkeypatch):
    """Stands in for lib.test.evaluation.datasets with a dataset 'tiny'."""
    data = make_dataset(tmp_path / 'data', [('t1', 3), ('t2', 2), ('tbad', 3, 'lasot', 0)])
    module = types.ModuleType('lib.test.evaluation.datasets')
    module.available_datasets = lambda: ['tiny', 'tinygood']
    module.get_dataset = lambda name: data if name == 'tiny' else SequenceList(data[:2])
    monkeypatch.setitem(sys.modules, 'lib.test.evaluation.datasets', module)
    return data


def test_cli_runs_and_exits_nonzero_on_failures(tmp_path, fake_datasets, capsys):
    res = str(tmp_path / 'res')
    assert cli_main(['firstbox', 'default', '--dataset', 'tinygood', '--results_path', res]) == 0
    assert (
        cli_main(['firstbox', 'default', '--dataset_name', 'tiny', '--runid', '2', '--results_path', res])
        == 1
    )
    captured = capsys.readouterr()
    assert (
        'tbad' in captured.out and '00000001.jpg' in captured.out and '1 sequence(s) failed' in captured.err
    )
    assert (tmp_path / 'res' / 'firstbox' / 'default_002' / 't2.txt').is_file()


def test_cli_sequence_selection(tmp_path, fake_datasets):
    res = tmp_path / 'res'
    assert (
        cli_main(['firstbox', 'default', '--dataset', 'tiny', '--sequence', '1', '--results_path', str(res)])
        == 0
    )
    assert sorted(os.listdir(res / 'firstbox' / 'default')) == ['t2.txt', 't2_time.txt']
    assert (
        cli_main(['firstbox', 'p', '--dataset', 'tiny', '--sequence', 't1', '--results_path', str(res)]) == 0
    )
    assert sorted(os.listdir(res / 'firstbox' / 'p')) == ['t1.txt', 't1_time.txt']


@pytest.mark.parametrize(
    'argv, expected',
    [
        (['firstbox', 'default', '--dataset', 'nope'], "unknown dataset 'nope'"),
        (['nosuch', 'default', '--dataset', 'tiny'], 'firstbox'),
        (['ostrack', 'no_such_config_xyz', '--dataset', 'tiny'], 'ostrack'),
        (['firstbox', 'default', '--dataset', 'tiny', '--sequence', 'zzz'], 'zzz'),
        (['firstbox', 'default', '--dataset', 'tiny', '--sequence', '9'], 'out of range'),
        (['firstbox', 'default', '--dataset', 'tiny', '--checkpoint', '/no/such.pth'], '/no/such.pth'),
    ],
)
def test_cli_user_errors(tmp_path, fake_datasets, capsys, argv, expected):
    assert cli_main(argv + ['--results_path', str(tmp_path / 'res')]) == 2
    err = capsys.readouterr().err
    assert err.startswith('error:') and expected in err
    assert not (tmp_path / 'res').exists()


def test_dead_worker_fails_its_sequence_only(tmp_path):
    from runner_helpers import crashing_reader

    data = make_dataset(tmp_path / 'data', [('ok1', 2), ('ok2', 2)])
    data.insert(1, Sequence('crash', ['x0', 'x1'], 'lasot', [INIT_BOX], image_reader=crashing_reader))
    summary = run_dataset(
        data, [Tracker('firstbox', 'default', results_path=str(tmp_path / 'res'))], threads=1
    )
    assert sorted(name for _, name in summary.done) == ['ok1', 'ok2']
    assert [(name, 'died (exit code 3)' in msg) for _, name, msg in summary.failed] == [('crash', True)]
