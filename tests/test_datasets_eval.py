"""Evaluation dataset readers on tiny generated layouts (frames are image paths)."""

import os
import sys
import types

import numpy as np
import pytest
from datasets_fixtures import (
    boxes_text,
    seq_boxes,
    write_frames,
    write_got10k_subset,
    write_lasot,
    write_text,
    write_trackingnet,
)

from lib.test.evaluation import datasets, table_datasets, video_datasets
from lib.test.evaluation.data import SequenceList
from lib.train.dataset.layouts import LasotLayout
from lib.utils.local_settings import DatasetPathError


def test_lasot_test_list_file_overrides_bundled(tmp_path):
    root = write_lasot(str(tmp_path / 'lasot'), ['cat-1', 'cat-2'])
    write_text(str(tmp_path / 'lasot' / 'testing_set.txt'), 'cat-2\n')
    seqs = video_datasets.lasot_sequences(root)
    assert isinstance(seqs, SequenceList) and seqs.names() == ['cat-2']
    seq = seqs['cat-2']
    assert seq.dataset == 'lasot' and seq.object_class == 'cat'
    assert seq.frames[3] == os.path.join(root, 'cat', 'cat-2', 'img', '00000004.jpg') and len(seq.frames) == 4
    assert os.path.isfile(seq.frames[0]) and seq.read_frame(0).shape == (24, 24, 3)
    assert seq.ground_truth_rect[0].tolist() == seq_boxes(4, 1)[0]
    assert seq.target_visible.tolist() == [True, False, False, False]
    assert seq.init_info() == {'init_bbox': [2.0, 2.0, 8.0, 6.0]}


def test_lasot_bundled_lists_official_counts(tmp_path):
    lasot = table_datasets.load_spec('lasot_test')
    ext = table_datasets.load_spec('lasot_extension_subset')
    assert len(lasot) == len(set(lasot)) == 280 and len({n.split('-')[0] for n in lasot}) == 70
    assert len(ext) == len(set(ext)) == 150 and len({n.split('-')[0] for n in ext}) == 15
    with open(LasotLayout.train_split_file) as f:
        assert not set(lasot) & set(f.read().split())  # test and train are disjoint
    root = write_lasot(str(tmp_path / 'lasot'), ['airplane-1'], n=2)
    with pytest.raises(
        FileNotFoundError, match='airplane-9'
    ):  # the bundled list is used without testing_set.txt
        video_datasets.lasot_sequences(root)


def test_lasot_extension_subset_label(tmp_path):
    root = write_lasot(str(tmp_path / 'ext'), ['atv-1'], n=2)
    seqs = video_datasets.lasot_sequences(root, label='lasot_extension_subset', names=['atv-1'])
    assert seqs[0].dataset == 'lasot_extension_subset' and len(seqs[0].frames) == 2


def test_got10k_val_and_test(tmp_path):
    names = ['GOT-10k_Test_000001', 'GOT-10k_Test_000002']
    write_got10k_subset(str(tmp_path / 'test'), names, n=3, labels=False, first_row_only=True)
    write_got10k_subset(str(tmp_path / 'val'), ['GOT-10k_Val_000001'], n=3)
    # extra frames beyond the GT rows and a 10th frame that a text sort would misplace
    write_frames(str(tmp_path / 'test' / names[0]), 7, 0, lambda i: f'{i + 1:08d}.jpg', start=3)
    test = video_datasets.got10k_sequences(str(tmp_path), 'test')
    assert test.names() == names and test[0].dataset == 'got10k'
    assert len(test[0].frames) == 10 and test[0].frames[9].endswith('00000010.jpg')
    assert test[0].ground_truth_rect.shape == (1, 4)
    val = video_datasets.got10k_sequences(str(tmp_path), 'val')
    assert val[0].ground_truth_rect.shape == (3, 4) and len(val[0].frames) == 3


def test_trackingnet_test_numeric_frame_order(tmp_path):
    root = write_trackingnet(str(tmp_path / 'tn'), {'TEST': ['b_0', 'a_0']}, n=12, first_row_only=True)
    seqs = video_datasets.trackingnet_sequences(root)
    assert seqs.names() == ['a_0', 'b_0'] and seqs[0].dataset == 'trackingnet'
    assert [os.path.basename(f) for f in seqs[0].frames[:3]] == ['0.jpg', '1.jpg', '2.jpg']
    assert seqs[0].frames[11].endswith(os.path.join('a_0', '11.jpg')) and seqs[0].ground_truth_rect.shape == (
        1,
        4,
    )


def test_tnl2k_reads_language_without_crash(tmp_path):
    seq_dir = tmp_path / 'tnl2k' / 'test_015_Sord_video_Q01_done'
    write_text(str(seq_dir / 'groundtruth.txt'), boxes_text(seq_boxes(2)))
    write_text(str(seq_dir / 'language.txt'), 'the sword in the hand\n')
    write_frames(str(seq_dir / 'imgs'), 2, 0, lambda i: f'{i + 1:05d}.png')
    write_text(str(tmp_path / 'tnl2k' / 'readme.txt'), 'not a sequence')
    seqs = video_datasets.tnl2k_sequences(str(tmp_path / 'tnl2k'))
    assert seqs.names() == ['test_015_Sord_video_Q01_done'] and seqs[0].dataset == 'tnl2k'
    assert seqs[0].language == 'the sword in the hand' and seqs[0].frames[1].endswith('00002.png')


def _entry(name, path, start, end, nz, anno, **extra):
    return {
        'name': name,
        'path': path,
        'startFrame': start,
        'endFrame': end,
        'nz': nz,
        'ext': 'jpg',
        'anno_path': anno,
        'object_class': 'thing',
        **extra,
    }


def test_uav_frame_ranges_and_nan(tmp_path):
    root = str(tmp_path / 'uav')
    write_frames(os.path.join(root, 'data_seq', 'UAV123', 'bird1'), 6, 0, lambda i: f'{i + 1:06d}.jpg')
    write_text(os.path.join(root, 'anno', 'UAV123', 'bird1_1.txt'), '1,2,3,4\nNaN,NaN,NaN,NaN\n')
    write_text(os.path.join(root, 'anno', 'UAV123', 'bird1_2.txt'), '5,6,7,8\n5,6,7,8\n5,6,7,8\n')
    spec = [
        _entry('uav_bird1_1', 'data_seq/UAV123/bird1', 1, 2, 6, 'anno/UAV123/bird1_1.txt'),
        _entry('uav_bird1_2', 'data_seq/UAV123/bird1', 4, 6, 6, 'anno/UAV123/bird1_2.txt'),
    ]
    seqs = table_datasets.table_sequences(root, 'uav', spec=spec)
    assert [os.path.basename(f) for f in seqs[1].frames] == ['000004.jpg', '000005.jpg', '000006.jpg']
    assert all(os.path.isfile(f) for s in seqs for f in s.frames)
    assert np.isnan(seqs[0].ground_truth_rect[1]).all() and seqs[0].dataset == 'uav'


def test_otb_init_omit_and_separators(tmp_path):
    root = str(tmp_path / 'otb')
    write_frames(os.path.join(root, 'Tiger1', 'img'), 8, 0, lambda i: f'{i + 1:04d}.jpg')
    write_text(
        os.path.join(root, 'Tiger1', 'groundtruth_rect.txt'), ''.join(f'{i}\t{i},3 4\n' for i in range(1, 9))
    )  # mixed separators occur in OTB files
    spec = [_entry('Tiger1', 'Tiger1/img', 1, 8, 4, 'Tiger1/groundtruth_rect.txt', initOmit=5)]
    seq = table_datasets.table_sequences(root, 'otb', spec=spec)[0]
    assert [os.path.basename(f) for f in seq.frames] == ['0006.jpg', '0007.jpg', '0008.jpg']
    assert (
        seq.ground_truth_rect.tolist() == [[6, 6, 3, 4], [7, 7, 3, 4], [8, 8, 3, 4]] and seq.dataset == 'otb'
    )


def test_nfs_layout(tmp_path):
    root = str(tmp_path / 'nfs')
    write_frames(os.path.join(root, 'sequences', 'Gymnastics'), 2, 0, lambda i: f'{i + 1:05d}.jpg')
    write_text(os.path.join(root, 'anno', 'nfs_Gymnastics.txt'), '1\t2\t3\t4\n5\t6\t7\t8\n')
    spec = [_entry('nfs_Gymnastics', 'sequences/Gymnastics', 1, 2, 5, 'anno/nfs_Gymnastics.txt')]
    seq = table_datasets.table_sequences(root, 'nfs', spec=spec)[0]
    assert seq.dataset == 'nfs' and seq.frames[1].endswith(os.path.join('Gymnastics', '00002.jpg'))
    assert seq.ground_truth_rect[1].tolist() == [5, 6, 7, 8]


def test_bundled_tables_official_counts():
    otb, nfs, uav = (table_datasets.load_spec(n) for n in ('otb', 'nfs', 'uav'))
    assert (len(otb), len(nfs), len(uav)) == (100, 100, 123)
    assert {e['name']: e['initOmit'] for e in otb if 'initOmit' in e} == {'Tiger1': 5}
    bird = {e['name']: (e['startFrame'], e['endFrame']) for e in uav if e['path'].endswith('/bird1')}
    assert len(bird) == 3 and bird['uav_bird1_2'][0] > 1
    assert all(e['path'].startswith('sequences/') and e['nz'] == 5 for e in nfs)
    assert len({e['name'] for e in otb + nfs + uav}) == 323


def _settings(tmp_path, **paths):
    from lib.test.evaluation.environment import EnvSettings

    settings = EnvSettings()
    for key in (
        'lasot_path',
        'lasot_extension_subset_path',
        'got10k_path',
        'trackingnet_path',
        'tnl2k_path',
        'uav_path',
        'otb_path',
        'nfs_path',
        'synthetic_path',
    ):
        setattr(settings, key, str(tmp_path / 'missing' / key))
    for key, value in paths.items():
        setattr(settings, key, value)
    return settings


@pytest.mark.parametrize(
    'name, attr',
    [
        ('lasot', 'lasot_path'),
        ('lasot_ext', 'lasot_extension_subset_path'),
        ('got10k_test', 'got10k_path'),
        ('trackingnet', 'trackingnet_path'),
        ('tnl2k', 'tnl2k_path'),
        ('uav', 'uav_path'),
        ('otb', 'otb_path'),
        ('nfs', 'nfs_path'),
    ],
)
def test_get_dataset_missing_path_names_attribute(tmp_path, name, attr):
    with pytest.raises(DatasetPathError) as e:
        datasets.get_dataset(name, settings=_settings(tmp_path))
    assert f"'{attr}'" in str(e.value) and str(tmp_path / 'missing' / attr) in str(e.value)


def test_get_dataset_reads_configured_paths(tmp_path):
    root = write_lasot(str(tmp_path / 'lasot'), ['cat-1'], n=2)
    write_text(os.path.join(root, 'testing_set.txt'), 'cat-1\n')
    write_got10k_subset(str(tmp_path / 'got10k' / 'val'), ['GOT-10k_Val_000001'], n=2)
    settings = _settings(tmp_path, lasot_path=root, got10k_path=str(tmp_path / 'got10k'))
    assert datasets.get_dataset('lasot', settings=settings).names() == ['cat-1']
    assert datasets.get_dataset('got10k_val', settings=settings)[0].dataset == 'got10k'
    with pytest.raises(ValueError, match='lasot_extension_subset'):
        datasets.get_dataset('lasot_test', settings=settings)
    assert {
        'lasot',
        'lasot_extension_subset',
        'lasot_ext',
        'got10k_val',
        'got10k_test',
        'trackingnet',
        'tnl2k',
        'uav',
        'otb',
        'nfs',
        'synthetic',
    } == set(datasets.available_datasets())


def test_get_dataset_synthetic_uses_held_out_list(tmp_path, monkeypatch):
    def ensure_default_dataset(root):  # stand-in for lib.utils.synthetic (another helper's module)
        write_lasot(os.path.join(root, 'lasot'), ['ball-1', 'ball-2'], n=2)
        write_text(os.path.join(root, 'lasot', 'testing_set.txt'), 'ball-2\n')
        return root

    monkeypatch.setitem(
        sys.modules,
        'lib.utils.synthetic',
        types.SimpleNamespace(ensure_default_dataset=ensure_default_dataset),
    )
    seqs = datasets.get_dataset(
        'synthetic', settings=_settings(tmp_path, synthetic_path=str(tmp_path / 'syn'))
    )
    assert seqs.names() == ['ball-2'] and seqs[0].dataset == 'lasot' and seqs[0].target_visible is not None


def test_importing_lib_test_datasets_stays_light():
    import subprocess

    code = (
        'import sys, lib.test.evaluation.datasets; '
        'print(sorted(m for m in ("torch", "lmdb", "jpeg4py", "visdom", "tensorboard") if m in sys.modules))'
    )
    out = subprocess.run(
        [sys.executable, '-c', code],
        capture_output=True,
        text=True,
        check=False,
        cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
    )
    assert out.stdout.strip() == '[]', out.stderr
