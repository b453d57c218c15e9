"""tracking/vis_results.py on a generated sequence of solid-colour frames: boxes where the result files
put them (PNG exactly, MP4 approximately), the legend and per-frame IoU text, frame selection, run ids,
the got10k sub-folder, atomic output and the exit-2 errors."""

import os
import subprocess
import sys

import cv2
import numpy as np
import pytest

from lib.test.analysis import visualize
from lib.test.evaluation import results
from lib.test.evaluation.data import Sequence, SequenceList
from lib.utils.image_io import write_image

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BACKGROUND = (40, 40, 160)  # RGB; no box, band or text colour
SIZE = (160, 120)  # width, height
N_FRAMES = 8
GT = [10.0, 10.0, 40.0, 30.0]  # x1,y1,x2,y2 = 10,10,50,40
A = [30.0, 20.0, 40.0, 30.0]  # 30,20,70,50: IoU with GT = 400 / 2000 = 0.2
A_FRAME5 = [32.0, 20.0, 40.0, 30.0]  # IoU 360 / 2040
B = [100.0, 60.0, 40.0, 40.0]  # 100,60,140,100: IoU 0
NAN_GT_FRAME, HIDDEN_FRAME = 3, 4

# (x, y) image pixels on each box's edges, away from every other box's edges, and inside each box
GT_EDGES = [(10, 25), (30, 10)]
GT_INSIDE = (20, 15)
A_EDGES = [(70, 35), (50, 50), (60, 20)]
A_INSIDE = (60, 45)
B_EDGES = [(100, 80), (140, 80), (120, 60), (120, 100)]
B_INSIDE = (120, 80)
VERTICAL = {(10, 25), (70, 35), (72, 35), (100, 80), (140, 80)}  # on a left or right edge


def assert_edge(image, x, y, color, where):
    """image[y, x] has `color`, and the pixels 2 px off the edge on both sides are background: a 2-px line
    covers the edge coordinate +-1, so a box drawn 1 px off fails here."""
    assert tuple(image[y, x]) == tuple(color), (where, x, y)
    dx, dy = (2, 0) if (x, y) in VERTICAL else (0, 2)
    for sx, sy in ((x - dx, y - dy), (x + dx, y + dy)):
        assert tuple(image[sy, sx]) == BACKGROUND, (where, x, y, sx, sy)


def a_boxes():
    boxes = [A] * N_FRAMES
    boxes[5] = A_FRAME5
    return boxes


def write_result(root, name, param, seq, boxes, run_id=None, label='lasot'):
    folder = results.sequence_results_dir(str(root), name, param, run_id, label)
    path = results.box_file(folder, seq)
    results.write_boxes(path, boxes)
    return path


def make_sequence(root, name='seq', n_frames=N_FRAMES, label='lasot'):
    folder = os.path.join(root, name)
    os.makedirs(folder, exist_ok=True)
    image = np.empty((SIZE[1], SIZE[0], 3), dtype=np.uint8)
    image[:] = BACKGROUND
    frames = []
    for i in range(n_frames):
        path = os.path.join(folder, f'{i + 1:08d}.png')  # lossless, so the PNG sheet can be checked exactly
        write_image(path, image)
        frames.append(path)
    gt = np.array([GT] * n_frames)
    visible = np.ones(n_frames, dtype=bool)
    if n_frames > HIDDEN_FRAME:
        gt[NAN_GT_FRAME] = np.nan
        visible[HIDDEN_FRAME] = False
    return Sequence(name, frames, label, gt, target_visible=visible)


@pytest.fixture
def setup(tmp_path):
    seq = make_sequence(str(tmp_path / 'data'))
    res = tmp_path / 'results'
    write_result(res, 'a', 'cfg', 'seq', a_boxes())
    write_result(res, 'b', 'cfg', 'seq', [B] * N_FRAMES, run_id=1)  # read through NAME:PARAM:RUNID
    return SequenceList([seq]), res, tmp_path


def run(dataset, res, output, *extra, trackers=('a:cfg', 'b:cfg:1:Bee')):
    argv = ['--sequence', 'seq', '--trackers', *trackers, '--results_path', str(res), '--output', str(output)]
    return visualize.main([*argv, *extra], dataset=dataset)


def read_rgb(path):
    return cv2.cvtColor(cv2.imread(str(path), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def read_video(path):
    capture = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, bgr = capture.read()
        if not ok:
            break
        frames.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    capture.release()
    return frames


def legend_row(canvas, layout, row):
    top = layout.row_tops[row]
    return canvas[top : top + visualize.ROW_HEIGHT]


def swatch_pixel(canvas, layout, row):
    top = layout.row_tops[row]
    return canvas[top + visualize.ROW_HEIGHT // 2, visualize.PAD + visualize.SWATCH // 2]


def test_png_sheet_boxes_legend_and_iou(setup, capsys):
    dataset, res, tmp = setup
    out = tmp / 'sheet' / 'seq.png'
    assert run(dataset, res, out, '--sheet_frames', '8', '--columns', '3') == 0
    assert 'Written' in capsys.readouterr().out
    # what the run returns, recomputed the same way, for the layout and tile positions
    result = visualize.visualize(
        dataset[0], [('a', 'cfg'), ('b', 'cfg', 1, 'Bee')], str(tmp / 'again.png'), str(res), columns=3
    )
    assert result.frame_indices == list(range(N_FRAMES))
    layout, origins = result.layout, result.tile_origins
    sheet = read_rgb(out)
    tile_w, tile_h = layout.canvas_size
    assert layout.image_size == SIZE and tile_h > SIZE[1]
    assert sheet.shape == (3 * tile_h + 2 * visualize.SHEET_GAP, 3 * tile_w + 2 * visualize.SHEET_GAP, 3)
    np.testing.assert_array_equal(sheet, read_rgb(tmp / 'again.png'))

    red, blue = visualize.TRACKER_COLORS[0], visualize.TRACKER_COLORS[1]
    tiles = [sheet[y : y + tile_h, x : x + tile_w] for x, y in origins]
    for index, tile in enumerate(tiles):
        a_box = A_FRAME5 if index == 5 else A
        a_edges = [(int(a_box[0] + a_box[2]), 35)] + A_EDGES[1:] if index == 5 else A_EDGES
        for x, y in a_edges:
            assert_edge(tile, x, y, red, index)
        for x, y in B_EDGES:
            assert_edge(tile, x, y, blue, index)
        for x, y in GT_EDGES:
            if index in (NAN_GT_FRAME, HIDDEN_FRAME):
                assert tuple(tile[y, x]) == BACKGROUND, (index, x, y)
            else:
                assert_edge(tile, x, y, visualize.GT_COLOR, index)
        for x, y in (GT_INSIDE, A_INSIDE, B_INSIDE):
            assert tuple(tile[y, x]) == BACKGROUND, (index, x, y)
        # legend: a swatch in each box's colour, and text beside it
        assert tuple(swatch_pixel(tile, layout, 1)) == visualize.GT_COLOR
        assert tuple(swatch_pixel(tile, layout, 2)) == red
        assert tuple(swatch_pixel(tile, layout, 3)) == blue
        for row in range(4):
            text = legend_row(tile, layout, row)[:, visualize.PAD + visualize.SWATCH + visualize.PAD :]
            assert (text > 200).all(axis=2).sum() > 10, (index, row)

    # the frame index is drawn per frame; the IoU text changes exactly where the IoU does
    def same(i, j, row):
        return np.array_equal(legend_row(tiles[i], layout, row), legend_row(tiles[j], layout, row))

    assert not same(1, 2, 0)
    assert same(1, 2, 1) and same(1, 2, 2) and same(1, 2, 3)  # same boxes, same IoUs
    assert not same(2, NAN_GT_FRAME, 1) and not same(2, NAN_GT_FRAME, 2) and not same(2, NAN_GT_FRAME, 3)
    assert not same(2, HIDDEN_FRAME, 2) and not same(2, HIDDEN_FRAME, 3)
    assert not same(NAN_GT_FRAME, HIDDEN_FRAME, 1)  # 'no box' vs 'not visible'
    assert same(NAN_GT_FRAME, HIDDEN_FRAME, 2)  # both 'IoU n/a'
    assert not same(2, 5, 2) and same(2, 5, 3)  # only tracker a's IoU changes on frame 5

    ious = result.ious
    assert ious[0] == pytest.approx([0.2, 0.0])
    assert ious[5, 0] == pytest.approx(360 / 2040)
    assert np.isnan(ious[NAN_GT_FRAME]).all() and np.isnan(ious[HIDDEN_FRAME]).all()
    assert not [f for f in os.listdir(out.parent) if f != 'seq.png']  # no temporary file left


def test_mp4_frames_size_and_boxes(setup):
    dataset, res, tmp = setup
    out = tmp / 'seq.mp4'
    png = tmp / 'seq_frames.png'
    assert run(dataset, res, out, '--frames', '1:8:2', '--fps', '10') == 0
    assert run(dataset, res, png, '--frames', '1:8:2', '--columns', '4') == 0
    frames = read_video(out)
    assert len(frames) == 4  # frames 1, 3, 5, 7
    layout = visualize.plan_layout(SIZE, ['a_cfg', 'Bee'], 'seq', N_FRAMES)
    assert frames[0].shape == (layout.canvas_size[1], layout.canvas_size[0], 3)
    assert cv2.VideoCapture(str(out)).get(cv2.CAP_PROP_FPS) == pytest.approx(10)

    def close(pixel, color, tol=60):
        return np.abs(pixel.astype(int) - np.asarray(color)).max() <= tol

    red, blue = visualize.TRACKER_COLORS[0], visualize.TRACKER_COLORS[1]
    tile_w, tile_h = layout.canvas_size
    sheet = read_rgb(png)
    for k, (frame, index) in enumerate(zip(frames, [1, 3, 5, 7])):
        for x, y in A_EDGES[1:]:
            assert close(frame[y, x], red), (index, x, y)
        for x, y in B_EDGES:
            assert close(frame[y, x], blue), (index, x, y)
        gt_color = BACKGROUND if index == NAN_GT_FRAME else visualize.GT_COLOR
        for x, y in GT_EDGES:
            assert close(frame[y, x], gt_color), (index, x, y)
        for x, y in (GT_INSIDE, A_INSIDE, B_INSIDE):
            assert close(frame[y, x], BACKGROUND, tol=30), (index, x, y)
        # the whole frame matches the losslessly written tile of the same frame, up to compression
        x0 = k * (tile_w + visualize.SHEET_GAP)
        tile = sheet[:tile_h, x0 : x0 + tile_w]
        assert np.abs(frame.astype(int) - tile.astype(int)).mean() < 8, index


def test_sheet_samples_frames_evenly(setup):
    dataset, res, tmp = setup
    result = visualize.visualize(
        dataset[0], [('a', 'cfg')], str(tmp / 's.png'), str(res), frames=slice(None, None, 2), sheet_frames=3
    )
    assert result.frame_indices == [0, 4, 6]
    assert len(result.tile_origins) == 3
    sheet = read_rgb(tmp / 's.png')
    assert sheet.shape[1] == 2 * result.layout.canvas_size[0] + visualize.SHEET_GAP  # ceil(sqrt(3)) columns


def test_parse_helpers():
    assert visualize.parse_tracker_arg('t:c') == ('t', 'c', None, None)
    assert visualize.parse_tracker_arg('t:c:2') == ('t', 'c', 2, None)
    assert visualize.parse_tracker_arg('t:c:Mine') == ('t', 'c', None, 'Mine')
    assert visualize.parse_tracker_arg('t:c:3:Mine') == ('t', 'c', 3, 'Mine')
    assert visualize.parse_tracker_arg('t:c::Mine') == ('t', 'c', None, 'Mine')
    for bad in ('t', ':c', 't:c:x:y', 't:c:1:2:3'):
        with pytest.raises(visualize.VisError):
            visualize.parse_tracker_arg(bad)
    frames = list(range(10))
    assert frames[visualize.parse_frames('2:8:3')] == [2, 5]
    assert frames[visualize.parse_frames('::4')] == [0, 4, 8]
    assert frames[visualize.parse_frames('7')] == [7]
    assert frames[visualize.parse_frames('-1')] == [9]
    for bad in ('a:b', '1:2:0', '1:2:3:4'):
        with pytest.raises(visualize.VisError):
            visualize.parse_frames(bad)


def test_run_ids_and_got10k_subfolder(tmp_path, capsys):
    seq = make_sequence(str(tmp_path / 'data'), 'g1', n_frames=2, label='got10k')
    res = tmp_path / 'results'
    path = write_result(res, 'a', 'cfg', 'g1', [A, A], run_id=2, label='got10k')
    assert os.path.join('cfg_002', 'got10k', 'g1.txt') in path
    out = tmp_path / 'g.png'
    argv = ['--sequence', '0', '--results_path', str(res), '--output', str(out)]
    assert visualize.main([*argv, '--trackers', 'a:cfg', '--runid', '2'], dataset=SequenceList([seq])) == 0
    assert out.is_file()
    assert visualize.main([*argv, '--trackers', 'a:cfg'], dataset=SequenceList([seq])) == 2
    expected = os.path.join(str(res), 'a', 'cfg', 'got10k', 'g1.txt')
    assert expected in capsys.readouterr().err


def test_errors_exit_2_and_name_the_problem(setup, capsys):
    dataset, res, tmp = setup

    def error(*argv, trackers=('a:cfg',)):
        out = argv[0] if argv else tmp / 'o.mp4'
        assert run(dataset, res, out, *argv[1:], trackers=trackers) == 2
        return capsys.readouterr().err

    base = ['--trackers', 'a:cfg', '--results_path', str(res), '--output', str(tmp / 'o.mp4')]
    assert visualize.main(['--sequence', 'nosuch', *base], dataset=dataset) == 2
    err = capsys.readouterr().err
    assert "no sequence named 'nosuch'" in err and 'seq' in err
    assert visualize.main(['--sequence', '5', *base], dataset=dataset) == 2
    assert 'has 1 sequences' in capsys.readouterr().err

    err = error(trackers=('a:cfg', 'c:cfg'))
    assert os.path.join(str(res), 'c', 'cfg', 'seq.txt') in err
    err = error(trackers=('b:cfg',))  # b exists only as run 1
    assert os.path.join(str(res), 'b', 'cfg', 'seq.txt') in err

    short = write_result(res, 'd', 'cfg', 'seq', [B] * (N_FRAMES - 1))
    err = error(trackers=('d:cfg',))
    assert short in err and f'{N_FRAMES - 1} lines' in err and f'{N_FRAMES} frames' in err

    blocker = tmp / 'a_file'
    blocker.write_text('not a folder')
    err = error(blocker / 'out.mp4')
    assert str(blocker / 'out.mp4') in err and 'cannot write output' in err
    assert 'unknown extension' in error(tmp / 'out.gif')
    assert 'selects no frame' in error(tmp / 'o.mp4', '--frames', '20:30')
    assert not (tmp / 'o.mp4').exists()


def test_failure_midway_keeps_the_old_output(setup, capsys):
    dataset, res, tmp = setup
    out = tmp / 'keep.mp4'
    out.write_bytes(b'old')
    os.remove(dataset[0].frames[6])
    assert run(dataset, res, out) == 2
    assert dataset[0].frames[6] in capsys.readouterr().err
    assert out.read_bytes() == b'old'
    assert sorted(os.listdir(tmp)) == sorted(['data', 'results', 'keep.mp4'])  # no temporary file left


def test_entry_point_unknown_dataset():
    proc = subprocess.run(
        [
            sys.executable,
            'tracking/vis_results.py',
            '--dataset',
            'nosuch',
            '--sequence',
            '0',
            '--trackers',
            'a:b',
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stderr
    assert 'nosuch' in proc.stderr and 'lasot' in proc.stderr
    assert 'Traceback' not in proc.stderr


def test_scale_resizes_frames_and_boxes(setup):
    dataset, res, tmp = setup
    out = tmp / 'big.png'
    assert run(dataset, res, out, '--frames', '0', '--scale', '2', '--thickness', '3') == 0
    image = read_rgb(out)
    assert image.shape[1] >= 2 * SIZE[0]
    blue = visualize.TRACKER_COLORS[1]
    for x, y in B_EDGES:
        assert tuple(image[2 * y, 2 * x]) == blue, (x, y)
    for x, y in (GT_INSIDE, A_INSIDE, B_INSIDE):
        assert tuple(image[2 * y, 2 * x]) == BACKGROUND, (x, y)
    assert tuple(image[2 * 80, 2 * 100 - 3]) == BACKGROUND  # a 3-px line covers the edge +-2 only
