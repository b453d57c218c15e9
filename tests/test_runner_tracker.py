"""Tracker registry, BaseTracker helpers, the firstbox baseline, DebugSink and the video demo."""

import os
import sys
import types

import cv2
import numpy as np
import pytest
import torch

from lib.test.evaluation import results
from lib.test.evaluation.video import main as video_main
from lib.test.tracker import UnknownTrackerError, build_tracker
from lib.test.tracker.base_tracker import BaseTracker, clip_to_image, crop_box_to_image, hann1d, hann2d
from lib.test.tracker.debug import DebugSink


def test_build_tracker_unknown_lists_known_names():
    with pytest.raises(UnknownTrackerError) as info:
        build_tracker('nosuch', 'default')
    for name in ('ostrack', 'droptrack', 'lorat', 'compresstracker', 'firstbox'):
        assert name in str(info.value)
    from lib.test.evaluation.tracker import Tracker

    with pytest.raises(UnknownTrackerError, match='nosuch'):
        Tracker('nosuch', 'default')


def test_registered_but_absent_module(monkeypatch):
    from lib import families

    monkeypatch.setitem(families.BUILTIN, 'ghosttracker', 'lib.test.tracker.ghosttracker:GHOST')
    with pytest.raises(UnknownTrackerError, match='lib.test.tracker.ghosttracker is not present'):
        build_tracker('ghosttracker', 'default')


def test_firstbox_returns_initial_box_and_is_a_base_tracker():
    tracker = build_tracker('firstbox', 'any_name_at_all', device='cpu')
    assert isinstance(tracker, BaseTracker) and tracker.device == torch.device('cpu')
    image = np.zeros((40, 50, 3), np.uint8)
    tracker.initialize(image, {'init_bbox': [1.5, 2, 3, 4]})
    for _ in range(3):
        assert tracker.track(image)['target_bbox'] == [1.5, 2.0, 3.0, 4.0]
    with pytest.raises(RuntimeError, match='before initialize'):
        build_tracker('firstbox', 'default').track(image)


def test_hann_windows():
    np.testing.assert_allclose(hann1d(3).numpy(), [0.5, 1.0, 0.5], atol=1e-6)  # 0.5(1-cos(2 pi k/4)), k=1..3
    window = hann2d(3)
    assert window.shape == (1, 1, 3, 3)
    np.testing.assert_allclose(window[0, 0].numpy(), np.outer([0.5, 1, 0.5], [0.5, 1, 0.5]), atol=1e-6)
    assert hann2d((4, 6)).shape == (1, 1, 4, 6) and bool((hann2d(16) > 0).all())
    assert hann2d(16).data_ptr() == hann2d(16).data_ptr()  # cached
    # Not centred: peak at index 0, wrapping around: 0.5(1+cos(2 pi k/6)) for k = 0, 1, 2, then mirrored.
    np.testing.assert_allclose(hann1d(4, centered=False).numpy(), [1.0, 0.75, 0.25, 0.75], atol=1e-6)


def test_crop_box_to_image_and_clip():
    # Previous box centred at (110, 70); the crop covers 64 image px (128 crop px, 2 crop px per image px).
    assert crop_box_to_image([0.5, 0.5, 0.25, 0.125], [100, 50, 20, 40], 2.0, 128) == [102, 66, 16, 8]
    assert crop_box_to_image([64, 0, 16, 8], [100, 50, 20, 40], 2.0, 128, normalized=False) == [106, 36, 8, 4]
    image = np.zeros((100, 200, 3), np.uint8)
    assert clip_to_image([-5, 95, 3, 30], image) == [0, 90, 10, 10]


def test_debug_sink_writes_pngs_once_announced(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr('lib.test.tracker.debug.visdom_server_running', lambda *a, **k: False)
    sink = DebugSink('mytracker', save_dir=str(tmp_path), sequence='seq1')
    assert sink.visdom is None
    sink.image('search', np.zeros((10, 12, 3), np.uint8), boxes=[[1, 1, 5, 5]])
    sink.heatmap('score', torch.rand(1, 1, 6, 6))
    sink.image('search', np.zeros((10, 12, 3), np.uint8))
    sink.set_sequence('seq2')
    sink.heatmap('score', np.ones((4, 4)))
    folder = tmp_path / 'debug' / 'mytracker'
    assert sorted(os.listdir(folder / 'seq1')) == ['score_00000.png', 'search_00000.png', 'search_00001.png']
    assert os.listdir(folder / 'seq2') == ['score_00000.png']
    drawn = cv2.imread(str(folder / 'seq1' / 'search_00000.png'))
    assert drawn[1, 3].sum() > 0 and drawn[8, 10].sum() == 0  # box edge drawn, the rest untouched
    assert capsys.readouterr().out.count('writing debug images') == 1
    with pytest.raises(ValueError, match='2-D'):
        sink.heatmap('bad', np.zeros((2, 3, 4)))


def test_debug_sink_uses_visdom_when_server_answers(tmp_path, monkeypatch):
    calls = []

    class FakeVisdom:
        def __init__(self, **kwargs):
            calls.append(('init', kwargs['env']))

        def image(self, array, win, opts):
            calls.append(('image', win, array.shape))

        def heatmap(self, array, win, opts):
            calls.append(('heatmap', win, array.shape))

    monkeypatch.setitem(sys.modules, 'visdom', types.SimpleNamespace(Visdom=FakeVisdom))
    monkeypatch.setattr('lib.test.tracker.debug.visdom_server_running', lambda *a, **k: True)
    sink = DebugSink('vt', save_dir=str(tmp_path))
    sink.image('frame', np.zeros((10, 12, 3), np.uint8))
    sink.heatmap('score', np.zeros((1, 5, 7)))
    assert calls == [('init', 'vt'), ('image', 'frame', (3, 10, 12)), ('heatmap', 'score', (5, 7))]
    assert not (tmp_path / 'debug').exists()


def write_video(path, n_frames=8, size=(48, 64)):
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*'mp4v'), 10.0, (size[1], size[0]))
    assert writer.isOpened()
    for i in range(n_frames):
        frame = np.full((*size, 3), 40, np.uint8)
        frame[10:20, 5 + 3 * i : 15 + 3 * i] = 220
        writer.write(frame)
    writer.release()


def count_video_frames(path):
    capture = cv2.VideoCapture(str(path))
    n = 0
    while capture.read()[0]:
        n += 1
    capture.release()
    return n


def test_video_demo_with_optional_box(tmp_path, capsys):
    video = tmp_path / 'clip.mp4'
    write_video(video)
    out = tmp_path / 'out' / 'annotated.mp4'
    rc = video_main(
        [
            'firstbox',
            'default',
            str(video),
            '--optional_box',
            '5',
            '10',
            '10',
            '10',
            '--save_video',
            str(out),
            '--save_results',
            '--results_path',
            str(tmp_path / 'res'),
        ]
    )
    assert rc == 0
    assert count_video_frames(out) == 8
    assert os.listdir(tmp_path / 'out') == ['annotated.mp4']  # no temporary file left
    boxes = results.read_boxes(tmp_path / 'res' / 'firstbox' / 'default' / 'video_clip.txt')
    np.testing.assert_allclose(boxes, np.tile([5, 10, 10, 10], (8, 1)))
    assert str(out) in capsys.readouterr().out


def test_video_demo_errors(tmp_path, monkeypatch, capsys):
    video = tmp_path / 'clip.mp4'
    write_video(video, n_frames=2)
    monkeypatch.setattr('lib.test.evaluation.video.display_available', lambda: False)
    out = tmp_path / 'o.mp4'
    assert video_main(['firstbox', 'default', str(video), '--save_video', str(out)]) == 2
    assert '--optional_box' in capsys.readouterr().err
    assert (
        video_main(
            [
                'firstbox',
                'default',
                str(tmp_path / 'missing.mp4'),
                '--optional_box',
                '1',
                '1',
                '5',
                '5',
                '--save_video',
                str(out),
            ]
        )
        == 2
    )
    assert 'missing.mp4' in capsys.readouterr().err
    assert (
        video_main(
            [
                'firstbox',
                'default',
                str(video),
                '--optional_box',
                '500',
                '1',
                '5',
                '5',
                '--save_video',
                str(out),
            ]
        )
        == 2
    )
    assert 'outside' in capsys.readouterr().err
    assert not out.exists()
