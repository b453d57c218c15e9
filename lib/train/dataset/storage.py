"""Where a dataset's files live: a folder, or an LMDB holding the same files under their relative paths.

Every dataset reader talks to one small interface, so a single class per dataset works on both:

    storage.read_bytes(key)  storage.read_text(key)  storage.read_image(key)  storage.read_encoded_image(key)
    storage.exists(key)      storage.list_names(key)  storage.child(prefix)  storage.describe(key)
    storage.read_ends(key, head, tail)   (a file's first and last bytes: tracking/check_dataset.py)

Keys are relative paths with '/' separators ('airplane/airplane-1/img/00000001.jpg'), exactly the keys
of the LMDBs the lineage's *_lmdb readers expect, so existing LMDBs keep working.
"""

import os

from lib.utils.image_io import EncodedImage, decode_image, read_encoded_image, read_image


class StorageKeyError(FileNotFoundError):
    """A file (folder storage) or key (LMDB storage) a dataset needs is missing."""


def _join(prefix, key):
    return f'{prefix}/{key}' if prefix and key else (prefix or key)


class FolderStorage:
    kind = 'folder'

    def __init__(self, root):
        self.root = root

    def path(self, key):
        return os.path.join(self.root, *key.split('/')) if key else self.root

    def describe(self, key=''):
        return self.path(key)

    def child(self, prefix):
        return FolderStorage(self.path(prefix))

    def exists(self, key):
        return os.path.exists(self.path(key))

    def read_bytes(self, key):
        try:
            with open(self.path(key), 'rb') as f:
                return f.read()
        except FileNotFoundError:
            raise StorageKeyError(f'missing file {self.path(key)}') from None

    def read_text(self, key):
        return self.read_bytes(key).decode('utf-8')

    def read_ends(self, key, head, tail):
        """(first `head` bytes, last `tail` bytes) of a file, reading only those."""
        try:
            with open(self.path(key), 'rb') as f:
                first = f.read(head)
                size = os.fstat(f.fileno()).st_size
                if size <= head:
                    return first, first[-tail:]
                f.seek(size - tail)
                return first, f.read(tail)
        except FileNotFoundError:
            raise StorageKeyError(f'missing file {self.path(key)}') from None

    def read_image(self, key):
        return read_image(self.path(key))

    def read_encoded_image(self, key):
        return read_encoded_image(self.path(key))

    def list_names(self, key=''):
        """Sorted names of the files and folders directly inside folder `key`."""
        try:
            return sorted(os.listdir(self.path(key)))
        except FileNotFoundError:
            raise StorageKeyError(f'missing folder {self.path(key)}') from None

    def __repr__(self):
        return f'FolderStorage({self.root!r})'


# One environment per (process, LMDB path). A forked DataLoader worker must not reuse the parent's
# handle, so the cache is keyed by pid and environments are opened on first use in each process.
_ENVIRONMENTS = {}


def _open_environment(path):
    key = (os.getpid(), path)
    env = _ENVIRONMENTS.get(key)
    if env is None:
        import lmdb

        # A handle inherited through fork must not be used here, and py-lmdb refuses a second open of
        # the same files while it is registered, so close the inherited one first (the parent's stays open).
        for stale in [k for k in _ENVIRONMENTS if k[1] == path]:
            try:
                _ENVIRONMENTS.pop(stale).close()
            except lmdb.Error:
                pass
        if not os.path.isfile(os.path.join(path, 'data.mdb')):
            raise StorageKeyError(
                f'{path} is not an LMDB (no data.mdb inside). Build one with tracking/create_lmdb.py'
            )
        env = lmdb.open(path, readonly=True, lock=False, readahead=False, meminit=False, max_readers=512)
        _ENVIRONMENTS[key] = env
    return env


class LmdbStorage:
    """Read-only view of one LMDB environment (a folder holding data.mdb), optionally under a key prefix."""

    kind = 'lmdb'

    def __init__(self, lmdb_path, prefix=''):
        self.lmdb_path = lmdb_path
        self.prefix = prefix.strip('/')

    def _env(self):
        return _open_environment(self.lmdb_path)

    def __getstate__(self):  # picklable for spawned DataLoader workers: holds no handle
        return {'lmdb_path': self.lmdb_path, 'prefix': self.prefix}

    def describe(self, key=''):
        return f"{self.lmdb_path} (key '{_join(self.prefix, key)}')"

    def child(self, prefix):
        return LmdbStorage(self.lmdb_path, _join(self.prefix, prefix.strip('/')))

    def _get(self, key):
        with self._env().begin(write=False, buffers=False) as txn:
            return txn.get(_join(self.prefix, key).encode('utf-8'))

    def exists(self, key):
        if self._get(key) is not None:
            return True
        return bool(self.list_names(key, limit=1))

    def read_bytes(self, key):
        data = self._get(key)
        if data is None:
            raise StorageKeyError(f"LMDB {self.lmdb_path} has no key '{_join(self.prefix, key)}'")
        return data

    def read_text(self, key):
        return self.read_bytes(key).decode('utf-8')

    def read_ends(self, key, head, tail):
        data = self.read_bytes(key)
        return data[:head], data[-tail:]

    def read_image(self, key):
        return decode_image(self.read_bytes(key), name=self.describe(key))

    def read_encoded_image(self, key):
        return EncodedImage(self.read_bytes(key), self.describe(key))

    def list_names(self, key='', limit=None):
        """Sorted names directly under `key`, found by a prefix scan over the (sorted) LMDB keys."""
        start = _join(self.prefix, key)
        start = (start + '/') if start else ''
        names = []
        with self._env().begin(write=False, buffers=False) as txn:
            cursor = txn.cursor()
            if not cursor.set_range(start.encode('utf-8')):
                return names
            for raw in cursor.iternext(keys=True, values=False):
                full = raw.decode('utf-8')
                if not full.startswith(start):
                    break
                name = full[len(start) :].split('/', 1)[0]
                if not names or names[-1] != name:
                    names.append(name)
                    if limit and len(names) >= limit:
                        break
        return sorted(set(names))

    def __repr__(self):
        return f'LmdbStorage({self.lmdb_path!r}, prefix={self.prefix!r})'


def open_storage(path, use_lmdb=False, prefix=''):
    """FolderStorage(path/prefix) or LmdbStorage(path, prefix)."""
    if use_lmdb:
        return LmdbStorage(path, prefix)
    return FolderStorage(path).child(prefix) if prefix else FolderStorage(path)


def numeric_sorted(names, ext=None):
    """File names sorted by their numeric stem ('2.jpg' before '10.jpg'); non-numeric stems sort last
    by name. With `ext`, only names ending in it (case-insensitive) are kept."""
    if ext:
        names = [n for n in names if n.lower().endswith(ext.lower())]

    def order(name):
        stem = os.path.splitext(name)[0]
        return (0, int(stem), name) if stem.isdigit() else (1, 0, name)

    return sorted(names, key=order)
