"""Atomic file writing: a reader (or a restarted run) sees either the old file or the complete new
one, never a half-written file. Data goes to a temporary file in the same folder, is flushed to disk,
then renamed over the target with os.replace, which is atomic on POSIX and Windows."""

import contextlib
import os
import tempfile


@contextlib.contextmanager
def atomic_open(path, mode='w', **kwargs):
    """`with atomic_open(path, 'w') as f: ...` writes `path` atomically ('w' or 'wb')."""
    if mode not in ('w', 'wb'):
        raise ValueError(f"atomic_open supports modes 'w' and 'wb', got {mode!r}")
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix='.' + os.path.basename(path) + '.', suffix='.tmp')
    try:
        with os.fdopen(fd, mode, **kwargs) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)
        raise


def atomic_write_text(path, text):
    with atomic_open(path, 'w') as f:
        f.write(text)


def atomic_write_bytes(path, data):
    with atomic_open(path, 'wb') as f:
        f.write(data)


def atomic_torch_save(obj, path):
    import torch

    with atomic_open(path, 'wb') as f:
        torch.save(obj, f)


def atomic_save_safetensors(tensors, path, metadata=None):
    from safetensors.torch import save

    atomic_write_bytes(path, save({k: v.contiguous() for k, v in tensors.items()}, metadata=metadata))


def replace_folder(complete: str, final: str) -> None:
    """Moves the finished folder `complete` to `final`, where a reader sees either the old folder or the
    complete new one: an existing `final` is renamed aside and removed only once the new one is in
    place. `complete` must be on the same file system (a sibling)."""
    import shutil

    if not os.path.exists(final):
        os.rename(complete, final)
        return
    folder, name = os.path.split(os.path.abspath(final))
    old = os.path.join(folder, f'.old-{os.getpid()}-{name}')
    shutil.rmtree(old, ignore_errors=True)
    os.rename(final, old)
    os.rename(complete, final)
    shutil.rmtree(old)
