"""Loading result files and computing per-sequence curves for a list of trackers over a dataset.

Result files are found with lib/test/evaluation/results.py, including the got10k/ and trackingnet/
sub-folders the runner writes into (the lineage's analysis did not look there). Computed curves are
cached in <cache_dir>/eval_data.npz under a key built from the sizes and mtimes of the result files,
the ground truth and the options, so a new or re-written result file is always picked up.
"""

import hashlib
import json
import os
from dataclasses import dataclass

import numpy as np

from lib.test.analysis import metrics
from lib.test.analysis.got10k_meta import got10k_scoring_info
from lib.test.evaluation import results
from lib.utils.io import atomic_open

CACHE_VERSION = 1
CACHE_FILE = 'eval_data.npz'


@dataclass(frozen=True)
class TrackerSpec:
    """One (tracker, config, run) whose results are scored. display_name None -> '<name>_<param>'."""

    name: str
    parameter_name: str
    run_id: int | None = None
    display_name: str | None = None
    results_path: str | None = None

    @property
    def group(self):
        return self.name, self.parameter_name

    @property
    def label(self):
        return self.display_name or f'{self.name}_{self.parameter_name}'


def as_tracker_spec(tracker, results_path=None):
    """TrackerSpec from a TrackerSpec, a lib.test.evaluation.tracker.Tracker-like object (name,
    parameter_name, run_id, display_name[, results_path]) or a (name, param[, run_id[, display_name]])
    tuple."""
    if isinstance(tracker, TrackerSpec):
        spec = tracker
    elif isinstance(tracker, (tuple, list)):
        if not 2 <= len(tracker) <= 4:
            raise ValueError(f'tracker spec {tracker!r}: expected (name, param[, run_id[, display_name]])')
        spec = TrackerSpec(*tracker)
    elif hasattr(tracker, 'name') and hasattr(tracker, 'parameter_name'):
        run_id = getattr(tracker, 'run_id', None)
        display = getattr(tracker, 'display_name', None)
        auto = f'{tracker.name}_{tracker.parameter_name}'
        if display and run_id is not None and display == f'{auto}_{run_id:03d}':
            display = None  # the automatic per-run name; runs of one config are merged under '<name>_<param>'
        spec = TrackerSpec(
            tracker.name,
            tracker.parameter_name,
            run_id,
            display,
            getattr(tracker, '_results_path', None) or None,
        )
    else:
        raise TypeError(
            f'cannot use {tracker!r} as a tracker: expected a Tracker, a TrackerSpec or a '
            f'(name, param, run_id, display_name) tuple'
        )
    if spec.results_path is None and results_path is not None:
        spec = TrackerSpec(spec.name, spec.parameter_name, spec.run_id, spec.display_name, results_path)
    return spec


def result_file(spec, seq, default_results_path):
    base = spec.results_path or default_results_path
    folder = results.sequence_results_dir(base, spec.name, spec.parameter_name, spec.run_id, seq.dataset)
    return results.box_file(folder, seq.name)


@dataclass
class EvalData:
    """Per-sequence curves. Arrays are indexed [sequence, tracker run, ...]."""

    sequences: list
    trackers: list  # TrackerSpec per run
    valid_sequence: np.ndarray  # (S,) bool: False where some run's result was missing (skip_missing)
    success: np.ndarray  # (S, T, 21)
    precision: np.ndarray  # (S, T, 51)
    norm_precision: np.ndarray  # (S, T, 51)
    avg_overlap: np.ndarray  # (S, T)
    got10k_counts: np.ndarray | None = None  # (S, T, 4), GOT-10k datasets only
    from_cache: bool = False


def _has_full_ground_truth(seq):
    # GOT-10k test and TrackingNet test ship the first box only.
    return len(seq.ground_truth_rect) > 1 or len(seq.frames) <= 1


def _check_dataset(dataset):
    if len(dataset) == 0:
        raise ValueError('the dataset has no sequences')
    withheld = [seq.name for seq in dataset if not _has_full_ground_truth(seq)]
    if withheld:
        raise ValueError(
            f'{len(withheld)} sequence(s) have ground truth for the first frame only '
            f'(e.g. {withheld[0]}): test labels are withheld, so results cannot be scored '
            f'locally. Pack them with lib/test/utils/transform_got10k.py or '
            f'transform_trackingnet.py and submit them to the evaluation server.'
        )


def _fingerprint(specs, dataset, default_results_path, options, got_info):
    h = hashlib.sha256(json.dumps([CACHE_VERSION, options]).encode())
    for seq in dataset:
        h.update(seq.name.encode() + seq.dataset.encode())
        h.update(np.ascontiguousarray(seq.ground_truth_rect).tobytes())
        if seq.target_visible is not None:
            h.update(np.ascontiguousarray(seq.target_visible).tobytes())
        if got_info is not None:
            visible, size = got_info[seq.name]
            h.update(repr(size).encode() + (b'' if visible is None else visible.tobytes()))
        for spec in specs:
            path = result_file(spec, seq, default_results_path)
            try:
                st = os.stat(path)
                h.update(f'{path}|{st.st_size}|{st.st_mtime_ns}'.encode())
            except FileNotFoundError:
                h.update(f'{path}|missing'.encode())
    return h.hexdigest()


def _load_cache(path, key, n_seq, n_trk):
    try:
        with np.load(path, allow_pickle=False) as data:
            if str(data['key']) != key:
                return None
            arrays = {k: data[k] for k in data.files if k != 'key'}
    except (OSError, ValueError, KeyError):
        return None  # absent, unreadable or from another version: recompute
    if arrays['success'].shape[:2] != (n_seq, n_trk):
        return None
    return arrays


def _save_cache(path, key, arrays):
    with atomic_open(path, 'wb') as f:
        np.savez(f, key=np.array(key), **{k: v for k, v in arrays.items() if v is not None})


def _score_run(spec, seq, path, exclude_invalid_frames, got_info):
    pred = results.read_boxes(path)
    errors = metrics.sequence_errors(
        pred,
        seq.ground_truth_rect,
        seq.dataset,
        seq.target_visible,
        source=path,
        gt_source=f"ground truth of sequence '{seq.name}'",
    )
    curves = metrics.sequence_curves(errors, exclude_invalid_frames, seq.name)
    counts = None
    if got_info is not None:
        visible, size = got_info[seq.name]
        ious = metrics.got10k_frame_ious(pred, seq.ground_truth_rect, visible, size, source=path)
        counts = metrics.got10k_counts(ious)
    return curves, counts


def extract_results(
    trackers,
    dataset,
    results_path=None,
    exclude_invalid_frames=False,
    skip_missing=False,
    cache_dir=None,
    force=False,
    progress=False,
):
    """Scores every tracker run on every sequence of `dataset` (a SequenceList).

    trackers: Tracker objects, TrackerSpecs or (name, param, run_id, display_name) tuples.
    results_path: where results live when a tracker does not say (default: env results_path).
    skip_missing: a sequence missing for any run is left out for all trackers (else: error naming the file).
    cache_dir: folder for eval_data.npz (None: no cache); force: recompute even if the cache is current.
    """
    dataset = list(dataset)
    _check_dataset(dataset)
    specs = [as_tracker_spec(t) for t in trackers]
    if not specs:
        raise ValueError('no trackers given')
    if results_path is None and any(s.results_path is None for s in specs):
        from lib.test.evaluation.environment import env_settings

        results_path = env_settings().results_path
    is_got10k = all(seq.dataset == 'got10k' for seq in dataset)
    got_info = {seq.name: got10k_scoring_info(seq) for seq in dataset} if is_got10k else None

    n_seq, n_trk = len(dataset), len(specs)
    options = {'exclude_invalid_frames': bool(exclude_invalid_frames), 'skip_missing': bool(skip_missing)}
    cache_path = os.path.join(cache_dir, CACHE_FILE) if cache_dir else None
    key = _fingerprint(specs, dataset, results_path, options, got_info) if cache_path else None
    cached = None if (force or cache_path is None) else _load_cache(cache_path, key, n_seq, n_trk)
    if cached is not None:
        return EvalData(
            [s.name for s in dataset],
            specs,
            cached['valid_sequence'].astype(bool),
            cached['success'],
            cached['precision'],
            cached['norm_precision'],
            cached['avg_overlap'],
            cached.get('got10k_counts'),
            from_cache=True,
        )

    arrays = {
        'valid_sequence': np.ones(n_seq, dtype=bool),
        'success': np.zeros((n_seq, n_trk, len(metrics.OVERLAP_THRESHOLDS))),
        'precision': np.zeros((n_seq, n_trk, len(metrics.CENTER_THRESHOLDS))),
        'norm_precision': np.zeros((n_seq, n_trk, len(metrics.NORM_CENTER_THRESHOLDS))),
        'avg_overlap': np.zeros((n_seq, n_trk)),
        'got10k_counts': np.zeros((n_seq, n_trk, 4)) if is_got10k else None,
    }
    missing = []
    iterator = dataset
    if progress:
        from tqdm import tqdm

        iterator = tqdm(dataset, desc='Scoring sequences', leave=False)
    for si, seq in enumerate(iterator):
        paths = [result_file(spec, seq, results_path) for spec in specs]
        absent = [p for p in paths if not os.path.isfile(p)]
        if absent:
            missing.extend(absent)
            arrays['valid_sequence'][si] = False
            continue
        for ti, (spec, path) in enumerate(zip(specs, paths)):
            curves, counts = _score_run(spec, seq, path, exclude_invalid_frames, got_info)
            arrays['success'][si, ti] = curves.success
            arrays['precision'][si, ti] = curves.precision
            arrays['norm_precision'][si, ti] = curves.norm_precision
            arrays['avg_overlap'][si, ti] = curves.avg_overlap
            if counts is not None:
                arrays['got10k_counts'][si, ti] = counts
    if missing and not skip_missing:
        listed = '\n    '.join(missing[:10]) + (
            f'\n    ... and {len(missing) - 10} more' if len(missing) > 10 else ''
        )
        raise FileNotFoundError(
            f'{len(missing)} result file(s) not found (use skip_missing / --skip_missing to '
            f'score only the sequences every tracker has):\n    {listed}'
        )
    if not arrays['valid_sequence'].any():
        raise FileNotFoundError('no sequence has results for every tracker run; nothing to score')
    if cache_path:
        _save_cache(cache_path, key, arrays)
    return EvalData(
        [s.name for s in dataset],
        specs,
        arrays['valid_sequence'],
        arrays['success'],
        arrays['precision'],
        arrays['norm_precision'],
        arrays['avg_overlap'],
        arrays['got10k_counts'],
    )
