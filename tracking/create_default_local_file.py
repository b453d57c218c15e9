"""Writes the per-machine path files lib/train/admin/local.py and lib/test/evaluation/local.py.

python tracking/create_default_local_file.py --workspace_dir . --data_dir ./data --save_dir ./output
"""

import argparse

import _init_paths  # noqa: F401

from lib.utils.local_files_writer import write_local_files


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        '--workspace_dir',
        type=str,
        required=True,
        help='project workspace (pretrained_models/, tensorboard/)',
    )
    parser.add_argument('--data_dir', type=str, required=True, help='folder holding the datasets')
    parser.add_argument('--save_dir', type=str, required=True, help='folder for checkpoints and results')
    args = parser.parse_args()
    for path in write_local_files(args.workspace_dir, args.data_dir, args.save_dir):
        print(f'wrote {path}')


if __name__ == '__main__':
    main()
