"""Checks a dataset for what would break training or evaluation, through the reader that uses it.

    python tracking/check_dataset.py --dataset LASOT                  # a training name (train local.py)
    python tracking/check_dataset.py --dataset custom:drones:test     # an evaluation name (test local.py)
    python tracking/check_dataset.py --dataset CUSTOM:drones --write-exclusions /data/drones/exclude.txt

Prints a table of what it found per kind (errors and warnings: see --help and docs/custom_dataset.md);
exit status 0 clean or warnings only, 1 errors, 2 the dataset could not be opened. The logic is in
lib/utils/dataset_check/.
"""

import sys

import _init_paths  # noqa: F401

from lib.utils.dataset_check.cli import main

if __name__ == '__main__':
    sys.exit(main())
