"""Batched evaluation: K sequences advance together, one network forward per step.

    results = run_sequences_batched(tracker, sequences, batch_size=8)
    boxes, seconds = results['seq_name']      # per frame: [x, y, w, h] lists, seconds

K slots each hold one open sequence (its cached template tokens, CE mask and last box). A step reads
each slot's next frame, crops it, stacks the searches and the templates, runs ONE forward of the
network (CE eliminates per sample) and decodes every slot's box. A slot whose sequence ends takes
the next sequence. Frames are read ahead by a small thread pool while the network runs.

Per-frame time = the step's wall time / the slots in it (an amortised throughput, as the official
LoRAT evaluator reports); frame 0's time is that sequence's initialisation. With compile='compile' or
'cudagraph' every step is padded to K samples (fixed shapes: one compilation / one captured graph).
The boxes equal the per-sequence tracker's up to float rounding (batched matrix products may sum in a
different order).
"""

import collections
import time
from concurrent.futures import ThreadPoolExecutor

MAX_READ_THREADS = 4


def _default_reader(seq, index):
    return seq.read_frame(index)


class _Open:
    """An open sequence in a slot."""

    def __init__(self, seq, slot, boxes, times, next_frame):
        self.seq, self.slot, self.boxes, self.times = seq, slot, boxes, times
        self.next_index = 1
        self.next_frame = next_frame  # future of frame next_index


def run_sequences_batched(
    tracker, sequences, batch_size, read_frame=None, on_finish=None, on_error=None, pass_ground_truth=False
):
    """Tracks `sequences` (objects with .name, .frames, .init_info(), .read_frame(i),
    .ground_truth_rect) with a SlotTracker, `batch_size` at a time.

    read_frame(seq, index) -> RGB uint8 frame (default seq.read_frame). on_finish(seq, boxes, times) is
    called as each sequence completes (e.g. to write its results). on_error(seq, exception): a failing
    sequence (its frame, init or a step it was part of) is reported there and the others go on; without
    on_error the exception propagates. pass_ground_truth: info['gt_bbox'] per frame (debug only).
    Returns {name: (boxes list, per-frame seconds list)} of the completed sequences.
    """
    if int(batch_size) < 1:
        raise ValueError(f'batch_size must be >= 1, got {batch_size}')
    batch_size = int(batch_size)
    read_frame = read_frame or _default_reader
    pad_to = batch_size if tracker.options.compile != 'off' else None
    pending = collections.deque(sequences)
    results = {}
    slots = []

    def fail(seq, exc):
        if on_error is None:
            raise exc
        on_error(seq, exc)

    def finish(entry):
        results[entry.seq.name] = (entry.boxes, entry.times)
        if on_finish is not None:
            on_finish(entry.seq, entry.boxes, entry.times)

    with ThreadPoolExecutor(max_workers=min(batch_size + 1, MAX_READ_THREADS)) as pool:
        first_frames = collections.deque()  # futures of frame 0 of the next pending sequences

        def prefetch_first_frames():
            while len(first_frames) < min(batch_size, len(pending)):
                seq = pending[len(first_frames)]
                first_frames.append(pool.submit(read_frame, seq, 0) if len(seq.frames) else None)

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
                    start = time.perf_counter()
                    slot = tracker.new_slot(image, init_info)
                    seconds = time.perf_counter() - start
                except Exception as e:  # noqa: BLE001 - reported per sequence
                    fail(seq, e)
                    continue
                entry = _Open(seq, slot, [list(init_info['init_bbox'])], [seconds], None)
                if len(seq.frames) == 1:
                    finish(entry)
                    continue
                entry.next_frame = pool.submit(read_frame, seq, 1)
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
            for entry in slots:  # read ahead while the network runs
                entry.next_index += 1
                entry.next_frame = (
                    pool.submit(read_frame, entry.seq, entry.next_index)
                    if entry.next_index < len(entry.seq.frames)
                    else None
                )
            infos = [_frame_info(e.seq, e.next_index - 1, pass_ground_truth) for e in slots]
            start = time.perf_counter()
            try:
                outputs = tracker.track_slots(images, [e.slot for e in slots], infos, pad_to=pad_to)
            except Exception as e:  # noqa: BLE001 - every sequence of the step is in an unknown state
                for entry in slots:
                    fail(entry.seq, e)
                slots = []
                continue
            per_frame = (time.perf_counter() - start) / len(slots)
            still_open = []
            for entry, out in zip(slots, outputs):
                entry.boxes.append([float(v) for v in out['target_bbox']])
                entry.times.append(per_frame)
                if entry.next_frame is None:
                    finish(entry)
                else:
                    still_open.append(entry)
            slots = still_open
    return results


def _frame_info(seq, index, pass_ground_truth):
    gt = getattr(seq, 'ground_truth_rect', None)
    if not pass_ground_truth or gt is None or index >= len(gt):
        return None
    return {'gt_bbox': [float(v) for v in gt[index]]}
