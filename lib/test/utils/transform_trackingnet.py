"""Pack TrackingNet test results for the evaluation server:
    python lib/test/utils/transform_trackingnet.py --tracker_name ostrack \
        --cfg_name vitb_384_mae_ce_32x4_ep300
Prints the zip path. The logic is in lib/test/utils/packing.py."""

if __name__ == '__main__' and not __package__:
    # Started as a file: reuse the one sys.path bootstrap of tracking/.
    import os
    import runpy

    runpy.run_path(
        os.path.join(
            os.path.dirname(os.path.abspath(__file__)), '..', '..', '..', 'tracking', '_init_paths.py'
        )
    )

import sys  # noqa: E402

from lib.test.utils.packing import main_trackingnet  # noqa: E402

if __name__ == '__main__':
    sys.exit(main_trackingnet())
