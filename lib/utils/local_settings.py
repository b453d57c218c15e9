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


def apply_set_path(settings, items: list[str] | tuple = ()):
    """Applies --set_path items to `settings`: 'ATTR=PATH' sets an attribute, 'ATTR.KEY=PATH' one entry
    of a dict attribute (custom_datasets.drones=/data/drones). ValueError names a malformed item."""
    for item in items:
        attr, sep, value = item.partition('=')
        if not sep or not attr.strip():
            raise ValueError(f"--set_path expects ATTR=PATH or ATTR.KEY=PATH, got '{item}'")
        attr, dot, key = attr.strip().partition('.')
        if dot:
            setattr(settings, attr, {**(getattr(settings, attr, None) or {}), key: value})
        else:
            setattr(settings, attr, value)
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


def resolve_pretrained_path(name: str, cfg_key: str = 'MODEL.PRETRAIN_FILE') -> str:
    """Where a pretrained weights file named in a config (MODEL.PRETRAIN_FILE) is: an absolute path, a
    path relative to the working directory, or a file name in the `pretrained_networks` folder of
    lib/train/admin/local.py (default <repo>/pretrained_models). FileNotFoundError lists the places."""

    candidates = [name] if os.path.isabs(name) else [os.path.abspath(name)]
    if not os.path.isabs(name):
        folder = os.path.join(REPO_ROOT, 'pretrained_models')
        try:
            from lib.train.admin.environment import env_settings

            folder = getattr(env_settings(), 'pretrained_networks', '') or folder
        except LocalSettingsMissing:
            pass
        candidates.append(os.path.join(folder, name))
    for path in candidates:
        if os.path.isfile(path):
            return path
    raise FileNotFoundError(
        f"pretrained weights '{name}' (config key {cfg_key}) not found; looked at: {', '.join(candidates)}. "
        f"Put the file there (pretrained_networks in lib/train/admin/local.py), or set {cfg_key} to '' "
        f"to train from random initialisation"
    )
