"""Scoring of tracking results: OPE metrics (AUC, OP50/OP75, precision, normalized precision), GOT-10k
AO/SR, tables, CSV and plots. Submodules are imported on demand, so importing this package is cheap."""

PLOT_TYPES = ('success', 'prec', 'norm_prec')
