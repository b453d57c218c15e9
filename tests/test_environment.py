"""The environment report and the lock file: reading, writing, checking, and install.sh --locked."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from lib.utils.environment import (
    KEY_PACKAGES,
    LockError,
    compare_with_lock,
    installed_versions,
    key_versions,
    main,
    normalize_name,
    read_lock,
    write_lock,
)

REPO = Path(__file__).resolve().parents[1]


def test_key_versions_are_the_installed_ones():
    import numpy
    import timm
    import torch

    versions = key_versions()
    assert list(versions) == ['python', *KEY_PACKAGES]
    assert versions['python'] == '.'.join(map(str, sys.version_info[:3]))
    # torch.__version__ may carry the build's local label (+cu130) that the distribution's metadata lacks
    assert torch.__version__.startswith(versions['torch'])
    assert versions['timm'] == timm.__version__ and versions['numpy'] == numpy.__version__
    assert key_versions({'torch': '2.9.0'})['numpy'] == 'not installed'


def test_names_are_compared_in_pep503_form():
    assert normalize_name('OpenCV_Python.Headless') == 'opencv-python-headless'
    assert 'opencv-python-headless' in installed_versions()


def test_lock_round_trip_and_check(tmp_path):
    lock = tmp_path / 'requirements.lock'
    write_lock(lock, {'torch': '2.14.1', 'opencv-python-headless': '4.12.0.88', 'numpy': '2.4.6'})
    text = lock.read_text()
    assert text.startswith('# ') and 'bash install.sh --locked' in text
    assert [line for line in text.splitlines() if not line.startswith('#')] == [
        'numpy==2.4.6',
        'opencv-python-headless==4.12.0.88',
        'torch==2.14.1',
    ]
    pins = read_lock(lock)
    assert pins == {'numpy': '2.4.6', 'opencv-python-headless': '4.12.0.88', 'torch': '2.14.1'}
    assert compare_with_lock(pins, {**pins, 'torch': '2.14.1+cu130', 'extra': '1.0'}) == []
    assert compare_with_lock(pins, {'numpy': '2.3.0', 'torch': '2.14.1'}) == [
        'numpy: the lock pins 2.4.6, installed 2.3.0',
        'opencv-python-headless: the lock pins 4.12.0.88, not installed',
    ]


@pytest.mark.parametrize(
    'content,expected',
    [
        ('torch>=2.3\n', r":1: expected 'name==version', got 'torch>=2\.3'"),
        ('# only a comment\n', 'no pinned packages'),
        ('numpy==2.4.6\nNumPy==2.4.6\n', ':2: NumPy is pinned twice'),
    ],
)
def test_bad_lock_lines_are_named(tmp_path, content, expected):
    lock = tmp_path / 'bad.lock'
    lock.write_text(content)
    with pytest.raises(LockError) as err:
        read_lock(lock)
    assert re.search(expected, str(err.value)) and str(lock) in str(err.value)
    with pytest.raises(LockError, match='cannot read the lock file'):
        read_lock(tmp_path / 'missing.lock')


def test_check_cli_exits_non_zero_and_names_each_difference(tmp_path, capsys):
    lock = tmp_path / 'requirements.lock'
    installed = installed_versions()
    write_lock(lock, {**installed, 'numpy': '0.0.1', 'not-a-real-package': '1.0'})
    assert main(['--check', str(lock)]) == 1
    err = capsys.readouterr().err
    assert f"numpy: the lock pins 0.0.1, installed {installed['numpy']}" in err
    assert 'not-a-real-package: the lock pins 1.0, not installed' in err
    write_lock(lock, installed)
    assert main(['--check', str(lock)]) == 0
    lock.write_text('torch\n')
    assert main(['--check', str(lock)]) == 2 and str(lock) in capsys.readouterr().err


def test_committed_lock_pins_every_requirement_within_its_range():
    pins = read_lock(REPO / 'requirements.lock')
    for raw in (REPO / 'requirements.txt').read_text().splitlines():
        line = raw.split('#', 1)[0].strip()
        if not line:
            continue
        name, _, floor = re.match(r'([A-Za-z0-9._-]+)\s*(>=\s*([0-9.]+))?', line).groups()
        assert normalize_name(name) in pins, f'requirements.lock has no pin for {name}'
        if floor:
            found = tuple(int(p) for p in re.findall(r'\d+', pins[normalize_name(name)])[:2])
            assert found >= tuple(int(p) for p in floor.split('.')[:2]), f'{name} pinned below {floor}'
    # install.sh --locked builds visdom from the pinned sdist and pins pip itself
    assert 'visdom' in pins and 'pip' in pins


def test_install_sh_rejects_unknown_arguments_before_installing_anything():
    run = subprocess.run(
        ['bash', 'install.sh', '--lockd'],
        cwd=REPO,
        capture_output=True,
        text=True,
        env=dict(os.environ, PYTHON='/nonexistent/python'),
    )
    assert run.returncode == 2 and "unknown argument '--lockd'" in run.stderr
