"""Train a tracker: python tracking/train.py --script ostrack --config <yaml> --save_dir ./output
--mode single|multiple|multi_node [--nproc_per_node N] [--use_lmdb 0|1] [--use_wandb 0|1]
[--seed S] [--resume auto|none|PATH]."""

import sys

import _init_paths  # noqa: F401

from lib.train.launch import main

if __name__ == '__main__':
    sys.exit(main())
