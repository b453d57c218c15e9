"""Builds a custom dataset (docs/custom_dataset.md) from videos or image folders and their box files.

    python tracking/create_custom_dataset.py --src videos/ --dst /data/drones [--boxes boxes/] [--split train]

--src holds <name>.mp4 / .avi / .mov / .mkv videos (frames extracted with OpenCV) and/or <name>/ folders of
.jpg / .png frames (numeric name order). Each needs a box file <boxes>/<name>.txt (--boxes, default --src;
an image folder may hold <name>/groundtruth.txt instead) with ONE LINE PER FRAME: x,y,w,h (comma or
whitespace separated), an empty line or NaN,NaN,NaN,NaN where the target is not visible. This holds
for evaluation-only sequences too: evaluation scores every frame, so a first-frame box alone is not
enough; the first line must be a visible box for a sequence you evaluate on. Optional
<boxes>/<name>.absence.label: one 0/1 per frame (1 = absent).

A rerun skips the sequences already in <dst>/list.txt (--overwrite rebuilds them); a killed run leaves
no half sequence. Register --dst as custom_datasets = {'drones': '/data/drones'} in
lib/train/admin/local.py and lib/test/evaluation/local.py, then check it with
python tracking/check_dataset.py --dataset CUSTOM:drones. Exit status: 0 all built, 1 some failed,
2 bad arguments.
"""

import argparse
import sys

import _init_paths  # noqa: F401

from lib.train.dataset.custom_builder import CustomBuildError, build_custom_dataset


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument('--src', required=True, help='folder of videos and/or image folders')
    parser.add_argument('--dst', required=True, help='the dataset root to create or extend')
    parser.add_argument('--boxes', default=None, help='folder of <name>.txt box files (default: --src)')
    parser.add_argument('--split', default=None, help='also list the sequences in <dst>/splits/<SPLIT>.txt')
    parser.add_argument('--overwrite', action='store_true', help='rebuild sequences already in list.txt')
    parser.add_argument('--jpeg_quality', type=int, default=95, help='quality of extracted frames (95)')
    parser.add_argument('--no_progress', action='store_true', help='no progress bar')
    args = parser.parse_args(argv)
    try:
        summary = build_custom_dataset(
            args.src,
            args.dst,
            boxes_dir=args.boxes,
            split=args.split,
            overwrite=args.overwrite,
            quality=args.jpeg_quality,
            show_progress=not args.no_progress,
        )
    except (CustomBuildError, OSError) as e:
        print(f'create_custom_dataset: {e}', file=sys.stderr)
        return 2
    for name, message in summary.warnings:
        print(f'warning: {name}: {message}', file=sys.stderr)
    for name, message in summary.failed:
        print(f'error: {name}: {message}', file=sys.stderr)
    print(
        f'{args.dst}: {len(summary.built)} sequence(s) built, {len(summary.skipped)} already there, '
        f'{len(summary.failed)} failed'
    )
    return 1 if summary.failed else 0


if __name__ == '__main__':
    sys.exit(main())
