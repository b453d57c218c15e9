"""The main job on a fresh clone: generate the synthetic data, train the tiny OSTrack on the CPU, track
the held-out synthetic sequences, print the analysis table and write the plots.

    python tracking/quickstart.py [--config tiny_ce] [--save_dir DIR] [--fresh]
"""

import sys

import _init_paths  # noqa: F401

from lib.quickstart import main

if __name__ == '__main__':
    sys.exit(main())
