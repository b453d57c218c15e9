"""Training-side paths: lib/train/admin/local.py (class EnvironmentSettings, the lineage's form)."""

import os

from lib.utils.local_settings import REPO_ROOT, apply_defaults, import_local_module, require_path

LOCAL_MODULE = 'lib.train.admin.local'
LOCAL_FILE = os.path.join(REPO_ROOT, 'lib', 'train', 'admin', 'local.py')

# Attribute names the lineage uses in local.py, in the order the generator writes them.
TRAIN_PATH_ATTRS = (
    'workspace_dir',
    'tensorboard_dir',
    'pretrained_networks',
    'lasot_dir',
    'got10k_dir',
    'got10k_val_dir',
    'trackingnet_dir',
    'coco_dir',
    'imagenet_dir',
    'lasot_lmdb_dir',
    'got10k_lmdb_dir',
    'trackingnet_lmdb_dir',
    'coco_lmdb_dir',
    'imagenet_lmdb_dir',
    'synthetic_dir',
)


def default_train_paths(workspace_dir, data_dir):
    return {
        'workspace_dir': workspace_dir,
        'tensorboard_dir': os.path.join(workspace_dir, 'tensorboard'),
        'pretrained_networks': os.path.join(workspace_dir, 'pretrained_models'),
        'lasot_dir': os.path.join(data_dir, 'lasot'),
        'got10k_dir': os.path.join(data_dir, 'got10k', 'train'),
        'got10k_val_dir': os.path.join(data_dir, 'got10k', 'val'),
        'trackingnet_dir': os.path.join(data_dir, 'trackingnet'),
        'coco_dir': os.path.join(data_dir, 'coco'),
        'imagenet_dir': os.path.join(data_dir, 'vid'),
        'lasot_lmdb_dir': os.path.join(data_dir, 'lasot_lmdb'),
        'got10k_lmdb_dir': os.path.join(data_dir, 'got10k_lmdb'),
        'trackingnet_lmdb_dir': os.path.join(data_dir, 'trackingnet_lmdb'),
        'coco_lmdb_dir': os.path.join(data_dir, 'coco_lmdb'),
        'imagenet_lmdb_dir': os.path.join(data_dir, 'vid_lmdb'),
        'synthetic_dir': os.path.join(data_dir, 'synthetic'),
    }


def env_settings():
    """The training paths of this machine; attributes an old local.py lacks get repo defaults (and
    custom_datasets, the {name: folder} of CUSTOM:<name> datasets, an empty dict)."""
    module = import_local_module(LOCAL_MODULE)
    settings = module.EnvironmentSettings()
    defaults = default_train_paths(REPO_ROOT, os.path.join(REPO_ROOT, 'data'))
    return apply_defaults(settings, {**defaults, 'custom_datasets': {}})


def require_train_path(settings, attr, layout):
    return require_path(settings, attr, layout, LOCAL_FILE)
