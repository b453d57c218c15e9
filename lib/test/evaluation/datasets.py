"""Evaluation datasets by the lineage's --dataset_name keys.

    get_dataset('lasot') -> SequenceList   (paths from lib/test/evaluation/local.py)

Only the dataset asked for needs a path; a missing one raises an error naming the local.py attribute,
the path and the expected layout. Custom datasets (docs/custom_dataset.md) are 'custom:<name>' or
'custom:<name>:<split>', <name> a key of custom_datasets in lib/test/evaluation/local.py.
"""

import os

from lib.test.evaluation import table_datasets, video_datasets

_LASOT = '<{}>/<class>/<class>-<N>/{{groundtruth.txt, full_occlusion.txt, out_of_view.txt, img/00000001.jpg}}'

# name -> (local.py attribute, expected layout, reader(root, on_error) -> SequenceList); on_error: see
# video_datasets (the table datasets raise instead)
_DATASETS = {
    'lasot': (
        'lasot_path',
        _LASOT.format('lasot_path') + ' (+ optional testing_set.txt)',
        lambda root, on_error: video_datasets.lasot_sequences(root, on_error=on_error),
    ),
    'lasot_extension_subset': (
        'lasot_extension_subset_path',
        _LASOT.format('lasot_extension_subset_path'),
        lambda root, on_error: video_datasets.lasot_sequences(
            root,
            label='lasot_extension_subset',
            list_file=None,
            bundled='lasot_extension_subset',
            on_error=on_error,
        ),
    ),
    'got10k_val': (
        'got10k_path',
        '<got10k_path>/val/{list.txt, <seq>/groundtruth.txt, <seq>/00000001.jpg}',
        lambda root, on_error: video_datasets.got10k_sequences(root, 'val', on_error),
    ),
    'got10k_test': (
        'got10k_path',
        '<got10k_path>/test/{list.txt, <seq>/groundtruth.txt, <seq>/00000001.jpg}',
        lambda root, on_error: video_datasets.got10k_sequences(root, 'test', on_error),
    ),
    'trackingnet': (
        'trackingnet_path',
        '<trackingnet_path>/TEST/{anno/<video>.txt, frames/<video>/0.jpg}',
        lambda root, on_error: video_datasets.trackingnet_sequences(root, on_error=on_error),
    ),
    'tnl2k': (
        'tnl2k_path',
        '<tnl2k_path>/<seq>/{groundtruth.txt, language.txt, imgs/*.jpg}',
        lambda root, on_error: video_datasets.tnl2k_sequences(root, on_error),
    ),
    'uav': (
        'uav_path',
        table_datasets.LAYOUTS['uav'],
        lambda root, on_error: table_datasets.table_sequences(root, 'uav'),
    ),
    'otb': (
        'otb_path',
        table_datasets.LAYOUTS['otb'],
        lambda root, on_error: table_datasets.table_sequences(root, 'otb'),
    ),
    'nfs': (
        'nfs_path',
        table_datasets.LAYOUTS['nfs'],
        lambda root, on_error: table_datasets.table_sequences(root, 'nfs'),
    ),
}
ALIASES = {'lasot_ext': 'lasot_extension_subset'}


CUSTOM_PREFIX = 'custom:'


def available_datasets():
    """The built-in names; custom:<name> adds each dataset of custom_datasets in local.py."""
    return sorted(list(_DATASETS) + list(ALIASES) + ['synthetic'])


def is_dataset_name(name: str) -> bool:
    """Whether `name` has the form of an evaluation dataset name (built in, or custom:...)."""
    return name in available_datasets() or name.startswith(CUSTOM_PREFIX)


def get_dataset(name, settings=None, on_error=None):
    """SequenceList of evaluation dataset `name` (see available_datasets(), or custom:<name>[:<split>]).
    `settings` defaults to lib.test.evaluation.environment.env_settings(). on_error(name, exc): see
    video_datasets (tracking/check_dataset.py passes one to list every unreadable sequence)."""
    from lib.test.evaluation.environment import env_settings, require_test_path

    key = ALIASES.get(name, name)
    if key not in _DATASETS and key != 'synthetic' and not key.startswith(CUSTOM_PREFIX):
        raise ValueError(
            f"unknown evaluation dataset '{name}'; valid: {', '.join(available_datasets())}, or "
            f'custom:<name> for a dataset registered in custom_datasets of lib/test/evaluation/local.py'
        )
    settings = env_settings() if settings is None else settings
    if key == 'synthetic':
        return _synthetic(settings, on_error)
    if key.startswith(CUSTOM_PREFIX):
        from lib.test.evaluation.environment import LOCAL_FILE
        from lib.train.dataset.custom_layout import resolve

        root, _, split = resolve(settings, key, CUSTOM_PREFIX, LOCAL_FILE)
        return video_datasets.custom_sequences(root, split, on_error)
    attr, layout, reader = _DATASETS[key]
    return reader(require_test_path(settings, attr, layout), on_error)


def _synthetic(settings, on_error=None):
    """The held-out sequences (testing_set.txt) of the generated LaSOT-layout set, labelled 'lasot'."""
    from lib.utils.synthetic import ensure_default_dataset

    root = getattr(settings, 'synthetic_path', '') or ''
    if not root:
        from lib.test.evaluation.environment import require_test_path

        require_test_path(settings, 'synthetic_path', '<synthetic_path>/lasot/... (generated on first use)')
    lasot_root = os.path.join(ensure_default_dataset(root), 'lasot')
    from lib.train.dataset.layouts import read_lines
    from lib.train.dataset.storage import FolderStorage

    names = read_lines(FolderStorage(lasot_root), 'testing_set.txt')  # never the official 280 list
    return video_datasets.lasot_sequences(lasot_root, label='lasot', names=names, on_error=on_error)
