"""The default synthetic dataset (the one a fresh clone trains and evaluates on), generated on demand.

Generation happens in a temporary sibling folder and is renamed into place only after a completion
marker has been written, so a reader sees either nothing or the whole set. A lock file beside the
folder serialises concurrent callers (DataLoader workers, parallel test processes); the others wait
and then find the set complete. Leftovers of an interrupted generation are removed and it is redone.
"""

import contextlib
import errno
import json
import os
import shutil
import tempfile
import time

from .coco import write_coco
from .layouts import write_got10k, write_lasot, write_trackingnet

FORMAT_VERSION = 2  # bump when the generator's output changes, so old sets are regenerated
MARKER = '.synthetic_complete.json'
DEFAULT_SPEC = {
    'seed': 0,
    'lasot': {'classes': 4, 'seqs_per_class': 10, 'test_per_class': 8},
    'got10k': {'n_train': 8, 'n_val': 3, 'n_test': 3},
    'trackingnet': {'chunks': 1, 'n_per_chunk': 6, 'n_test': 3},
    'coco': {'n_images': 40},
}
OWN_ENTRIES = {'lasot', 'got10k', 'trackingnet', 'coco', MARKER}


def default_root():
    """settings.synthetic_dir of lib/train/admin/local.py, or ./data/synthetic of the repository when
    local.py has not been created yet (a fresh clone)."""
    from lib.utils.local_settings import REPO_ROOT, LocalSettingsMissing

    try:
        from lib.train.admin.environment import env_settings

        return env_settings().synthetic_dir
    except LocalSettingsMissing:
        return os.path.join(REPO_ROOT, 'data', 'synthetic')


def _marker_content(spec):
    # through JSON so that a spec with tuples compares equal to the lists read back from the marker
    return json.loads(json.dumps({'format_version': FORMAT_VERSION, 'spec': spec}))


def is_complete(root, spec=None):
    try:
        with open(os.path.join(root, MARKER), encoding='utf-8') as f:
            return json.load(f) == _marker_content(spec or DEFAULT_SPEC)
    except (OSError, ValueError):
        return False


def build_dataset(folder, spec=None, workers=2):
    """Writes every layout of the set into `folder` (no marker, no atomicity: see ensure_default_dataset)."""
    spec = spec or DEFAULT_SPEC
    seed = spec['seed']
    write_lasot(os.path.join(folder, 'lasot'), seed=seed, workers=workers, **spec['lasot'])
    write_got10k(os.path.join(folder, 'got10k'), seed=seed, workers=workers, **spec['got10k'])
    write_trackingnet(os.path.join(folder, 'trackingnet'), seed=seed, workers=workers, **spec['trackingnet'])
    write_coco(os.path.join(folder, 'coco'), seed=seed, workers=workers, **spec['coco'])


@contextlib.contextmanager
def _file_lock(path, timeout):
    """An exclusive lock held by an open file (released by the OS if the holder dies). Falls back to an
    O_EXCL lock file, taken over when older than `timeout`, where fcntl does not exist."""
    try:
        import fcntl
    except ImportError:
        fcntl = None
    deadline = time.monotonic() + timeout
    if fcntl is not None:
        with open(path, 'a+') as f:
            while True:
                try:
                    fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except OSError as e:
                    if e.errno not in (errno.EAGAIN, errno.EACCES) or time.monotonic() > deadline:
                        raise TimeoutError(f'could not lock {path} within {timeout} s') from e
                    time.sleep(0.2)
            try:
                yield
            finally:
                fcntl.flock(f.fileno(), fcntl.LOCK_UN)
        return
    while True:
        try:
            os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
            break
        except FileExistsError:
            with contextlib.suppress(OSError):
                if time.time() - os.path.getmtime(path) > timeout:
                    os.remove(path)
                    continue
            if time.monotonic() > deadline:
                raise TimeoutError(f'could not lock {path} within {timeout} s') from None
            time.sleep(0.2)
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            os.remove(path)


def _remove_leftovers(root):
    """Deletes temporary and replaced siblings of earlier (possibly interrupted) generations."""
    parent, base = os.path.split(root)
    for name in os.listdir(parent):
        if name.startswith((base + '.tmp-', base + '.old-')):
            shutil.rmtree(os.path.join(parent, name), ignore_errors=True)


def _check_replaceable(root):
    """An existing incomplete root is replaced only if it holds nothing but our own entries."""
    foreign = sorted(set(os.listdir(root)) - OWN_ENTRIES)
    if foreign:
        raise RuntimeError(
            f"synthetic dataset folder '{root}' is incomplete (no {MARKER} of format "
            f"{FORMAT_VERSION}) and holds other files {foreign[:5]}; move them away or point "
            f"synthetic_dir in lib/train/admin/local.py at an empty folder"
        )


def ensure_default_dataset(root=None, force=False, workers=2, spec=None, timeout=1800):
    """Generates the default synthetic set under `root` (default: default_root()) unless it is already
    complete; force=True regenerates it. Safe to call from several processes at once. Returns root."""
    root = os.path.abspath(root or default_root())
    spec = spec or DEFAULT_SPEC
    if not force and is_complete(root, spec):
        return root
    parent = os.path.dirname(root)
    os.makedirs(parent, exist_ok=True)
    with _file_lock(root + '.lock', timeout):
        if not force and is_complete(root, spec):
            return root  # another process finished it while we waited
        _remove_leftovers(root)
        if os.path.isdir(root) and not is_complete(root, spec):
            _check_replaceable(root)
        tmp = tempfile.mkdtemp(prefix=os.path.basename(root) + '.tmp-', dir=parent)
        os.chmod(tmp, 0o755)  # mkdtemp makes it private; the set is ordinary shared data
        build_dataset(tmp, spec, workers)
        with open(os.path.join(tmp, MARKER), 'w', encoding='utf-8') as f:
            json.dump(_marker_content(spec), f, indent=1)
            f.flush()
            os.fsync(f.fileno())
        old = None
        if os.path.lexists(root):
            old = tempfile.mkdtemp(prefix=os.path.basename(root) + '.old-', dir=parent)
            os.rename(root, os.path.join(old, 'previous'))
        os.rename(tmp, root)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    return root
