"""Scores from EvalData: runs of one (tracker, config) merged, per-run spread, tables and CSV.

Runs of one (name, parameter_name) are merged like the lineage's merge_multiple_runs: curves are
averaged over runs, so every OPE score is the mean of the per-run scores. GOT-10k AO/SR pool the IoUs
of all runs, as the toolkit pools repetitions (equal to the mean when runs have equal length).
"""

from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from lib.test.analysis import metrics
from lib.utils.io import atomic_write_text


@dataclass
class TrackerGroup:
    label: str
    run_ids: list
    indices: list  # columns of EvalData arrays


def group_runs(eval_data):
    groups = OrderedDict()
    for index, spec in enumerate(eval_data.trackers):
        key = (spec.name, spec.parameter_name, spec.results_path)
        if key not in groups:
            groups[key] = TrackerGroup(spec.label, [], [])
        groups[key].run_ids.append(spec.run_id)
        groups[key].indices.append(index)
    labels = [g.label for g in groups.values()]
    duplicates = {label for label in labels if labels.count(label) > 1}
    if duplicates:
        raise ValueError(
            f'display name(s) {sorted(duplicates)} are used by more than one tracker; give each '
            f'tracker its own display name'
        )
    return list(groups.values())


def score_names(eval_data):
    names = list(metrics.OPE_SCORE_NAMES)
    if eval_data.got10k_counts is not None:
        names += list(metrics.GOT10K_SCORE_NAMES)
    return names


def per_run_scores(eval_data):
    """{score name: (T,) array in percent} for every tracker run, over the valid sequences."""
    valid = eval_data.valid_sequence
    scores = metrics.ope_scores(
        eval_data.success[valid], eval_data.precision[valid], eval_data.norm_precision[valid]
    )
    if eval_data.got10k_counts is not None:
        scores.update(metrics.got10k_scores(eval_data.got10k_counts[valid]))
    return scores


def merged_curves(eval_data, group):
    """Sequence-averaged curves (percent) of one group, averaged over its runs."""
    valid = eval_data.valid_sequence
    out = {}
    for key in ('success', 'precision', 'norm_precision'):
        curves = getattr(eval_data, key)[valid][:, group.indices]  # (S, R, K)
        out[key] = curves.mean(axis=(0, 1)) * 100.0
    return out


def score_tables(eval_data):
    """(summary, per_run) pandas DataFrames in percent. summary: one row per tracker (index = display
    name), score columns, 'Runs', and '<score> std' columns (sample std over runs, NaN for one run) when a
    tracker has several runs. per_run: one row per (tracker, run id)."""
    import pandas as pd

    groups = group_runs(eval_data)
    names = score_names(eval_data)
    runs = per_run_scores(eval_data)
    valid = eval_data.valid_sequence
    multi = any(len(g.indices) > 1 for g in groups)
    rows, run_rows = [], []
    for group in groups:
        row = OrderedDict(Tracker=group.label)
        for name in metrics.OPE_SCORE_NAMES:
            row[name] = float(np.mean(runs[name][group.indices]))
        if eval_data.got10k_counts is not None:
            pooled = eval_data.got10k_counts[valid][:, group.indices].sum(axis=1)
            row.update({k: float(v) for k, v in metrics.got10k_scores(pooled).items()})
        row['Runs'] = len(group.indices)
        if multi:
            for name in names:
                values = runs[name][group.indices]
                row[f'{name} std'] = float(np.std(values, ddof=1)) if len(values) > 1 else float('nan')
        rows.append(row)
        for run_id, index in zip(group.run_ids, group.indices):
            run_row = OrderedDict(Tracker=group.label, Run='-' if run_id is None else f'{run_id:03d}')
            run_row.update({name: float(runs[name][index]) for name in names})
            run_rows.append(run_row)
    summary = pd.DataFrame(rows).set_index('Tracker')
    per_run = pd.DataFrame(run_rows).set_index(['Tracker', 'Run'])
    return summary, per_run


def spread_table(summary, per_run):
    """min / max / std over runs of each score, for trackers with several runs (None if there are none)."""
    multi = summary.index[summary['Runs'] > 1]
    if len(multi) == 0:
        return None
    stats = per_run.loc[list(multi)].groupby(level='Tracker', sort=False).agg(['min', 'max', 'std'])
    stats = stats.stack(level=1, future_stack=True)  # rows (tracker, statistic), columns scores
    stats.index.names = ['Tracker', 'over runs']
    return stats


def format_report(title, summary, per_run=None, n_valid=None, n_total=None):
    """The terminal report: the summary table, and per-run scores with their spread when runs were merged."""
    import pandas as pd

    lines = []
    if n_valid is not None:
        lines.append(f'Reporting results over {n_valid} / {n_total} sequences')
    score_columns = [c for c in summary.columns if not c.endswith(' std')]
    with pd.option_context('display.width', 200, 'display.max_columns', 50):
        lines.append(f'{title}\n' + summary[score_columns].to_string(float_format=lambda v: f'{v:.2f}'))
        if per_run is not None and (summary['Runs'] > 1).any():
            lines.append('\nPer run:\n' + per_run.to_string(float_format=lambda v: f'{v:.2f}'))
            spread = spread_table(summary, per_run)
            lines.append('\nSpread over runs:\n' + spread.to_string(float_format=lambda v: f'{v:.2f}'))
    return '\n'.join(lines)


def write_csv(path, table):
    """Writes a score table (percent) atomically, 4 decimals."""
    atomic_write_text(path, table.to_csv(float_format='%.4f'))
    return path
