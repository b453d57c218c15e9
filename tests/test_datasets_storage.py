"""Storage backends (folder / LMDB) and the LMDB builder."""

import multiprocessing
import os
import subprocess
import sys

import numpy as np
import pytest
from datasets_fixtures import write_lasot, write_text

from lib.train.dataset import lmdb_builder
from lib.train.dataset import storage as storage_mod
from lib.train.dataset.lmdb_builder import LmdbBuildError, build_lmdb, write_environment
from lib.train.dataset.storage import FolderStorage, LmdbStorage, StorageKeyError
from lib.utils.image_io import ImageReadError

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture
def pair(tmp_path):
    src = write_lasot(str(tmp_path / 'lasot'), ['cat-1', 'cat-2'], n=3)
    write_text(str(tmp_path / 'lasot' / 'notes.txt'), 'hello\n')
    build_lmdb('lasot', src, str(tmp_path / 'lasot_lmdb'))
    return FolderStorage(src), LmdbStorage(str(tmp_path / 'lasot_lmdb'))


def test_folder_and_lmdb_agree(pair):
    folder, lmdb_storage = pair
    for key in ('notes.txt', 'cat/cat-2/groundtruth.txt', 'cat/cat-1/img/00000003.jpg'):
        assert lmdb_storage.read_bytes(key) == folder.read_bytes(key)
    assert lmdb_storage.read_text('notes.txt') == 'hello\n'
    assert np.array_equal(
        lmdb_storage.read_image('cat/cat-1/img/00000002.jpg'), folder.read_image('cat/cat-1/img/00000002.jpg')
    )
    assert lmdb_storage.list_names('') == folder.list_names('') == ['cat', 'notes.txt']
    assert lmdb_storage.list_names('cat/cat-1/img') == ['00000001.jpg', '00000002.jpg', '00000003.jpg']
    assert lmdb_storage.exists('cat/cat-1') and lmdb_storage.exists('notes.txt')
    assert not lmdb_storage.exists('cat/cat-3') and not folder.exists('cat/cat-3')
    child = lmdb_storage.child('cat').child('cat-2')
    assert child.read_bytes('groundtruth.txt') == folder.read_bytes('cat/cat-2/groundtruth.txt')


def test_missing_key_names_lmdb_path_and_key(pair):
    _, lmdb_storage = pair
    with pytest.raises(StorageKeyError) as e:
        lmdb_storage.child('cat').read_bytes('cat-9/groundtruth.txt')
    assert lmdb_storage.lmdb_path in str(e.value) and 'cat/cat-9/groundtruth.txt' in str(e.value)


def test_missing_file_names_path(tmp_path):
    with pytest.raises(StorageKeyError, match='nothere.txt'):
        FolderStorage(str(tmp_path)).read_text('nothere.txt')


def test_not_an_lmdb_names_path(tmp_path):
    with pytest.raises(StorageKeyError, match=str(tmp_path)):
        LmdbStorage(str(tmp_path)).read_bytes('x')


def test_lmdb_opened_readonly_without_lock(pair):
    _, lmdb_storage = pair
    lmdb_storage.read_bytes('notes.txt')
    flags = lmdb_storage._env().flags()
    assert flags['readonly'] and not flags['lock'] and not flags['readahead'] and not flags['meminit']


def test_forked_worker_opens_its_own_environment(pair):
    _, lmdb_storage = pair
    lmdb_storage.read_bytes('notes.txt')  # parent opened it first
    parent_env = storage_mod._ENVIRONMENTS[(os.getpid(), lmdb_storage.lmdb_path)]
    with multiprocessing.get_context('fork').Pool(1) as pool:
        text, had_env = pool.apply(_child_check, (lmdb_storage, id(parent_env)))
    assert text == 'hello\n' and had_env
    assert lmdb_storage.read_text('notes.txt') == 'hello\n'  # the parent's handle still works


def _child_check(lmdb_storage, parent_env_id):
    text = lmdb_storage.read_text('notes.txt')
    env = storage_mod._ENVIRONMENTS.get((os.getpid(), lmdb_storage.lmdb_path))
    return text, env is not None and id(env) != parent_env_id


def test_corrupt_image_error_names_file_and_key(pair, tmp_path):
    folder, _ = pair
    bad = 'cat/cat-1/img/00000002.jpg'
    with open(folder.path(bad), 'wb') as f:
        f.write(b'not a jpeg at all')
    with pytest.raises(ImageReadError, match='00000002.jpg'):
        folder.read_image(bad)
    build_lmdb('lasot', folder.root, str(tmp_path / 'bad_lmdb'))
    with pytest.raises(ImageReadError) as e:
        LmdbStorage(str(tmp_path / 'bad_lmdb')).read_image(bad)
    assert 'bad_lmdb' in str(e.value) and bad in str(e.value)


def test_map_size_grows(tmp_path):
    entries = [(f'k{i}', bytes([i]) * 200_000) for i in range(10)]  # 2 MB into a 64 KB initial map
    write_environment(str(tmp_path / 'env'), entries, initial_map_size=64 * 1024)
    assert LmdbStorage(str(tmp_path / 'env')).read_bytes('k7') == bytes([7]) * 200_000


def test_interrupted_build_leaves_nothing(tmp_path, monkeypatch):
    src = write_lasot(str(tmp_path / 'lasot'), ['cat-1'], n=2)
    dst = tmp_path / 'out_lmdb'

    original = lmdb_builder.write_environment

    def failing(env_path, entries, initial_map_size=None):
        original(env_path, entries[:1])  # part of the data written, then the build is killed
        raise KeyboardInterrupt

    monkeypatch.setattr(lmdb_builder, 'write_environment', failing)
    with pytest.raises(KeyboardInterrupt):
        build_lmdb('lasot', src, str(dst))
    assert os.listdir(tmp_path) == ['lasot']  # neither dst nor a partial folder remains


def test_existing_destination_refused_then_overwritten(tmp_path):
    src = write_lasot(str(tmp_path / 'lasot'), ['cat-1'], n=2)
    dst = str(tmp_path / 'out')
    build_lmdb('lasot', src, dst)
    with pytest.raises(LmdbBuildError, match='already exists'):
        build_lmdb('lasot', src, dst)
    write_text(os.path.join(src, 'extra.txt'), 'x')
    build_lmdb('lasot', src, dst, overwrite=True)
    assert LmdbStorage(dst).read_text('extra.txt') == 'x'
    assert sorted(os.listdir(tmp_path)) == ['lasot', 'out']


def test_create_lmdb_cli(tmp_path):
    src = write_lasot(str(tmp_path / 'lasot'), ['cat-1'], n=2)
    run = [
        sys.executable,
        os.path.join(REPO, 'tracking', 'create_lmdb.py'),
        '--dataset',
        'lasot',
        '--src',
        src,
    ]
    ok = subprocess.run(run + ['--dst', str(tmp_path / 'l')], capture_output=True, text=True, check=False)
    assert ok.returncode == 0, ok.stderr
    assert np.array_equal(
        LmdbStorage(str(tmp_path / 'l')).read_image('cat/cat-1/img/00000001.jpg'),
        FolderStorage(src).read_image('cat/cat-1/img/00000001.jpg'),
    )
    bad = subprocess.run(
        run[:-1] + [str(tmp_path / 'missing'), '--dst', str(tmp_path / 'm')],
        capture_output=True,
        text=True,
        check=False,
    )
    assert bad.returncode != 0 and 'missing' in bad.stderr and 'Traceback' not in bad.stderr
