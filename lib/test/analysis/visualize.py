"""tracking/vis_results.py: draw saved results of one or more trackers and the ground truth on the frames
of one sequence, to a video (mp4v) or a PNG contact sheet. Headless: OpenCV only, no display, no visdom.

Result files are found exactly as the analysis finds them (lib/test/analysis/extract.py: run ids and the
got10k/ and trackingnet/ sub-folders). Each drawn frame is the (optionally scaled) image with the ground
truth and every tracker's box, above a legend band: the frame index, one row per box with its colour,
and each tracker's IoU with the ground truth on that frame ('n/a' where the target is not visible or the
ground-truth box is missing). The band sits below the image, not on it, so it never hides a box.
"""

import argparse
import math
import os
import sys
from collections.abc import Iterable
from dataclasses import dataclass, replace

import cv2
import numpy as np

from lib.test.evaluation.data import Sequence

GT_COLOR = (0, 255, 0)  # RGB
TRACKER_COLORS = (
    (255, 0, 0),
    (0, 128, 255),
    (255, 255, 0),
    (255, 0, 255),
    (0, 255, 255),
    (255, 128, 0),
    (160, 32, 240),
    (255, 255, 255),
)
BAND_COLOR = (32, 32, 32)  # legend band and the padding right of a narrow image
TEXT_COLOR = (240, 240, 240)
SHEET_GAP = 4  # pixels between the tiles of a contact sheet
SHEET_GAP_COLOR = (16, 16, 16)
FONT = cv2.FONT_HERSHEY_SIMPLEX
FONT_SCALE = 0.45
ROW_HEIGHT = 18
PAD = 6
SWATCH = 12
VIDEO_EXTENSIONS = ('.mp4', '.avi', '.mov', '.mkv')
SHEET_EXTENSIONS = ('.png', '.jpg', '.jpeg')

EPILOG = """\
trackers:  NAME:PARAM[:RUNID][:DISPLAY], e.g. mytracker:base_256  mytracker:base_256:2  trk:cfg:Ours
           (RUNID reads <param>_<RUNID:03d>, as --runids of analysis_results.py; --runid N applies to every
           tracker without its own). The result files are read where analysis_results.py reads them:
           <results_path>/<name>/<param>[_<runid>]/[got10k/|trackingnet/]<seq>.txt
output:    .mp4/.avi/.mov/.mkv -> a video of the selected frames; .png/.jpg -> a contact sheet of
           --sheet_frames frames sampled evenly from the selection (--columns per row). Written atomically.
frames:    --frames START:END:STEP, Python slice of the frame indices (0-based), e.g. 100:200, ::5, 42.

example:
  python tracking/vis_results.py --dataset lasot --sequence airplane-1 \\
      --trackers mytracker:base_256 other:large_384:Other --output airplane-1.mp4
"""


class VisError(ValueError):
    """A user error: unknown sequence, missing or malformed result file, unwritable output."""


@dataclass(frozen=True)
class TrackBoxes:
    label: str
    path: str
    boxes: np.ndarray  # (N, 4) x,y,w,h as read from the result file
    color: tuple


@dataclass(frozen=True)
class Layout:
    """Geometry of one drawn frame (pixels). The image sits at the top-left of the canvas; the legend band
    spans the full canvas width below it. row_tops: top of the header row, the ground-truth row, then one
    row per tracker, in canvas coordinates."""

    image_size: tuple  # (width, height) of the image part
    canvas_size: tuple  # (width, height) of the whole frame, both even (video encoders want even sizes)
    row_tops: tuple


@dataclass
class VisResult:
    output: str
    frame_indices: list  # sequence frame indices drawn, in order
    layout: Layout
    tile_origins: list | None = None  # contact sheet only: (x, y) of each tile's top-left corner
    ious: np.ndarray | None = None  # (N, T) IoU per sequence frame and tracker, NaN where n/a


def parse_tracker_arg(text: str) -> tuple:
    """'NAME:PARAM[:RUNID][:DISPLAY]' -> (name, param, run_id or None, display or None)."""
    parts = text.split(':')
    usage = (
        f'tracker {text!r}: expected NAME:PARAM, NAME:PARAM:RUNID, NAME:PARAM:DISPLAY or '
        f'NAME:PARAM:RUNID:DISPLAY'
    )
    if not 2 <= len(parts) <= 4 or not parts[0] or not parts[1]:
        raise VisError(usage)
    name, param, rest = parts[0], parts[1], parts[2:]
    run_id = display = None
    if len(rest) == 2:
        if rest[0]:
            if not rest[0].isdigit():
                raise VisError(usage)
            run_id = int(rest[0])
        display = rest[1] or None
    elif len(rest) == 1:
        if rest[0].isdigit():
            run_id = int(rest[0])
        else:
            display = rest[0] or None
    return name, param, run_id, display


def parse_frames(text: str | None) -> slice:
    """'START:END:STEP' (each part optional) or a single index -> slice."""
    if text is None or text.strip() == '':
        return slice(None)
    parts = text.split(':')
    try:
        values = [int(p) if p.strip() else None for p in parts]
    except ValueError:
        raise VisError(f'--frames {text!r}: expected START:END:STEP with integers, e.g. 0:100:5') from None
    if len(values) == 1:
        index = values[0]
        return slice(index, None if index == -1 else index + 1)
    if len(values) > 3:
        raise VisError(f'--frames {text!r}: expected at most START:END:STEP')
    if len(values) == 3 and values[2] == 0:
        raise VisError(f'--frames {text!r}: STEP must not be 0')
    return slice(*values)


def resolve_sequence(sequences: Iterable, key: str | int) -> Sequence:
    """A sequence of `sequences` by name, or by index when no sequence has that name."""
    sequences = list(sequences)
    if not sequences:
        raise VisError('the dataset has no sequences')
    names = [seq.name for seq in sequences]
    key_text = str(key)
    if key_text in names:
        return sequences[names.index(key_text)]
    try:
        index = int(key_text)
    except ValueError:
        index = None
    if index is not None:
        if -len(sequences) <= index < len(sequences):
            return sequences[index]
        raise VisError(
            f'sequence index {index} out of range: the dataset has {len(sequences)} sequences '
            f'(0-{len(sequences) - 1})'
        )
    shown = ', '.join(names[:20]) + (f', ... ({len(names)} in all)' if len(names) > 20 else '')
    raise VisError(f"no sequence named '{key_text}'; known: {shown} (or give an index 0-{len(names) - 1})")


def tracker_specs(trackers: Iterable, run_id: int | None = None, results_path: str | None = None) -> list:
    """TrackerSpecs with run_id filled in where a tracker has none; display names default to
    <name>_<param>[_<runid>] so that two runs of one config are told apart in the legend."""
    from lib.test.analysis.extract import as_tracker_spec

    specs = []
    for tracker in trackers:
        spec = as_tracker_spec(tracker, results_path)
        if spec.run_id is None and run_id is not None:
            spec = replace(spec, run_id=int(run_id))
        if spec.display_name is None and spec.run_id is not None:
            spec = replace(spec, display_name=f'{spec.name}_{spec.parameter_name}_{spec.run_id:03d}')
        specs.append(spec)
    return specs


def load_tracks(specs: list, seq: Sequence, results_path: str) -> list:
    """Reads every tracker's result file for `seq`; VisError naming the file when it is missing or does
    not have one line per frame."""
    from lib.test.analysis.extract import result_file
    from lib.test.evaluation import results

    tracks = []
    for i, spec in enumerate(specs):
        path = result_file(spec, seq, results_path)
        if not os.path.isfile(path):
            raise VisError(
                f"no result file for tracker {spec.label} on sequence '{seq.name}': expected {path}"
            )
        try:
            boxes = results.read_boxes(path)
        except ValueError as e:
            raise VisError(str(e)) from None
        if len(boxes) != len(seq.frames):
            raise VisError(
                f"{path}: {len(boxes)} lines but sequence '{seq.name}' has {len(seq.frames)} frames "
                f'(one x,y,w,h line per frame expected)'
            )
        tracks.append(TrackBoxes(spec.label, path, boxes, TRACKER_COLORS[i % len(TRACKER_COLORS)]))
    return tracks


def ground_truth_state(seq: Sequence) -> tuple:
    """((N, 4) GT boxes, NaN where there is none; (N,) bool 'target visible with a valid box'; (N,) notes
    for the legend: '' where valid, else 'not visible' or 'no box')."""
    n = len(seq.frames)
    gt = np.full((n, 4), np.nan)
    rows = min(n, len(seq.ground_truth_rect))  # test sets with withheld labels ship the first row only
    gt[:rows] = seq.ground_truth_rect[:rows]
    has_box = np.isfinite(gt).all(axis=1) & (np.nan_to_num(gt[:, 2]) > 0) & (np.nan_to_num(gt[:, 3]) > 0)
    visible = np.ones(n, dtype=bool)
    if seq.target_visible is not None and len(seq.target_visible) == n:
        visible = seq.target_visible.copy()
    notes = np.where(~visible, 'not visible', np.where(~has_box, 'no box', ''))
    return gt, has_box & visible, notes


def frame_ious(tracks: list, gt: np.ndarray, gt_valid: np.ndarray) -> np.ndarray:
    """(N, T) IoU of each tracker's box with the ground truth, NaN where the GT is not usable or the
    predicted box is NaN / has a negative size."""
    from lib.utils.box_ops import box_iou_xywh

    out = np.full((len(gt), len(tracks)), np.nan)
    gt_filled = np.nan_to_num(gt)
    for t, track in enumerate(tracks):
        pred = track.boxes
        pred_ok = np.isfinite(pred).all(axis=1) & (np.nan_to_num(pred[:, 2:]) >= 0).all(axis=1)
        ious = np.asarray(box_iou_xywh(np.nan_to_num(pred), gt_filled), dtype=np.float64)
        out[:, t] = np.where(pred_ok & gt_valid, ious, np.nan)
    return out


def _text_width(text: str) -> int:
    return cv2.getTextSize(text, FONT, FONT_SCALE, 1)[0][0]


def _header(seq_name: str, index: int, n_frames: int) -> str:
    return f'frame {index}  ({seq_name}, {n_frames} frames)'


def _gt_text(note: str) -> str:
    return f'ground truth ({note})' if note else 'ground truth'


def _even(value: int) -> int:
    return value + (value % 2)


def plan_layout(image_size: tuple, labels: list, seq_name: str, n_frames: int) -> Layout:
    """Canvas geometry, fixed for all frames of one output (a video cannot change size)."""
    width, height = image_size
    gt_labels = [_gt_text('not visible'), _gt_text('no box')]
    widest_label = max(_text_width(label) for label in [*labels, *gt_labels])
    row_width = PAD + SWATCH + PAD + widest_label + 2 * PAD + _text_width('IoU 0.000') + PAD
    header_width = PAD + _text_width(_header(seq_name, max(n_frames - 1, 0), n_frames)) + PAD
    n_rows = 2 + len(labels)
    band_height = n_rows * ROW_HEIGHT + PAD
    canvas = (_even(max(width, row_width, header_width)), _even(height + band_height))
    row_tops = tuple(height + PAD // 2 + r * ROW_HEIGHT for r in range(n_rows))
    return Layout((width, height), canvas, row_tops)


def _put_text(canvas, text, x, row_top, color=TEXT_COLOR):
    baseline_y = row_top + ROW_HEIGHT - 5
    cv2.putText(canvas, text, (x, baseline_y), FONT, FONT_SCALE, color, 1, cv2.LINE_AA)


def _swatch(canvas, row_top, color):
    top = row_top + (ROW_HEIGHT - SWATCH) // 2
    cv2.rectangle(canvas, (PAD, top), (PAD + SWATCH - 1, top + SWATCH - 1), color, -1)


def render_frame(
    image: np.ndarray,
    index: int,
    seq_name: str,
    n_frames: int,
    gt_box: np.ndarray,
    gt_note: str,
    tracks: list,
    ious: np.ndarray,
    layout: Layout,
    thickness: int = 2,
) -> np.ndarray:
    """RGB canvas of one frame: `image` resized to layout.image_size with the boxes (scaled alike) drawn,
    and the legend band. gt_box / track boxes are in the original image's pixels; gt_note '' draws the
    ground truth, any other note ('not visible', 'no box') is shown in the legend instead."""
    from lib.test.tracker.debug import draw_boxes

    width, height = layout.image_size
    src_h, src_w = image.shape[:2]
    sx, sy = width / src_w, height / src_h
    if (src_w, src_h) != (width, height):
        image = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)

    def scaled(box):
        box = np.asarray(box, dtype=np.float64)
        if not np.isfinite(box).all() or box[2] < 0 or box[3] < 0:
            return None  # nothing to draw; the legend says n/a
        return [box[0] * sx, box[1] * sy, box[2] * sx, box[3] * sy]

    boxes = [None if gt_note else scaled(gt_box)] + [scaled(track.boxes[index]) for track in tracks]
    colors = [GT_COLOR] + [track.color for track in tracks]
    drawn = draw_boxes(image, boxes, thickness=thickness, colors=colors)

    canvas = np.empty((layout.canvas_size[1], layout.canvas_size[0], 3), dtype=np.uint8)
    canvas[:] = BAND_COLOR
    canvas[:height, :width] = drawn
    tops = layout.row_tops
    _put_text(canvas, _header(seq_name, index, n_frames), PAD, tops[0])
    label_x = PAD + SWATCH + PAD
    _swatch(canvas, tops[1], GT_COLOR)
    _put_text(canvas, _gt_text(gt_note), label_x, tops[1])
    iou_x = layout.canvas_size[0] - PAD - _text_width('IoU 0.000')
    for t, track in enumerate(tracks):
        top = tops[2 + t]
        _swatch(canvas, top, track.color)
        _put_text(canvas, track.label, label_x, top)
        iou = ious[t]
        _put_text(canvas, 'IoU n/a' if np.isnan(iou) else f'IoU {iou:.3f}', iou_x, top)
    return canvas


def sample_evenly(indices: Iterable, count: int) -> list:
    """`count` entries of `indices` spread evenly, first and last included."""
    indices = list(indices)
    if count >= len(indices):
        return indices
    picks = np.round(np.linspace(0, len(indices) - 1, count)).astype(int)
    return [indices[i] for i in dict.fromkeys(picks.tolist())]


def check_writable(path: str) -> None:
    """Fails early, before any frame is drawn, when `path` cannot be written."""
    import tempfile

    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise VisError(f'cannot write output {path}: it is a folder')
    try:
        os.makedirs(folder, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix='.' + os.path.basename(path) + '.', suffix='.probe')
        os.close(fd)
        os.remove(tmp)
    except OSError as e:
        raise VisError(f'cannot write output {path}: {e.strerror or e}') from None


def _output_kind(path: str) -> str:
    ext = os.path.splitext(path)[1].lower()
    if ext in VIDEO_EXTENSIONS:
        return 'video'
    if ext in SHEET_EXTENSIONS:
        return 'sheet'
    raise VisError(
        f'output {path}: unknown extension {ext or "(none)"}; use {", ".join(VIDEO_EXTENSIONS)} for a video '
        f'or {", ".join(SHEET_EXTENSIONS)} for a contact sheet'
    )


def _write_video(path, canvases, fps, fourcc):
    from lib.test.evaluation.video import VideoError, atomic_output_path, open_video_writer

    with atomic_output_path(path) as tmp:
        writer = None
        try:
            for canvas in canvases:
                if writer is None:
                    try:
                        writer = open_video_writer(tmp, fourcc, fps, canvas.shape)
                    except VideoError:
                        raise VisError(f'cannot write video {path} with codec {fourcc}') from None
                writer.write(cv2.cvtColor(canvas, cv2.COLOR_RGB2BGR))
        finally:
            if writer is not None:
                writer.release()


def _write_sheet(path, tiles, columns, layout):
    from lib.utils.io import atomic_write_bytes

    tile_w, tile_h = layout.canvas_size
    rows = math.ceil(len(tiles) / columns)
    sheet = np.empty(
        (rows * tile_h + (rows - 1) * SHEET_GAP, columns * tile_w + (columns - 1) * SHEET_GAP, 3), np.uint8
    )
    sheet[:] = SHEET_GAP_COLOR
    origins = []
    for i, tile in enumerate(tiles):
        x, y = (i % columns) * (tile_w + SHEET_GAP), (i // columns) * (tile_h + SHEET_GAP)
        sheet[y : y + tile_h, x : x + tile_w] = tile
        origins.append((x, y))
    ok, encoded = cv2.imencode(os.path.splitext(path)[1].lower(), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
    if not ok:
        raise VisError(f'cannot encode the contact sheet as {path}')
    atomic_write_bytes(path, encoded.tobytes())
    return origins


def visualize(
    sequence: Sequence,
    trackers: Iterable,
    output: str,
    results_path: str | None = None,
    run_id: int | None = None,
    frames: slice | None = None,
    fps: float = 30.0,
    sheet_frames: int = 12,
    columns: int | None = None,
    thickness: int = 2,
    scale: float = 1.0,
    fourcc: str = 'mp4v',
) -> VisResult:
    """Draws the results of `trackers` (TrackerSpecs, (name, param[, run_id[, display]]) tuples or
    Tracker objects) on `sequence` (a lib.test.evaluation.data.Sequence) into `output` (video or
    contact sheet, by extension). results_path defaults to results_path of local.py."""
    from lib.utils.image_io import ImageReadError

    kind = _output_kind(output)
    if fps <= 0 or sheet_frames < 1 or (columns is not None and columns < 1) or thickness < 1 or scale <= 0:
        raise VisError('--fps, --sheet_frames, --columns, --thickness and --scale must be positive')
    specs = tracker_specs(trackers, run_id, results_path)
    if not specs:
        raise VisError('no trackers given')
    if results_path is None and any(s.results_path is None for s in specs):
        from lib.test.evaluation.environment import env_settings

        results_path = env_settings().results_path
    n_frames = len(sequence.frames)
    selected = list(range(n_frames))[frames if frames is not None else slice(None)]
    if not selected:
        raise VisError(f"--frames selects no frame of sequence '{sequence.name}' ({n_frames} frames)")
    tracks = load_tracks(specs, sequence, results_path)
    check_writable(output)
    gt, gt_valid, gt_notes = ground_truth_state(sequence)
    ious = frame_ious(tracks, gt, gt_valid)
    if kind == 'sheet':
        selected = sample_evenly(selected, sheet_frames)

    first = sequence.read_frame(selected[0])
    size = (max(1, round(first.shape[1] * scale)), max(1, round(first.shape[0] * scale)))
    layout = plan_layout(size, [t.label for t in tracks], sequence.name, n_frames)

    def canvases():
        for index in selected:
            image = first if index == selected[0] else sequence.read_frame(index)
            yield render_frame(
                image,
                index,
                sequence.name,
                n_frames,
                gt[index],
                str(gt_notes[index]),
                tracks,
                ious[index],
                layout,
                thickness,
            )

    try:
        if kind == 'video':
            _write_video(output, canvases(), fps, fourcc)
            return VisResult(output, selected, layout, ious=ious)
        cols = columns or math.ceil(math.sqrt(len(selected)))
        origins = _write_sheet(output, list(canvases()), min(cols, len(selected)), layout)
    except ImageReadError:
        raise  # a frame that cannot be read: its own message names the image
    except OSError as e:  # the folder was writable a moment ago: disk full, removed folder, ...
        raise VisError(f'cannot write output {output}: {e.strerror or e}') from None
    return VisResult(output, selected, layout, origins, ious)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog='tracking/vis_results.py',
        description='Draw saved tracker results and the ground truth on the frames of one sequence '
        '(headless), to a video or a PNG contact sheet.',
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument('--dataset', help='evaluation dataset name, as for tracking/test.py (e.g. lasot)')
    parser.add_argument('--sequence', required=True, help='sequence name, or its index in the dataset')
    parser.add_argument(
        '--trackers',
        nargs='+',
        required=True,
        metavar='NAME:PARAM[:RUNID][:DISPLAY]',
        help='trackers to draw',
    )
    parser.add_argument(
        '--runid', type=int, help='run id for every tracker without its own (<param>_<N:03d>)'
    )
    parser.add_argument(
        '--output', help='output .mp4 (video) or .png (contact sheet); default ./<dataset>_<sequence>.mp4'
    )
    parser.add_argument('--frames', metavar='START:END:STEP', help='frames to draw (default: all)')
    parser.add_argument('--results_path', help='results root (default: results_path of local.py)')
    parser.add_argument('--fps', type=float, default=30.0, help='video frame rate (default 30)')
    parser.add_argument('--fourcc', default='mp4v', help='video codec (default mp4v)')
    parser.add_argument('--sheet_frames', type=int, default=12, help='frames on a contact sheet (default 12)')
    parser.add_argument('--columns', type=int, help='contact sheet columns (default: about the square root)')
    parser.add_argument('--thickness', type=int, default=2, help='box line width in pixels (default 2)')
    parser.add_argument(
        '--scale', type=float, default=1.0, help='resize the frames by this factor (default 1)'
    )
    return parser


def main(argv: list | None = None, dataset: Iterable | None = None) -> int:
    """CLI entry; `dataset` (a SequenceList) replaces the --dataset lookup, for tests. Returns the exit code
    (2 for a user error, with one line on stderr)."""
    from lib.utils.image_io import ImageReadError
    from lib.utils.local_settings import LocalSettingsMissing

    args = build_parser().parse_args(argv)
    try:
        if dataset is None:
            if not args.dataset:
                raise VisError('--dataset is required')
            from lib.test.evaluation.datasets import get_dataset

            dataset = get_dataset(args.dataset)
        seq = resolve_sequence(dataset, args.sequence)
        label = args.dataset or seq.dataset
        output = args.output or f'{label}_{seq.name}.mp4'
        result = visualize(
            seq,
            [parse_tracker_arg(t) for t in args.trackers],
            output,
            results_path=args.results_path,
            run_id=args.runid,
            frames=parse_frames(args.frames),
            fps=args.fps,
            sheet_frames=args.sheet_frames,
            columns=args.columns,
            thickness=args.thickness,
            scale=args.scale,
            fourcc=args.fourcc,
        )
    except (VisError, ValueError, FileNotFoundError, ImageReadError, LocalSettingsMissing, RuntimeError) as e:
        print(f'error: {e}', file=sys.stderr)
        return 2
    print(f'Written: {result.output} ({len(result.frame_indices)} frames of {seq.name})')
    return 0
