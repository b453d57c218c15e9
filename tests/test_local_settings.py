import os
import subprocess
import sys

import pytest

from lib.test.evaluation import environment as test_env
from lib.train.admin import environment as train_env
from lib.utils.local_settings import (
    CREATE_COMMAND,
    DatasetPathError,
    LocalSettingsMissing,
    import_local_module,
)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_missing_local_file_names_the_create_command():
    with pytest.raises(LocalSettingsMissing) as err:
        import_local_module('lib.train.admin.local_that_does_not_exist')
    assert CREATE_COMMAND in str(err.value)
    assert 'local_that_does_not_exist.py' in str(err.value)


def test_error_inside_local_file_is_not_hidden(tmp_path, monkeypatch):
    pkg = tmp_path / 'brokenpkg'
    pkg.mkdir()
    (pkg / '__init__.py').write_text('')
    (pkg / 'local.py').write_text('import module_that_is_not_installed_xyz\n')
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ModuleNotFoundError, match='module_that_is_not_installed_xyz'):
        import_local_module('brokenpkg.local')
    assert (pkg / 'local.py').read_text() == 'import module_that_is_not_installed_xyz\n'  # never rewritten


def test_create_default_local_file_writes_both_files_in_lineage_form(tmp_path, monkeypatch):
    train_file, test_file = tmp_path / 'train_local.py', tmp_path / 'test_local.py'
    monkeypatch.setattr(train_env, 'LOCAL_FILE', str(train_file))
    monkeypatch.setattr(test_env, 'LOCAL_FILE', str(test_file))
    from lib.utils.local_files_writer import write_local_files

    write_local_files(str(tmp_path / 'ws'), str(tmp_path / 'data'), str(tmp_path / 'out'))
    namespace = {}
    exec(train_file.read_text(), namespace)
    settings = namespace['EnvironmentSettings']()
    assert settings.lasot_dir == os.path.realpath(tmp_path / 'data' / 'lasot')
    assert settings.got10k_dir == os.path.realpath(tmp_path / 'data' / 'got10k' / 'train')
    namespace = {}
    exec(test_file.read_text(), namespace)
    env = namespace['local_env_settings']()
    assert env.results_path == os.path.realpath(tmp_path / 'out' / 'test' / 'tracking_results')
    assert env.otb_path == os.path.realpath(tmp_path / 'data' / 'otb')
    for attr in (
        'lasot_path',
        'got10k_path',
        'trackingnet_path',
        'lasot_extension_subset_path',
        'tnl2k_path',
        'uav_path',
        'nfs_path',
        'result_plot_path',
        'save_dir',
        'network_path',
    ):
        assert getattr(env, attr)


def test_create_default_local_file_cli_runs_from_any_cwd(tmp_path):
    env = dict(os.environ)
    out = subprocess.run(
        [sys.executable, os.path.join(REPO, 'tracking', 'create_default_local_file.py'), '--help'],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
    )
    assert out.returncode == 0 and '--workspace_dir' in out.stdout


def test_old_pasted_local_file_gets_defaults_for_missing_attributes(monkeypatch):
    class OldSettings:  # an old lineage local.py sets only some attributes
        def __init__(self):
            self.lasot_dir = '/old/lasot'

    fake = type(sys)('fake_local')
    fake.EnvironmentSettings = OldSettings
    monkeypatch.setattr(train_env, 'import_local_module', lambda name: fake)
    settings = train_env.env_settings()
    assert settings.lasot_dir == '/old/lasot'
    assert settings.synthetic_dir.endswith(os.path.join('data', 'synthetic'))


def test_lineage_typo_for_lasot_extension_is_accepted(monkeypatch):
    def local_env_settings():
        s = test_env.EnvSettings()
        s.lasot_extension_subset_path_path = '/x/lasot_ext'
        return s

    fake = type(sys)('fake_local')
    fake.local_env_settings = local_env_settings
    monkeypatch.setattr(test_env, 'import_local_module', lambda name: fake)
    assert test_env.env_settings().lasot_extension_subset_path == '/x/lasot_ext'


def test_missing_dataset_path_names_attribute_path_and_layout(tmp_path):
    settings = test_env.EnvSettings()
    with pytest.raises(DatasetPathError) as err:
        test_env.require_test_path(settings, 'otb_path', '<root>/<Seq>/img/%04d.jpg')
    assert "'otb_path' is not set" in str(err.value) and '<root>/<Seq>/img/%04d.jpg' in str(err.value)
    settings.otb_path = str(tmp_path / 'nowhere')
    with pytest.raises(DatasetPathError) as err:
        test_env.require_test_path(settings, 'otb_path', 'layout')
    assert str(tmp_path / 'nowhere') in str(err.value) and 'local.py' in str(err.value)
    (tmp_path / 'nowhere').mkdir()
    assert test_env.require_test_path(settings, 'otb_path', 'layout') == str(tmp_path / 'nowhere')
