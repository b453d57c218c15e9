"""Builds a custom dataset (docs/custom_dataset.md) from videos or image folders and one box file per
video (tracking/create_custom_dataset.py).

Inputs, in --src: <name>.mp4 / .avi / .mov / .mkv (frames extracted with OpenCV) or a folder <name>/ of
.jpg / .png frames (taken in numeric name order). Boxes: <boxes>/<name>.txt (--boxes, default --src; an
image folder may hold its own <name>/groundtruth.txt instead), one line per frame: x,y,w,h (comma or
whitespace), an empty line or NaN,NaN,NaN,NaN where the target is not visible. Every frame needs its
line, for training and evaluation sequences alike (evaluation scores every frame); the first line of a
sequence used for evaluation must be a visible box (the tracker starts from it). Optional
<boxes>/<name>.absence.label (or <name>/absence.label): one 0/1 per frame, 1 = absent.

Restart-safe: a sequence is written into <dst>/.partial-<name>/ and renamed to <dst>/<name>/ once
complete, then list.txt (and splits/<split>.txt) are rewritten atomically. A rerun skips the
sequences list.txt already names and removes leftover .partial-* folders, so a killed run never
leaves a half sequence that looks complete. One run at a time per --dst.
"""

import os
import shutil
from dataclasses import dataclass, field

import numpy as np

from lib.train.dataset.custom_layout import CustomLayout, parse_box_lines, valid_sequence_name
from lib.train.dataset.layouts import AnnotationError, parse_numbers, read_name_list
from lib.train.dataset.storage import FolderStorage, numeric_sorted
from lib.utils.io import atomic_write_text, replace_folder

VIDEO_EXTENSIONS = ('.mp4', '.avi', '.mov', '.mkv')
IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png')
PARTIAL_PREFIX = '.partial-'


def _write_text(path, text):
    """atomic_write_text, with the permissions of a plainly created file: a dataset is often shared,
    and the atomic helper's temporary file is private to its owner."""
    atomic_write_text(path, text)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o666 & ~umask)


class CustomBuildError(ValueError):
    """A bad input (names the file) or a bad destination."""


@dataclass
class Source:
    name: str
    path: str  # a video file or an image folder
    boxes: str  # its box file
    absence: str | None = None

    @property
    def is_video(self) -> bool:
        return os.path.isfile(self.path)


@dataclass
class BuildSummary:
    built: list = field(default_factory=list)
    skipped: list = field(default_factory=list)  # already in list.txt
    failed: list = field(default_factory=list)  # (name, message)
    warnings: list = field(default_factory=list)  # (name, message)


def find_sources(src: str, boxes_dir: str | None = None) -> list[Source]:
    """The videos and image folders of `src`, each with its box file (CustomBuildError names what is
    missing)."""
    if not os.path.isdir(src):
        raise CustomBuildError(f'--src {src} is not a folder (expected videos and/or image folders)')
    boxes_dir = boxes_dir or src
    sources, problems = {}, []
    for entry in sorted(os.listdir(src)):
        path = os.path.join(src, entry)
        stem, ext = os.path.splitext(entry)
        if os.path.isfile(path) and ext.lower() in VIDEO_EXTENSIONS:
            name = stem
        elif os.path.isdir(path) and not entry.startswith('.') and _image_files(path):
            name = entry
        else:
            continue
        if not valid_sequence_name(name):
            problems.append(f'{path}: the sequence name {name!r} may hold only letters, digits and _ . + -')
            continue
        if name in sources:
            problems.append(f'{path} and {sources[name].path} give the same sequence name {name!r}')
            continue
        candidates = [os.path.join(boxes_dir, f'{name}.txt')]
        if os.path.isdir(path):
            candidates.append(os.path.join(path, CustomLayout.GROUNDTRUTH))
        boxes = next((c for c in candidates if os.path.isfile(c)), None)
        if boxes is None:
            problems.append(f'{path}: no box file; expected {" or ".join(candidates)}')
            continue
        absence = [os.path.join(boxes_dir, f'{name}.absence.label'), os.path.join(path, 'absence.label')]
        sources[name] = Source(name, path, boxes, next((a for a in absence if os.path.isfile(a)), None))
    if problems:
        raise CustomBuildError('bad inputs:\n  ' + '\n  '.join(problems))
    if not sources:
        raise CustomBuildError(
            f'{src} holds no video ({", ".join(VIDEO_EXTENSIONS)}) and no folder of '
            f'{"/".join(IMAGE_EXTENSIONS)} frames'
        )
    return list(sources.values())


def _image_files(folder):
    return numeric_sorted([n for n in os.listdir(folder) if n.lower().endswith(IMAGE_EXTENSIONS)])


def read_source_boxes(source: Source) -> tuple[np.ndarray, np.ndarray | None]:
    """(boxes (N,4) with NaN rows for "not visible", absence flags or None), checked."""
    try:
        with open(source.boxes, encoding='utf-8') as f:
            boxes = parse_box_lines(f.read(), source.boxes)
    except UnicodeDecodeError as e:
        raise CustomBuildError(f'{source.boxes}: not a text file ({e})') from None
    except AnnotationError as e:
        raise CustomBuildError(str(e)) from None
    negative = (boxes[:, 2:] < 0).any(1)
    if negative.any():
        rows = ', '.join(str(r + 1) for r in np.flatnonzero(negative)[:5])
        raise CustomBuildError(f'{source.boxes}, line(s) {rows}: negative width or height')
    absence = None
    if source.absence:
        with open(source.absence) as f:
            absence = parse_numbers(f.read(), source.absence).astype(np.int64)
        if len(absence) != len(boxes) or not np.isin(absence, (0, 1)).all():
            raise CustomBuildError(
                f'{source.absence}: expected {len(boxes)} values 0 or 1 (one per line of {source.boxes}), '
                f'got {len(absence)} values'
            )
    return boxes, absence


def _box_text(boxes):
    def number(v):
        return f'{v:.4f}'.rstrip('0').rstrip('.')

    rows = ['NaN,NaN,NaN,NaN' if np.isnan(b).all() else ','.join(number(v) for v in b) for b in boxes]
    return ''.join(r + '\n' for r in rows)


def _write_video_frames(source, folder, n_boxes, quality, progress):
    import cv2

    capture = cv2.VideoCapture(source.path)
    if not capture.isOpened():
        raise CustomBuildError(f'{source.path}: OpenCV cannot open this video')
    count = 0
    try:
        while True:
            ok, frame = capture.read()
            if not ok:
                break
            count += 1
            if count > n_boxes:
                raise CustomBuildError(
                    f'{source.boxes}: {n_boxes} lines, but {source.path} has more frames (one line per frame '
                    f'is required; an empty line where the target is not visible)'
                )
            path = os.path.join(folder, f'{count:08d}.jpg')
            if not cv2.imwrite(path, frame, [cv2.IMWRITE_JPEG_QUALITY, quality]):
                raise CustomBuildError(f'cannot write {path}')
            progress(1)
    finally:
        capture.release()
    return count


def _copy_image_frames(source, folder, quality, progress):
    """Copies the frames (renamed %08d, .jpeg -> .jpg); a folder mixing JPEG and PNG is re-encoded as JPEG
    (a sequence's frames share one extension, which the readers take from its first frame)."""
    from lib.utils.image_io import ImageReadError, read_image, write_image

    names = _image_files(source.path)
    kinds = {'.png' if n.lower().endswith('.png') else '.jpg' for n in names}
    ext = kinds.pop() if len(kinds) == 1 else None
    for index, name in enumerate(names):
        path = os.path.join(source.path, name)
        if ext is not None:
            shutil.copyfile(path, os.path.join(folder, f'{index + 1:08d}{ext}'))
        else:
            try:
                write_image(os.path.join(folder, f'{index + 1:08d}.jpg'), read_image(path), quality=quality)
            except ImageReadError as e:
                raise CustomBuildError(str(e)) from None
        progress(1)
    return len(names)


def build_sequence(
    source: Source, dst: str, boxes: np.ndarray, absence=None, quality: int = 95, progress=lambda n: None
) -> int:
    """Writes one sequence into <dst>/<name>/ through a .partial- folder, with `boxes` and `absence`
    (read_source_boxes). Returns its frame count."""
    partial = os.path.join(dst, PARTIAL_PREFIX + source.name)
    shutil.rmtree(partial, ignore_errors=True)
    img = os.path.join(partial, 'img')
    os.makedirs(img)
    try:
        if source.is_video:
            count = _write_video_frames(source, img, len(boxes), quality, progress)
        else:
            count = _copy_image_frames(source, img, quality, progress)
        if count != len(boxes):
            raise CustomBuildError(
                f'{source.boxes}: {len(boxes)} lines, but {source.path} has {count} frames (one line per '
                f'frame is required; an empty line where the target is not visible)'
            )
        _write_text(os.path.join(partial, CustomLayout.GROUNDTRUTH), _box_text(boxes))
        if absence is not None:
            text = ''.join(f'{int(a)}\n' for a in absence)
            _write_text(os.path.join(partial, CustomLayout.ABSENCE), text)
        replace_folder(partial, os.path.join(dst, source.name))  # --overwrite: the old one goes last
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return count


def _append_names(dst, key, names):
    storage = FolderStorage(dst)
    current = read_name_list(storage, key) if storage.exists(key) else []
    new = [n for n in names if n not in set(current)]
    if new:
        _write_text(storage.path(key), ''.join(n + '\n' for n in current + new))


def build_custom_dataset(
    src: str,
    dst: str,
    boxes_dir: str | None = None,
    split: str | None = None,
    overwrite: bool = False,
    quality: int = 95,
    show_progress: bool = True,
) -> BuildSummary:
    """Builds or extends the custom dataset at `dst` from `src` (module doc). A bad input fails its own
    sequence (BuildSummary.failed, with a message naming the file); the others are still built."""
    from tqdm import tqdm

    sources = find_sources(src, boxes_dir)
    if split is not None and not valid_sequence_name(split):
        raise CustomBuildError(f'--split {split!r}: use letters, digits and _ . + - (e.g. train, test)')
    os.makedirs(dst, exist_ok=True)
    for leftover in os.listdir(dst):  # unfinished sequences of a killed run
        if leftover.startswith((PARTIAL_PREFIX, '.old-')):
            shutil.rmtree(os.path.join(dst, leftover), ignore_errors=True)
    storage = FolderStorage(dst)
    list_file = CustomLayout.LIST_FILE
    listed = set(read_name_list(storage, list_file)) if storage.exists(list_file) else set()
    summary = BuildSummary()
    bar = tqdm(total=len(sources), unit='seq', disable=not show_progress, dynamic_ncols=True)
    for source in sources:
        bar.set_description(source.name)
        try:
            if source.name in listed and not overwrite:
                summary.skipped.append(source.name)
            else:
                _build_one(source, dst, quality, bar, summary)
            _append_names(dst, list_file, [source.name])
            if split is not None:
                _append_names(dst, CustomLayout.split_key(split), [source.name])
        except (CustomBuildError, OSError) as e:
            summary.failed.append((source.name, str(e)))
        bar.update(1)
    bar.close()
    return summary


def _build_one(source, dst, quality, bar, summary):
    boxes, absence = read_source_boxes(source)
    frames = [0]

    def progress(n):
        frames[0] += n
        if frames[0] % 25 == 0:
            bar.set_postfix(frames=frames[0])

    build_sequence(source, dst, boxes, absence, quality, progress)
    summary.built.append(source.name)
    if not (boxes[0, 2] > 0 and boxes[0, 3] > 0):
        summary.warnings.append(
            (
                source.name,
                f'{source.boxes}: line 1 is not a visible box, so the sequence can train but not be '
                f'evaluated (the tracker starts from the first box)',
            )
        )
