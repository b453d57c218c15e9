"""Builds a dataset's LMDB form (the key layout the lineage's --use_lmdb readers expect) from its folders.

    python tracking/create_lmdb.py --dataset lasot|got10k|trackingnet|coco|vid|custom --src DIR --dst DIR

--src is the dataset root: LaSOT root; GOT-10k root holding train/ (and val/); TrackingNet root holding
TRAIN_<k>/; COCO root holding annotations/ and images/; ImageNet VID root holding Data/ (and
Annotations/ unless cache.json exists); a custom dataset's root holding list.txt. Point *_lmdb_dir in
lib/train/admin/local.py at --dst; for a custom dataset, register --dst in custom_datasets (both
local.py files): a folder holding data.mdb is read as an LMDB.
"""

import argparse
import sys
import time

import _init_paths  # noqa: F401

from lib.train.dataset.lmdb_builder import BUILDERS, LmdbBuildError, build_lmdb


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument('--dataset', required=True, choices=sorted(BUILDERS))
    parser.add_argument('--src', required=True, help='dataset root in folder form')
    parser.add_argument('--dst', required=True, help='output LMDB path (must not exist unless --overwrite)')
    parser.add_argument(
        '--overwrite', action='store_true', help='replace an existing --dst once the new one is built'
    )
    args = parser.parse_args()
    start = time.time()
    try:
        count = build_lmdb(args.dataset, args.src, args.dst, overwrite=args.overwrite)
    except (LmdbBuildError, OSError) as e:
        sys.exit(f'create_lmdb: {e}')
    print(f'wrote {count} files into {args.dst} in {time.time() - start:.1f}s')


if __name__ == '__main__':
    main()
