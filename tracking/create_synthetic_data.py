"""Generates the default synthetic dataset (LaSOT, GOT-10k, TrackingNet and COCO layouts) that a fresh
clone trains and evaluates on. Training and testing call the same generator on demand; run this to
generate it ahead of time or, with --force, to regenerate it.

    python tracking/create_synthetic_data.py [--root DIR] [--force] [--workers N]
"""

import argparse
import sys
import time

import _init_paths  # noqa: F401

from lib.utils.synthetic import default_root, ensure_default_dataset, is_complete


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        '--root',
        type=str,
        default=None,
        help='output folder (default: synthetic_dir of lib/train/admin/local.py, else ./data/synthetic)',
    )
    parser.add_argument('--force', action='store_true', help='regenerate even if the set is complete')
    parser.add_argument('--workers', type=int, default=2, help='worker processes (default 2)')
    args = parser.parse_args()
    if args.workers < 1:
        parser.error(f'--workers must be at least 1, got {args.workers}')
    root = args.root or default_root()
    if not args.force and is_complete(root):
        print(f'synthetic dataset already complete: {root} (use --force to regenerate)')
        return 0
    start = time.time()
    try:
        root = ensure_default_dataset(root, force=args.force, workers=args.workers)
    except (OSError, RuntimeError) as e:
        print(f'error: {e}', file=sys.stderr)
        return 1
    print(f'wrote synthetic dataset to {root} in {time.time() - start:.1f} s')
    return 0


if __name__ == '__main__':
    sys.exit(main())
