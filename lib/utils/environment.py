"""The installed Python environment: the versions that decide results, and a lock file of all of them.

    python -m lib.utils.environment                           the key versions (torch, torchvision, ...)
    python -m lib.utils.environment --write-lock FILE         every installed distribution, pinned
    python -m lib.utils.environment --check FILE              exit 1 naming each package that differs

The lock file is pip's requirements format (`name==version` a line, `#` comments), so
`pip install -r requirements.lock` reads it; `bash install.sh --locked` installs it and then runs
`--check` on the result.
"""

import argparse
import importlib.metadata
import platform
import re
import sys
from pathlib import Path

# What the tests, the learning claims and the benchmark figures depend on; printed by .ci/run.
KEY_PACKAGES = ('torch', 'torchvision', 'timm', 'numpy', 'opencv-python-headless')

_PIN = re.compile(r'^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;#]+)$')


class LockError(ValueError):
    pass


def normalize_name(name: str) -> str:
    """PEP 503 form: 'opencv_python_headless' and 'OpenCV-Python-Headless' are one package."""
    return re.sub(r'[-_.]+', '-', name).lower()


def installed_versions() -> dict[str, str]:
    """{normalized name: version} of every distribution importable from this interpreter."""
    versions = {}
    for dist in importlib.metadata.distributions():
        name = dist.metadata['Name']
        if name:  # a half-removed distribution can leave metadata without a name
            versions.setdefault(normalize_name(name), dist.version)
    return versions


def key_versions(installed: dict[str, str] | None = None) -> dict[str, str]:
    """Python and the KEY_PACKAGES versions ('not installed' for a missing one)."""
    installed = installed_versions() if installed is None else installed
    versions = {'python': platform.python_version()}
    for name in KEY_PACKAGES:
        versions[name] = installed.get(normalize_name(name), 'not installed')
    return versions


def format_lock(installed: dict[str, str], header: str = '') -> str:
    lines = [f'# {line}' if line else '#' for line in header.splitlines()]
    lines += [f'{name}=={version}' for name, version in sorted(installed.items())]
    return '\n'.join(lines) + '\n'


def write_lock(path: Path, installed: dict[str, str] | None = None) -> None:
    """Writes the lock atomically (a reader never sees half a file)."""
    from lib.utils.io import atomic_write_text

    installed = installed_versions() if installed is None else installed
    header = (
        f'Written by python -m lib.utils.environment --write-lock from the environment the test\n'
        f'suite last passed in: Python {platform.python_version()}, {platform.system()} '
        f'{platform.machine()}.\nInstall it with: bash install.sh --locked'
    )
    atomic_write_text(path, format_lock(installed, header))


def read_lock(path: Path) -> dict[str, str]:
    """{normalized name: version} of a lock file; a line that is not `name==version` is an error."""
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise LockError(f'{path}: cannot read the lock file ({exc.strerror})') from None
    pins = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith('#'):
            continue
        match = _PIN.match(line)
        if not match:
            raise LockError(f"{path}:{number}: expected 'name==version', got {raw!r}")
        name = normalize_name(match.group(1))
        if name in pins:
            raise LockError(f'{path}:{number}: {match.group(1)} is pinned twice')
        pins[name] = match.group(2)
    if not pins:
        raise LockError(f'{path}: no pinned packages')
    return pins


def _release(version: str) -> str:
    # a local label names the build, not the release: pip installs torch 2.14.1 as '2.14.1' or
    # '2.14.1+cu130' depending on the index it came from
    return version.split('+', 1)[0]


def compare_with_lock(pins: dict[str, str], installed: dict[str, str]) -> list[str]:
    """One line per locked package that is missing or installed at another version."""
    problems = []
    for name, version in sorted(pins.items()):
        found = installed.get(name)
        if found is None:
            problems.append(f'{name}: the lock pins {version}, not installed')
        elif _release(found) != _release(version):
            problems.append(f'{name}: the lock pins {version}, installed {found}')
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog='python -m lib.utils.environment', description=__doc__.split('\n')[0]
    )
    group = parser.add_mutually_exclusive_group()
    group.add_argument('--write-lock', type=Path, metavar='FILE', help='pin every installed distribution')
    group.add_argument('--check', type=Path, metavar='FILE', help='compare the environment with a lock file')
    args = parser.parse_args(argv)
    if args.write_lock:
        write_lock(args.write_lock)
        print(f'wrote {args.write_lock}')
        return 0
    if args.check:
        try:
            problems = compare_with_lock(read_lock(args.check), installed_versions())
        except LockError as exc:
            print(f'error: {exc}', file=sys.stderr)
            return 2
        if problems:
            print(f'{args.check}: the environment differs from the lock:', file=sys.stderr)
            for line in problems:
                print(f'  {line}', file=sys.stderr)
            return 1
        print(f'{args.check}: every pinned package is installed at its pinned version')
        return 0
    print('  '.join(f'{name} {version}' for name, version in key_versions().items()))
    return 0


if __name__ == '__main__':
    sys.exit(main())
