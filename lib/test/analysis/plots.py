"""Success / precision / normalized-precision plots in the lineage's paper style, matplotlib only (no
LaTeX): a Times-like serif font when one is installed (matplotlib ships STIX), legend entries
'Name [score]' sorted by score with the best one in bold. Each plot is written atomically as PNG and PDF.
"""

import io
import os

from lib.test.analysis import PLOT_TYPES, metrics
from lib.test.analysis.report import group_runs, merged_curves
from lib.utils.io import atomic_write_bytes

# The lineage's palette, in order of rank (best first).
COLORS = [
    (1.0, 0.0, 0.0),
    (0.0, 1.0, 0.0),
    (0.0, 0.0, 1.0),
    (0.0, 0.0, 0.0),
    (1.0, 0.0, 1.0),
    (0.0, 1.0, 1.0),
    (0.5, 0.5, 0.5),
    (136 / 255, 0.0, 21 / 255),
    (1.0, 127 / 255, 39 / 255),
    (0.0, 162 / 255, 232 / 255),
    (0.0, 0.5, 0.0),
    (1.0, 0.5, 0.2),
    (0.1, 0.4, 0.0),
    (0.6, 0.3, 0.9),
    (0.4, 0.7, 0.1),
    (0.2, 0.1, 0.7),
    (0.7, 0.6, 0.2),
]
LINE_STYLES = ('-', '--', '-.', ':')

_PLOT_OPTS = {
    'success': dict(
        curve='success',
        file='success_plot',
        title='Success',
        legend_loc='lower left',
        xlabel='Overlap threshold',
        ylabel='Overlap Precision [%]',
        xlim=(0, 1.0),
        ylim=(0, 88),
        x=metrics.OVERLAP_THRESHOLDS,
    ),
    'prec': dict(
        curve='precision',
        file='precision_plot',
        title='Precision plot',
        legend_loc='lower right',
        xlabel='Location error threshold [pixels]',
        ylabel='Distance Precision [%]',
        xlim=(0, 50),
        ylim=(0, 100),
        x=metrics.CENTER_THRESHOLDS,
    ),
    'norm_prec': dict(
        curve='norm_precision',
        file='norm_precision_plot',
        title='Normalized Precision',
        legend_loc='lower right',
        xlabel='Location error threshold',
        ylabel='Distance Precision [%]',
        xlim=(0, 0.5),
        ylim=(0, 85),
        x=metrics.NORM_CENTER_THRESHOLDS,
    ),
}
_SCORE_OF_PLOT = {'success': 'AUC', 'prec': 'Precision', 'norm_prec': 'Norm Precision'}


def _paper_style():
    from matplotlib import font_manager

    installed = {f.name for f in font_manager.fontManager.ttflist}
    serif = [
        f
        for f in ('Times New Roman', 'Times', 'Nimbus Roman', 'STIXGeneral', 'DejaVu Serif')
        if f in installed
    ]
    return {
        'font.family': 'serif',
        'font.serif': serif or ['DejaVu Serif'],
        'mathtext.fontset': 'stix',
        'font.size': 14,
        'axes.titlesize': 16,
        'axes.titleweight': 'bold',
        'axes.labelsize': 15,
        'legend.fontsize': 11,
        'text.usetex': False,
    }


def _save(fig, base_path):
    paths = []
    for fmt in ('png', 'pdf'):
        buffer = io.BytesIO()
        fig.savefig(buffer, format=fmt, dpi=200 if fmt == 'png' else None, bbox_inches='tight')
        path = f'{base_path}.{fmt}'
        atomic_write_bytes(path, buffer.getvalue())
        paths.append(path)
    return paths


def plot_curves(eval_data, summary, out_dir, plot_types=PLOT_TYPES):
    """Draws the requested plots (subset of 'success', 'prec', 'norm_prec') into out_dir. summary is the
    score table of report.score_tables (legend scores). Returns the written file paths."""
    import matplotlib

    matplotlib.use('Agg', force=False)
    import matplotlib.pyplot as plt

    unknown = [t for t in plot_types if t not in _PLOT_OPTS]
    if unknown:
        raise ValueError(f'unknown plot type(s) {unknown}; choose from {list(_PLOT_OPTS)}')
    os.makedirs(out_dir, exist_ok=True)
    groups = group_runs(eval_data)
    curves = {g.label: merged_curves(eval_data, g) for g in groups}
    written = []
    for plot_type in plot_types:
        opts = _PLOT_OPTS[plot_type]
        score_name = _SCORE_OF_PLOT[plot_type]
        ranked = sorted(groups, key=lambda g: -summary.loc[g.label, score_name])
        with matplotlib.rc_context(_paper_style()):
            fig, ax = plt.subplots(figsize=(6.4, 4.8))
            lines = []
            for rank, group in enumerate(ranked):
                (line,) = ax.plot(
                    opts['x'],
                    curves[group.label][opts['curve']],
                    linewidth=2,
                    color=COLORS[rank % len(COLORS)],
                    linestyle=LINE_STYLES[(rank // len(COLORS)) % len(LINE_STYLES)],
                    label=f'{group.label} [{summary.loc[group.label, score_name]:.1f}]',
                )
                lines.append(line)
            legend = ax.legend(
                handles=lines, loc=opts['legend_loc'], fancybox=False, edgecolor='black', framealpha=1.0
            )
            legend.get_texts()[0].set_fontweight('bold')
            ax.set(xlabel=opts['xlabel'], ylabel=opts['ylabel'], xlim=opts['xlim'], ylim=opts['ylim'])
            ax.set_title(opts['title'], fontweight='bold')
            ax.grid(True, linestyle='-.')
            fig.tight_layout()
            written += _save(fig, os.path.join(out_dir, opts['file']))
            plt.close(fig)
    return written
