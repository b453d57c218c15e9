"""Speed of the plain reference path vs the optimised paths (tracking, batched evaluation, training, data
loading). Example: python tracking/benchmark.py --script ostrack --config vitb_256_mae_ce_32x4_ep300
--device cuda --json output/benchmark.json   (--quick for a CI-sized run)"""

import sys

import _init_paths  # noqa: F401

from lib.benchmark.cli import main

if __name__ == '__main__':
    sys.exit(main())
