"""Evaluation-side paths: lib/test/evaluation/local.py, the lineage's form:

from lib.test.evaluation.environment import EnvSettings
def local_env_settings():
    settings = EnvSettings()
    settings.lasot_path = '/data/lasot'
    ...
    return settings
"""

import os

from lib.utils.local_settings import REPO_ROOT, apply_defaults, import_local_module, require_path

LOCAL_MODULE = 'lib.test.evaluation.local'
LOCAL_FILE = os.path.join(REPO_ROOT, 'lib', 'test', 'evaluation', 'local.py')

TEST_PATH_ATTRS = (
    'prj_dir',
    'save_dir',
    'results_path',
    'result_plot_path',
    'network_path',
    'segmentation_path',
    'got_packed_results_path',
    'tn_packed_results_path',
    'got_reports_path',
    'lasot_path',
    'lasot_lmdb_path',
    'lasot_extension_subset_path',
    'got10k_path',
    'got10k_lmdb_path',
    'trackingnet_path',
    'tnl2k_path',
    'uav_path',
    'otb_path',
    'nfs_path',
    'tc128_path',
    'itb_path',
    'vot18_path',
    'vot22_path',
    'synthetic_path',
)


class EnvSettings:
    """All evaluation paths, empty until local.py sets them; custom_datasets ({name: folder} of the
    custom:<name> datasets) an empty dict."""

    def __init__(self):
        for attr in TEST_PATH_ATTRS:
            setattr(self, attr, '')
        self.custom_datasets = {}


def default_test_paths(workspace_dir, data_dir, save_dir):
    return {
        'prj_dir': workspace_dir,
        'save_dir': save_dir,
        'results_path': os.path.join(save_dir, 'test', 'tracking_results'),
        'result_plot_path': os.path.join(save_dir, 'test', 'result_plots'),
        'network_path': os.path.join(save_dir, 'test', 'networks'),
        'segmentation_path': os.path.join(save_dir, 'test', 'segmentation_results'),
        'got_packed_results_path': os.path.join(save_dir, 'test', 'submissions'),
        'tn_packed_results_path': os.path.join(save_dir, 'test', 'submissions'),
        'got_reports_path': os.path.join(save_dir, 'test', 'got_reports'),
        'lasot_path': os.path.join(data_dir, 'lasot'),
        'lasot_lmdb_path': os.path.join(data_dir, 'lasot_lmdb'),
        'lasot_extension_subset_path': os.path.join(data_dir, 'lasot_extension_subset'),
        'got10k_path': os.path.join(data_dir, 'got10k'),
        'got10k_lmdb_path': os.path.join(data_dir, 'got10k_lmdb'),
        'trackingnet_path': os.path.join(data_dir, 'trackingnet'),
        'tnl2k_path': os.path.join(data_dir, 'tnl2k'),
        'uav_path': os.path.join(data_dir, 'uav'),
        'otb_path': os.path.join(data_dir, 'otb'),
        'nfs_path': os.path.join(data_dir, 'nfs'),
        'tc128_path': os.path.join(data_dir, 'TC128'),
        'itb_path': os.path.join(data_dir, 'itb'),
        'vot18_path': os.path.join(data_dir, 'vot2018'),
        'vot22_path': os.path.join(data_dir, 'vot2022'),
        'synthetic_path': os.path.join(data_dir, 'synthetic'),
    }


def env_settings():
    """The evaluation paths of this machine; attributes an old local.py lacks get repo defaults."""
    module = import_local_module(LOCAL_MODULE)
    settings = module.local_env_settings()
    defaults = default_test_paths(
        REPO_ROOT, os.path.join(REPO_ROOT, 'data'), os.path.join(REPO_ROOT, 'output')
    )
    # Old pasted files may set the lineage's typo'd name; accept it.
    typo = getattr(settings, 'lasot_extension_subset_path_path', '')
    if typo and not getattr(settings, 'lasot_extension_subset_path', ''):
        settings.lasot_extension_subset_path = typo
    return apply_defaults(settings, {**defaults, 'custom_datasets': {}})


def require_test_path(settings, attr, layout):
    return require_path(settings, attr, layout, LOCAL_FILE)
