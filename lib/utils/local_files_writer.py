"""Writes lib/train/admin/local.py and lib/test/evaluation/local.py
(tracking/create_default_local_file.py)."""

import os
import shutil

from lib.test.evaluation import environment as test_env
from lib.train.admin import environment as train_env
from lib.utils.io import atomic_write_text


def _custom_lines(indent, target, usage):
    """The custom_datasets attribute, empty, with the comment that says how to fill it."""
    return [
        f"{indent}# Your own datasets (docs/custom_dataset.md): {{'name': '/path/to/folder_or_lmdb'}},",
        f'{indent}# used as {usage}',
        f'{indent}{target}.custom_datasets = {{}}',
    ]


HEADER = (
    '# Written by tracking/create_default_local_file.py. Edit the paths for this machine;\n'
    '# this file is git-ignored. Datasets you do not use need no path.\n'
)


def _render_train(paths):
    lines = [HEADER, '', 'class EnvironmentSettings:', '    def __init__(self):']
    lines += [f'        self.{attr} = {paths[attr]!r}' for attr in train_env.TRAIN_PATH_ATTRS]
    usage = 'DATA.TRAIN.DATASETS_NAME: [CUSTOM:name] or [CUSTOM:name:train]'
    lines += _custom_lines('        ', 'self', usage)
    return '\n'.join(lines) + '\n'


def _render_test(paths):
    lines = [
        HEADER,
        'from lib.test.evaluation.environment import EnvSettings',
        '',
        '',
        'def local_env_settings():',
        '    settings = EnvSettings()',
    ]
    lines += [f'    settings.{attr} = {paths[attr]!r}' for attr in test_env.TEST_PATH_ATTRS]
    usage = 'tracking/test.py ... --dataset custom:name or custom:name:test'
    lines += _custom_lines('    ', 'settings', usage)
    lines += ['    return settings']
    return '\n'.join(lines) + '\n'


def write_local_files(workspace_dir, data_dir, save_dir):
    """Writes both files with absolute paths; an existing file is kept as local.py.bak. Returns paths."""
    workspace_dir, data_dir, save_dir = (os.path.realpath(p) for p in (workspace_dir, data_dir, save_dir))
    contents = {
        train_env.LOCAL_FILE: _render_train(train_env.default_train_paths(workspace_dir, data_dir)),
        test_env.LOCAL_FILE: _render_test(test_env.default_test_paths(workspace_dir, data_dir, save_dir)),
    }
    for path, text in contents.items():
        if os.path.isfile(path):
            shutil.copyfile(path, path + '.bak')
        atomic_write_text(path, text)
    return list(contents)
