"""Per-machine path files (lib/train/admin/local.py and lib/test/evaluation/local.py).

They keep the lineage's form and attribute names so a user can paste an old local.py. Loading never
rewrites a file (the lineage overwrote a local.py that merely had a typo), a missing file names the
command that creates it, and a dataset path is checked only when a dataset is actually used.
"""

import importlib
import os

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CREATE_COMMAND = (
    'python tracking/create_default_local_file.py --workspace_dir . --data_dir ./data --save_dir ./output'
)


class LocalSettingsMissing(RuntimeError):
    """local.py has not been created on this machine."""


class DatasetPathError(FileNotFoundError):
    """A dataset that is used has no valid path in local.py."""


def import_local_module(module_name):
    """Imports lib.train.admin.local or lib.test.evaluation.local with a helpful error if missing."""
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        if e.name != module_name:
            raise
        path = os.path.join(REPO_ROOT, *module_name.split('.')) + '.py'
        raise LocalSettingsMissing(
            f"{path} does not exist. Create the local path files with:\n    {CREATE_COMMAND}\n"
            f"(run from the repository root; then edit the paths in it)"
        ) from None


def apply_defaults(settings, defaults):
    """Fills attributes a (possibly old, pasted) local.py does not set."""
    for key, value in defaults.items():
        if not getattr(settings, key, None):
            setattr(settings, key, value)
    return settings


def require_path(settings, attr, layout, local_file, must_be='dir'):
    """Returns settings.<attr> if it exists on disk, else raises DatasetPathError naming the
    attribute, the path, the file to edit and the expected layout."""
    path = getattr(settings, attr, '') or ''
    exists = os.path.isdir(path) if must_be == 'dir' else os.path.exists(path)
    if path and exists:
        return path
    state = 'is not set' if not path else f"points to '{path}', which does not exist"
    raise DatasetPathError(
        f"dataset path '{attr}' {state}. Set {attr} in {local_file} to a folder "
        f"with the layout:\n    {layout}"
    )
