"""Tracker: one (tracker script, config, run id) under evaluation, the lineage's wrapper.

It knows where its results go and runs a built tracker implementation over one sequence. Building the
implementation (network + checkpoint) is separate (`build()`), so the runner builds it once per
worker process and reuses it for every sequence (the lineage rebuilt it for each sequence).
"""

import time

import numpy as np

from lib.test.evaluation import results


class Tracker:
    """name: tracker script (ostrack, droptrack, ...); parameter_name: config (yaml basename);
    run_id: optional int, appended as _%03d to the results folder; results_path: where results go
    (default: results_path of lib/test/evaluation/local.py, read only when first needed)."""

    def __init__(
        self,
        name,
        parameter_name,
        dataset_name=None,
        run_id=None,
        display_name=None,
        checkpoint=None,
        results_path=None,
        options=None,
    ):
        from lib.test.tracker import tracker_has_network

        tracker_has_network(name)  # unknown script: fail now, with the list of known ones
        self.name = name
        self.parameter_name = parameter_name
        self.dataset_name = dataset_name
        self.run_id = run_id
        self.display_name = display_name or (
            f'{name}_{parameter_name}' if run_id is None else f'{name}_{parameter_name}_{run_id:03d}'
        )
        self.checkpoint = checkpoint
        self.options = options  # lib.test.tracker.options.InferenceOptions or None (the tracker's defaults)
        self._results_path = results_path

    def __repr__(self):
        return f'Tracker({self.display_name!r})'

    @property
    def results_path(self):
        if self._results_path is None:
            from lib.test.evaluation.environment import env_settings

            self._results_path = env_settings().results_path
        return self._results_path

    @property
    def results_dir(self):
        """<results_path>/<tracker>/<param>[_<runid>] (without the got10k/trackingnet sub-folder)."""
        return results.run_dir(self.results_path, self.name, self.parameter_name, self.run_id)

    def sequence_results_dir(self, seq):
        label = getattr(seq, 'dataset', None) or self.dataset_name
        return results.sequence_results_dir(
            self.results_path, self.name, self.parameter_name, self.run_id, label
        )

    def box_file(self, seq):
        return results.box_file(self.sequence_results_dir(seq), seq.name)

    def time_file(self, seq):
        return results.time_file(self.sequence_results_dir(seq), seq.name)

    def build(self, device=None, debug=0):
        """The tracker implementation (lib.test.tracker.build_tracker), built once and reused."""
        from lib.test.tracker import build_tracker

        return build_tracker(
            self.name,
            self.parameter_name,
            checkpoint=self.checkpoint,
            device=device,
            debug=debug,
            options=self.options,
        )

    def run_sequence(self, seq, tracker_impl, debug=0):
        """Tracks every frame of `seq`: frame 0 initializes, frames 1+ track.

        Returns {'target_bbox': (N, 4) float64 x,y,w,h, 'time': (N,) seconds}. Times cover only
        initialize()/track() (image reading excluded); frame 0's time is the initialization.
        With debug > 0 the ground-truth box of each frame (when known) is passed as info['gt_bbox'],
        for visualisation only; without debug the tracker never sees ground truth after frame 0.
        """
        if len(seq.frames) == 0:
            raise ValueError(f'sequence {seq.name} has no frames')
        if hasattr(tracker_impl, 'start_sequence'):
            tracker_impl.start_sequence(seq.name)
        boxes = np.zeros((len(seq.frames), 4), dtype=np.float64)
        times = np.zeros(len(seq.frames), dtype=np.float64)

        image = seq.read_frame(0)
        init_info = seq.init_info()
        start = time.perf_counter()
        tracker_impl.initialize(image, init_info)
        times[0] = time.perf_counter() - start
        boxes[0] = init_info['init_bbox']

        gt = seq.ground_truth_rect
        for index in range(1, len(seq.frames)):
            image = seq.read_frame(index)
            info = {'gt_bbox': [float(v) for v in gt[index]]} if debug and index < len(gt) else None
            start = time.perf_counter()
            out = tracker_impl.track(image, info)
            times[index] = time.perf_counter() - start
            boxes[index] = check_box_output(out, seq.name, index)
        return {'target_bbox': boxes, 'time': times}

    def run_sequences_batched(self, sequences, tracker_impl, batch_size, on_finish, on_error, debug=0):
        """Tracks `sequences` `batch_size` at a time in one network forward per step
        (lib.test.tracker.batched); on_finish(seq, output) gets run_sequence's output dict of each
        completed sequence, on_error(seq, exception) each failure (None: exceptions propagate)."""
        from lib.test.tracker.batched import run_sequences_batched

        def finished(seq, boxes, times):
            for index, box in enumerate(boxes):
                check_box_output({'target_bbox': box}, seq.name, index)
            on_finish(
                seq,
                {
                    'target_bbox': np.asarray(boxes, dtype=np.float64).reshape(-1, 4),
                    'time': np.asarray(times, dtype=np.float64),
                },
            )

        if not hasattr(tracker_impl, 'track_slots'):
            raise TypeError(
                f'{self.display_name}: --batch_sequences needs a tracker with a network '
                f'(track_slots); {type(tracker_impl).__name__} has none'
            )
        run_sequences_batched(
            tracker_impl,
            sequences,
            batch_size,
            on_finish=finished,
            on_error=on_error,
            pass_ground_truth=bool(debug),
        )

    def save_results(self, seq, output):
        """Writes <seq>.txt and <seq>_time.txt atomically (the box file last: it marks completion)."""
        results.write_sequence_results(
            self.sequence_results_dir(seq), seq.name, output['target_bbox'], output['time']
        )


def check_box_output(out, seq_name, index):
    box = out.get('target_bbox') if isinstance(out, dict) else None
    try:
        box = np.asarray(box, dtype=np.float64).reshape(4)
    except (TypeError, ValueError):
        raise ValueError(
            f"{seq_name}, frame {index}: track() must return {{'target_bbox': [x, y, w, h]}}, got {out!r}"
        ) from None
    return box
