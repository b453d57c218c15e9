"""Tracking a box through a video file (tracking/video_demo.py).

    python tracking/video_demo.py ostrack vitb_256_mae_ce_32x4_ep300 clip.mp4 --optional_box 100 80 40 60

The annotated video is written atomically (mp4v). Without --optional_box the first-frame box is
picked with cv2.selectROI, which needs a display; on a headless machine the box must be given.
"""

import argparse
import contextlib
import os
import sys
import tempfile

import cv2
import numpy as np

from lib.test.tracker.debug import draw_boxes


class VideoError(RuntimeError):
    """The video cannot be read or written."""


def display_available():
    """True when OpenCV has a GUI backend and (on Linux) a display to open windows on."""
    gui_lines = [line for line in cv2.getBuildInformation().splitlines() if line.strip().startswith('GUI:')]
    if gui_lines and gui_lines[0].split(':', 1)[1].strip().upper() == 'NONE':
        return False
    if sys.platform.startswith('linux'):
        return bool(os.environ.get('DISPLAY') or os.environ.get('WAYLAND_DISPLAY'))
    return True


@contextlib.contextmanager
def atomic_output_path(path):
    """Yields a temporary path beside `path` (same extension, so writers pick the same container) and
    renames it to `path` only if the block succeeds."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        dir=folder, prefix='.' + os.path.basename(path) + '.', suffix='.tmp' + os.path.splitext(path)[1]
    )
    os.close(fd)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)


def open_video(path):
    if not os.path.isfile(path):
        raise VideoError(f'video file not found: {path}')
    capture = cv2.VideoCapture(path)
    if not capture.isOpened():
        raise VideoError(f'cannot open video {path} (not a video file, or no codec for it)')
    return capture


def read_first_frame(path):
    """RGB uint8 first frame of the video."""
    capture = open_video(path)
    try:
        ok, bgr = capture.read()
    finally:
        capture.release()
    if not ok:
        raise VideoError(f'video {path} has no readable frames')
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def select_box(frame_rgb):
    """Lets the user draw the initial box; needs a display."""
    if not display_available():
        raise VideoError('no display available to select the initial box: pass --optional_box x y w h')
    x, y, w, h = cv2.selectROI(
        'Select the target, then press ENTER',
        cv2.cvtColor(frame_rgb, cv2.COLOR_RGB2BGR),
        fromCenter=False,
        showCrosshair=True,
    )
    cv2.destroyAllWindows()
    if w <= 0 or h <= 0:
        raise VideoError('no box selected')
    return [float(x), float(y), float(w), float(h)]


def check_box(box, frame_shape):
    box = [float(v) for v in box]
    height, width = frame_shape[:2]
    if len(box) != 4 or box[2] <= 0 or box[3] <= 0:
        raise VideoError(f'initial box must be x y w h with w, h > 0, got {box}')
    if box[0] >= width or box[1] >= height or box[0] + box[2] <= 0 or box[1] + box[3] <= 0:
        raise VideoError(f'initial box {box} lies outside the {width}x{height} frame')
    return box


def track_video(tracker_impl, video_path, init_box, output_path=None, show=False, fourcc='mp4v'):
    """Tracks `init_box` (x, y, w, h in frame 0) through the video; returns (N, 4) float boxes.

    output_path: annotated video written atomically (None: no video). show: display the frames
    (press q to stop early).
    """
    capture = open_video(video_path)
    fps = capture.get(cv2.CAP_PROP_FPS) or 30.0
    boxes = []
    try:
        with contextlib.ExitStack() as stack:
            writer = None
            if output_path is not None:
                tmp = stack.enter_context(atomic_output_path(output_path))
            while True:
                ok, bgr = capture.read()
                if not ok:
                    break
                rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
                if not boxes:
                    box = check_box(init_box, rgb.shape)
                    tracker_impl.initialize(rgb, {'init_bbox': box})
                else:
                    box = [float(v) for v in tracker_impl.track(rgb)['target_bbox']]
                boxes.append(box)
                annotated = cv2.cvtColor(draw_boxes(rgb, [box], thickness=3), cv2.COLOR_RGB2BGR)
                if output_path is not None:
                    if writer is None:
                        writer = open_video_writer(tmp, fourcc, fps, annotated.shape)
                        stack.callback(writer.release)
                    writer.write(annotated)
                if show:
                    cv2.imshow('OneStream video demo (q quits)', annotated)
                    if cv2.waitKey(1) & 0xFF == ord('q'):
                        break
            if not boxes:
                raise VideoError(f'video {video_path} has no readable frames')
    finally:
        capture.release()
        if show:
            cv2.destroyAllWindows()
    return np.asarray(boxes, dtype=np.float64).reshape(-1, 4)


def open_video_writer(path, fourcc, fps, shape):
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*fourcc), fps, (shape[1], shape[0]))
    if not writer.isOpened():
        raise VideoError(f'cannot write video {path} with codec {fourcc}')
    return writer


def build_parser():
    parser = argparse.ArgumentParser(
        prog='tracking/video_demo.py', description='Track a box through a video.'
    )
    parser.add_argument('tracker_name')
    parser.add_argument('tracker_param')
    parser.add_argument('videofile')
    parser.add_argument(
        '--optional_box',
        type=float,
        nargs=4,
        metavar=('X', 'Y', 'W', 'H'),
        default=None,
        help='initial box in the first frame (default: select it in a window)',
    )
    parser.add_argument(
        '--save_video', default=None, help='annotated output video (default ./<video>_<tracker>_<config>.mp4)'
    )
    parser.add_argument(
        '--save_results',
        action='store_true',
        help='also write the boxes to <results_path>/<tracker>/<config>/video_<video>.txt',
    )
    parser.add_argument('--results_path', default=None, help='results root (default: from local.py)')
    parser.add_argument('--checkpoint', default=None)
    parser.add_argument('--debug', type=int, default=0)
    parser.add_argument('--show', action='store_true', help='display the frames while tracking')
    return parser


def main(argv=None):
    from lib.test.evaluation import results
    from lib.test.evaluation.tracker import Tracker
    from lib.test.tracker import check_tracker

    args = build_parser().parse_args(argv)
    stem = os.path.splitext(os.path.basename(args.videofile))[0]
    output = args.save_video or f'{stem}_{args.tracker_name}_{args.tracker_param}.mp4'
    try:
        check_tracker(args.tracker_name, args.tracker_param)
        if args.checkpoint is not None and not os.path.isfile(args.checkpoint):
            raise VideoError(f'--checkpoint {args.checkpoint}: no such file')
        first = read_first_frame(args.videofile)
        init_box = check_box(args.optional_box, first.shape) if args.optional_box else select_box(first)
        evaluation = Tracker(
            args.tracker_name,
            args.tracker_param,
            'video',
            checkpoint=args.checkpoint,
            results_path=args.results_path,
        )
        results_file = (
            os.path.join(evaluation.results_dir, f'video_{stem}.txt') if args.save_results else None
        )
        tracker_impl = evaluation.build(debug=args.debug)
    except (ValueError, OSError, RuntimeError) as e:
        print(f'error: {e}', file=sys.stderr)
        return 2
    if hasattr(tracker_impl, 'start_sequence'):
        tracker_impl.start_sequence(f'video_{stem}')
    boxes = track_video(tracker_impl, args.videofile, init_box, output_path=output, show=args.show)
    print(f'Tracked {len(boxes)} frames; annotated video: {output}')
    if results_file is not None:
        results.write_boxes(results_file, boxes)
        print(f'Boxes: {results_file}')
    return 0
