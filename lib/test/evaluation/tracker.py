"""Tracker: one (tracker script, config, run id) under evaluation, the lineage's wrapper.

It knows where its results go and runs a built tracker implementation over one sequence. Building the
implementation (network + checkpoint) is separate (`build()`), so the runner builds it once per
worker process and reuses it for every sequence (the lineage rebuilt it for each sequence).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lib.test.evaluation import results

if TYPE_CHECKING:
    from lib.test.evaluation.data import Sequence
    from lib.test.tracker.base_tracker import BaseTracker
    from lib.test.tracker.options import InferenceOptions


class Tracker:
    """name: tracker script (ostrack, droptrack, ...); parameter_name: config (yaml basename);
    run_id: optional int, appended as _%03d to the results folder; results_path: where results go
    (default: results_path of lib/test/evaluation/local.py, read only when first needed)."""

    def __init__(
        self,
        name: str,
        parameter_name: str,
        dataset_name: str | None = None,
        run_id: int | None = None,
        display_name: str | None = None,
        checkpoint: str | None = None,
        results_path: str | None = None,
        options: InferenceOptions | None = None,
    ) -> None:
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

    def __repr__(self) -> str:
        return f'Tracker({self.display_name!r})'

    @property
    def results_path(self) -> str:
        if self._results_path is None:
            from lib.test.evaluation.environment import env_settings

            self._results_path = env_settings().results_path
        return self._results_path

    @property
    def results_dir(self) -> str:
        """<results_path>/<tracker>/<param>[_<runid>] (without the got10k/trackingnet sub-folder)."""
        return results.run_dir(self.results_path, self.name, self.parameter_name, self.run_id)

    def sequence_results_dir(self, seq: Sequence) -> str:
        label = getattr(seq, 'dataset', None) or self.dataset_name
        return results.sequence_results_dir(
            self.results_path, self.name, self.parameter_name, self.run_id, label
        )

    def box_file(self, seq: Sequence) -> str:
        return results.box_file(self.sequence_results_dir(seq), seq.name)

    def time_file(self, seq: Sequence) -> str:
        return results.time_file(self.sequence_results_dir(seq), seq.name)

    def build(self, device: Any = None, debug: int = 0) -> BaseTracker:
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

    def run_sequence(self, seq: Sequence, tracker_impl: Any, debug: int = 0) -> dict:
        """Tracks every frame of `seq`: frame 0 initializes, frames 1+ track (the stepping core,
        lib/test/evaluation/stepping.py, with one slot and frames read in this thread).

        Returns {'target_bbox': (N, 4) float64 x,y,w,h, 'time': (N,) seconds}. Times cover only
        initialize()/track() (image reading excluded); frame 0's time is the initialization.
        With debug > 0 the ground-truth box of each frame (when known) is passed as info['gt_bbox'],
        for visualisation only; without debug the tracker never sees ground truth after frame 0.
        """
        from lib.test.evaluation.stepping import track_sequences

        outputs = track_sequences(tracker_impl, [seq], 1, pass_ground_truth=bool(debug), read_ahead=False)
        return outputs[seq.name]

    def run_sequences_batched(
        self,
        sequences: list[Sequence],
        tracker_impl: Any,
        batch_size: int,
        on_finish: Any,
        on_error: Any,
        debug: int = 0,
    ) -> None:
        """Tracks `sequences` `batch_size` at a time in one network forward per step (the stepping
        core); on_finish(seq, output) gets run_sequence's output dict of each completed sequence,
        on_error(seq, exception) each failure (None: exceptions propagate)."""
        from lib.test.evaluation.stepping import track_sequences

        track_sequences(
            tracker_impl,
            sequences,
            batch_size,
            on_finish=on_finish,
            on_error=on_error,
            pass_ground_truth=bool(debug),
        )

    def save_results(self, seq: Sequence, output: dict) -> None:
        """Writes <seq>.txt and <seq>_time.txt atomically (the box file last: it marks completion)."""
        results.write_sequence_results(
            self.sequence_results_dir(seq), seq.name, output['target_bbox'], output['time']
        )
