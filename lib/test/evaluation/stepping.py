"""The one sequence-stepping core of evaluation: every mode of run_dataset (in-process, worker
processes, --batch_sequences K) tracks its sequences through `track_sequences`.

    outputs = track_sequences(tracker, sequences, batch_size=8)
    outputs['seq_name']['target_bbox']   # (N, 4) float64 x, y, w, h, frame 0 = the initial box
    outputs['seq_name']['time']          # (N,) seconds

K slots each hold one open sequence. A step reads each slot's next frame, then advances every slot in
one call of the tracker: one network forward for a SlotTracker (lib/test/tracker/slots.py), a plain
`track()` for a tracker that has only initialize/track (it runs one slot). A slot whose sequence ends
takes the next pending sequence.

The rules every mode shares live here:
- time: frame 0's time is the initialisation; a step's wall time is shared equally by the slots in it
  (with one slot: the track() time; with K: an amortised throughput, as the official LoRAT evaluator
  reports). Reading frames is never timed.
- output: track() must return {'target_bbox': [x, y, w, h]}; anything else is an error naming the
  sequence and the frame.
- failures: with on_error, a failing sequence (its frames, its initialisation, or a step it was part
  of) is reported there and the others go on; without, the exception propagates.
With read_ahead, a small thread pool reads the next frames while the tracker runs (batched mode); the
per-sequence modes read in the calling thread, so nothing competes with the tracker for the CPU.
"""

from __future__ import annotations

import collections
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np

MAX_READ_THREADS = 4

Output = dict[str, np.ndarray]  # {'target_bbox': (N, 4) float64, 'time': (N,) float64}


def check_box_output(out: Any, seq_name: str, index: int) -> np.ndarray:
    """The (4,) float64 box of one track() output; ValueError naming the sequence and frame otherwise."""
    box = out.get('target_bbox') if isinstance(out, dict) else None
    try:
        return np.asarray(box, dtype=np.float64).reshape(4)
    except (TypeError, ValueError):
        raise ValueError(
            f"{seq_name}, frame {index}: track() must return {{'target_bbox': [x, y, w, h]}}, got {out!r}"
        ) from None


class _OneSlot:
    """A tracker with only initialize/track, seen as a tracker of one slot: the slot is its state."""

    def __init__(self, tracker: Any):
        self.tracker = tracker

    def new_slot(self, image: np.ndarray, info: dict) -> Any:
        self.tracker.initialize(image, info)
        return self.tracker

    def track_slots(self, images, slots, infos=None, pad_to=None) -> list:
        return [self.tracker.track(images[0], infos[0] if infos else None)]


def _as_slots(tracker: Any, batch_size: int) -> tuple[Any, int | None]:
    """(object with new_slot/track_slots, pad_to) for `tracker`."""
    from lib.test.tracker.slots import SlotTracker

    if isinstance(tracker, SlotTracker):
        return tracker, batch_size if tracker.options.compile != 'off' else None
    if batch_size > 1:
        raise TypeError(
            f'tracking {batch_size} sequences at once needs a tracker with a network (a SlotTracker); '
            f'{type(tracker).__name__} tracks one sequence at a time'
        )
    return _OneSlot(tracker), None


class _InlineReader:
    """The executor interface, reading in the calling thread."""

    def submit(self, function: Callable, *args) -> Future:
        future: Future = Future()
        try:
            future.set_result(function(*args))
        except Exception as e:  # noqa: BLE001 - delivered by future.result(), as a thread pool would
            future.set_exception(e)
        return future

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


class _Open:
    """An open sequence in a slot."""

    def __init__(self, seq, slot, init_box, init_seconds):
        self.seq, self.slot = seq, slot
        self.boxes = np.zeros((len(seq.frames), 4), dtype=np.float64)
        self.times = np.zeros(len(seq.frames), dtype=np.float64)
        self.boxes[0], self.times[0] = init_box, init_seconds
        self.next_index = 1
        self.next_frame = None  # future of frame next_index

    def output(self) -> Output:
        return {'target_bbox': self.boxes, 'time': self.times}


def _frame_info(seq, index: int, pass_ground_truth: bool) -> dict | None:
    gt = getattr(seq, 'ground_truth_rect', None)
    if not pass_ground_truth or gt is None or index >= len(gt):
        return None
    return {'gt_bbox': [float(v) for v in gt[index]]}


def track_sequences(
    tracker: Any,
    sequences: Iterable,
    batch_size: int = 1,
    read_frame: Callable[[Any, int], np.ndarray] | None = None,
    on_finish: Callable[[Any, Output], None] | None = None,
    on_error: Callable[[Any, Exception], None] | None = None,
    pass_ground_truth: bool = False,
    read_ahead: bool = True,
) -> dict[str, Output]:
    """Tracks `sequences` (objects with .name, .frames, .init_info(), .read_frame(i),
    .ground_truth_rect), `batch_size` at a time.

    tracker: a SlotTracker, or (batch_size 1 only) any object with initialize(image, info) and
    track(image, info) -> {'target_bbox': ...}; its start_sequence(name), when it has one, is called
    before each sequence. read_frame(seq, index) -> RGB uint8 frame (default seq.read_frame).
    on_finish(seq, output) is called as each sequence completes (e.g. to write its results);
    on_error(seq, exception) gets each failure (None: exceptions propagate). pass_ground_truth:
    info['gt_bbox'] per frame (debug only). Returns {name: output} of the completed sequences.
    """
    if int(batch_size) < 1:
        raise ValueError(f'batch_size must be >= 1, got {batch_size}')
    batch_size = int(batch_size)
    slots_tracker, pad_to = _as_slots(tracker, batch_size)
    start_sequence = getattr(tracker, 'start_sequence', None)  # optional in the tracker contract
    read_frame = read_frame or (lambda seq, index: seq.read_frame(index))
    pending = collections.deque(sequences)
    outputs: dict[str, Output] = {}
    slots: list[_Open] = []

    def fail(seq, exc):
        if on_error is None:
            raise exc
        on_error(seq, exc)

    def finish(entry):
        outputs[entry.seq.name] = entry.output()
        if on_finish is not None:
            on_finish(entry.seq, entry.output())

    reader = ThreadPoolExecutor(min(batch_size + 1, MAX_READ_THREADS)) if read_ahead else _InlineReader()
    with reader:
        first_frames = collections.deque()  # futures of frame 0 of the next pending sequences

        def prefetch_first_frames():
            while len(first_frames) < min(batch_size if read_ahead else 1, len(pending)):
                seq = pending[len(first_frames)]
                first_frames.append(reader.submit(read_frame, seq, 0) if len(seq.frames) else None)

        def open_next():
            """Initialises the next pending sequence that can be opened; None when none is left."""
            while pending:
                prefetch_first_frames()
                seq, future = pending.popleft(), first_frames.popleft()
                try:
                    if future is None:
                        raise ValueError(f'sequence {seq.name} has no frames')
                    image = future.result()
                    init_info = seq.init_info()
                    if start_sequence is not None:
                        start_sequence(seq.name)
                    start = time.perf_counter()
                    slot = slots_tracker.new_slot(image, init_info)
                    entry = _Open(seq, slot, init_info['init_bbox'], time.perf_counter() - start)
                except Exception as e:  # noqa: BLE001 - reported per sequence
                    fail(seq, e)
                    continue
                if len(seq.frames) == 1:
                    finish(entry)
                    continue
                entry.next_frame = reader.submit(read_frame, seq, 1)
                return entry
            return None

        while True:
            while len(slots) < batch_size:
                entry = open_next()
                if entry is None:
                    break
                slots.append(entry)
            if not slots:
                break
            images, ready = [], []
            for entry in slots:
                try:
                    images.append(entry.next_frame.result())
                    ready.append(entry)
                except Exception as e:  # noqa: BLE001
                    fail(entry.seq, e)
            slots = ready
            if not slots:
                continue
            indices = [entry.next_index for entry in slots]
            if read_ahead:  # the next frames are read while the tracker runs
                for entry in slots:
                    _advance(entry, reader, read_frame)
            infos = [_frame_info(e.seq, index, pass_ground_truth) for e, index in zip(slots, indices)]
            start = time.perf_counter()
            try:
                step_outputs = slots_tracker.track_slots(
                    images, [e.slot for e in slots], infos, pad_to=pad_to
                )
            except Exception as e:  # noqa: BLE001 - every sequence of the step is in an unknown state
                for entry in slots:
                    fail(entry.seq, e)
                slots = []
                continue
            per_frame = (time.perf_counter() - start) / len(slots)
            still_open = []
            for entry, index, out in zip(slots, indices, step_outputs):
                try:
                    entry.boxes[index] = check_box_output(out, entry.seq.name, index)
                except ValueError as e:
                    fail(entry.seq, e)
                    continue
                entry.times[index] = per_frame
                if not read_ahead:
                    _advance(entry, reader, read_frame)
                if entry.next_frame is None:
                    finish(entry)
                else:
                    still_open.append(entry)
            slots = still_open
    return outputs


def _advance(entry: _Open, reader, read_frame) -> None:
    """Moves `entry` to its next frame and starts reading it (None after the last frame)."""
    entry.next_index += 1
    entry.next_frame = (
        reader.submit(read_frame, entry.seq, entry.next_index)
        if entry.next_index < len(entry.seq.frames)
        else None
    )
