"""Score saved tracking results: AUC / OP50 / OP75 / Precision / Norm Precision (and GOT-10k AO/SR),
several trackers and run ids at once, CSV and plots. See --help; the logic is in lib/test/analysis/cli.py."""

import sys

import _init_paths  # noqa: F401

from lib.test.analysis.cli import main

if __name__ == '__main__':
    sys.exit(main())
