"""The one bootstrap shared by every script in tracking/: puts the repository root on sys.path
so that `import lib...` works however the script is started (python tracking/x.py, from any cwd)."""

import os
import sys

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)
