"""Evaluation datasets by the lineage's --dataset_name keys.

    get_dataset('lasot') -> SequenceList   (paths from lib/test/evaluation/local.py)

Only the dataset asked for needs a path; a missing one raises an error naming the local.py attribute,
the path and the expected layout.
"""

import os

from lib.test.evaluation import table_datasets, video_datasets

_LASOT = '<{}>/<class>/<class>-<N>/{{groundtruth.txt, full_occlusion.txt, out_of_view.txt, img/00000001.jpg}}'

# name -> (local.py attribute, expected layout, reader(root) -> SequenceList)
_DATASETS = {
    'lasot': (
        'lasot_path',
        _LASOT.format('lasot_path') + ' (+ optional testing_set.txt)',
        lambda root: video_datasets.lasot_sequences(root),
    ),
    'lasot_extension_subset': (
        'lasot_extension_subset_path',
        _LASOT.format('lasot_extension_subset_path'),
        lambda root: video_datasets.lasot_sequences(
            root, label='lasot_extension_subset', list_file=None, bundled='lasot_extension_subset'
        ),
    ),
    'got10k_val': (
        'got10k_path',
        '<got10k_path>/val/{list.txt, <seq>/groundtruth.txt, <seq>/00000001.jpg}',
        lambda root: video_datasets.got10k_sequences(root, 'val'),
    ),
    'got10k_test': (
        'got10k_path',
        '<got10k_path>/test/{list.txt, <seq>/groundtruth.txt, <seq>/00000001.jpg}',
        lambda root: video_datasets.got10k_sequences(root, 'test'),
    ),
    'trackingnet': (
        'trackingnet_path',
        '<trackingnet_path>/TEST/{anno/<video>.txt, frames/<video>/0.jpg}',
        lambda root: video_datasets.trackingnet_sequences(root),
    ),
    'tnl2k': (
        'tnl2k_path',
        '<tnl2k_path>/<seq>/{groundtruth.txt, language.txt, imgs/*.jpg}',
        lambda root: video_datasets.tnl2k_sequences(root),
    ),
    'uav': (
        'uav_path',
        table_datasets.LAYOUTS['uav'],
        lambda root: table_datasets.table_sequences(root, 'uav'),
    ),
    'otb': (
        'otb_path',
        table_datasets.LAYOUTS['otb'],
        lambda root: table_datasets.table_sequences(root, 'otb'),
    ),
    'nfs': (
        'nfs_path',
        table_datasets.LAYOUTS['nfs'],
        lambda root: table_datasets.table_sequences(root, 'nfs'),
    ),
}
ALIASES = {'lasot_ext': 'lasot_extension_subset'}


def available_datasets():
    return sorted(list(_DATASETS) + list(ALIASES) + ['synthetic'])


def get_dataset(name, settings=None):
    """SequenceList of evaluation dataset `name` (see available_datasets()). `settings` defaults to
    lib.test.evaluation.environment.env_settings()."""
    from lib.test.evaluation.environment import env_settings, require_test_path

    key = ALIASES.get(name, name)
    if key not in _DATASETS and key != 'synthetic':
        raise ValueError(f"unknown evaluation dataset '{name}'; valid: {', '.join(available_datasets())}")
    settings = env_settings() if settings is None else settings
    if key == 'synthetic':
        return _synthetic(settings)
    attr, layout, reader = _DATASETS[key]
    return reader(require_test_path(settings, attr, layout))


def _synthetic(settings):
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
    return video_datasets.lasot_sequences(lasot_root, label='lasot', names=names)
