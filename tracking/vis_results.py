"""Draws saved tracker results and the ground truth on the frames of one sequence (headless), to a video
or a PNG contact sheet; the logic is in lib/test/analysis/visualize.py.

python tracking/vis_results.py --dataset lasot --sequence airplane-1 --trackers NAME:PARAM [NAME:PARAM ...]
    [--runid N] [--output out.mp4 | out.png] [--frames START:END:STEP] [--results_path P]
"""

import sys

import _init_paths  # noqa: F401

from lib.test.analysis.visualize import main

if __name__ == '__main__':
    sys.exit(main())
