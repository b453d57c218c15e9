"""Runs a tracker on a test dataset: python tracking/test.py TRACKER CONFIG --dataset lasot [--threads N]."""

import sys

import _init_paths  # noqa: F401

from lib.test.evaluation.cli import main

if __name__ == '__main__':
    sys.exit(main())
