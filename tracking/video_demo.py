"""Tracks a box through a video file and writes the annotated video.

python tracking/video_demo.py TRACKER CONFIG VIDEO [--optional_box x y w h] [--save_video out.mp4]
"""

import sys

import _init_paths  # noqa: F401

from lib.test.evaluation.video import main

if __name__ == '__main__':
    sys.exit(main())
