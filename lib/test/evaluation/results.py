"""Where tracker results live and how they are written and read.

Layout (the lineage's): <results_path>/<tracker>/<param>[_<runid:03d>]/[got10k/|trackingnet/]<seq>.txt
with <seq>_time.txt beside it. Boxes are x,y,w,h floats, tab-separated, with 4 decimals (the lineage
truncated them to integers). Files are written atomically, so an existing file is always complete.
Readers accept tab, comma or whitespace separators, so old integer result files still load.
"""

import os

import numpy as np

from lib.utils.io import atomic_open

SUBFOLDER_DATASETS = ('got10k', 'trackingnet')


def run_dir(results_path, tracker_name, parameter_name, run_id=None):
    param = parameter_name if run_id is None else f'{parameter_name}_{run_id:03d}'
    return os.path.join(results_path, tracker_name, param)


def sequence_results_dir(results_path, tracker_name, parameter_name, run_id, dataset_label):
    base = run_dir(results_path, tracker_name, parameter_name, run_id)
    return os.path.join(base, dataset_label) if dataset_label in SUBFOLDER_DATASETS else base


def box_file(results_dir, seq_name):
    return os.path.join(results_dir, f'{seq_name}.txt')


def time_file(results_dir, seq_name):
    return os.path.join(results_dir, f'{seq_name}_time.txt')


def write_boxes(path, boxes):
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    with atomic_open(path, 'w') as f:
        np.savetxt(f, boxes, delimiter='\t', fmt='%.4f')


def write_times(path, times):
    with atomic_open(path, 'w') as f:
        np.savetxt(f, np.asarray(times, dtype=np.float64).reshape(-1), fmt='%.6f')


def write_sequence_results(results_dir, seq_name, boxes, times):
    """Times first, boxes last: the box file is what marks a sequence as done."""
    write_times(time_file(results_dir, seq_name), times)
    write_boxes(box_file(results_dir, seq_name), boxes)


def load_text_array(path, ncols=None):
    """Reads a numeric text file with tab, comma or whitespace separators; 'NaN' is allowed."""
    rows = []
    with open(path) as f:
        for lineno, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            parts = line.replace(',', ' ').replace('\t', ' ').split()
            try:
                values = [float(p) for p in parts]
            except ValueError:
                raise ValueError(f'{path}, line {lineno}: expected numbers, got {line!r}') from None
            if ncols is not None and len(values) != ncols:
                raise ValueError(f'{path}, line {lineno}: expected {ncols} values, got {len(values)}')
            rows.append(values)
    if not rows:
        return np.zeros((0, ncols or 0))
    return np.asarray(rows, dtype=np.float64)


def read_boxes(path):
    return load_text_array(path, ncols=4)
