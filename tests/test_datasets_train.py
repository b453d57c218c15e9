"""Training readers on generated layouts, from folders and from LMDBs built by our builder."""

import os
import types

import numpy as np
import pytest
import torch
from datasets_fixtures import (
    boxes_text,
    frame_image,
    seq_boxes,
    write_coco,
    write_got10k_subset,
    write_lasot,
    write_text,
    write_trackingnet,
    write_vid,
)

from lib.train.dataset import DATASET_NAMES, build_train_dataset, layouts
from lib.train.dataset.coco_seq import MSCOCOSeq
from lib.train.dataset.got10k import Got10k
from lib.train.dataset.imagenetvid import ImagenetVID
from lib.train.dataset.lasot import Lasot
from lib.train.dataset.lmdb_builder import build_lmdb
from lib.train.dataset.tracking_net import TrackingNet
from lib.utils.local_settings import DatasetPathError

GOT_NAMES = [f'GOT-10k_Train_{i:06d}' for i in range(1, 6)]


def assert_same_dataset(a, b):
    """Same sequences, annotations, frames and meta from two readers (folder vs LMDB)."""
    assert a.get_num_sequences() == b.get_num_sequences() > 0
    assert a.is_video_sequence() == b.is_video_sequence()
    for seq_id in range(a.get_num_sequences()):
        info_a, info_b = a.get_sequence_info(seq_id), b.get_sequence_info(seq_id)
        assert info_a.keys() == info_b.keys() == {'bbox', 'valid', 'visible'}
        for key in info_a:
            assert torch.equal(info_a[key], info_b[key])
        assert info_a['bbox'].dtype == torch.float32 and info_a['valid'].dtype == torch.bool
        ids = list(range(len(info_a['bbox']))) if a.is_video_sequence() else [0, 0]
        frames_a, anno_a, meta_a = a.get_frames(seq_id, ids)
        frames_b, anno_b, meta_b = b.get_frames(seq_id, ids)
        assert all(np.array_equal(x, y) for x, y in zip(frames_a, frames_b)) and len(frames_a) == len(ids)
        assert frames_a[0].dtype == np.uint8 and frames_a[0].shape[2] == 3
        assert all(torch.equal(x, y) for k in anno_a for x, y in zip(anno_a[k], anno_b[k]))
        assert meta_a == meta_b


# ----------------------------------------------------------------------------------------- LaSOT
def test_lasot_folder_lmdb_visibility(tmp_path):
    root = write_lasot(str(tmp_path / 'lasot'), ['cat-1', 'cat-2', 'dog-1'])
    write_text(str(tmp_path / 'lasot' / 'training_set.txt'), 'dog-1\ncat-2\n')
    folder = Lasot(root)
    assert folder.sequence_list == ['dog-1', 'cat-2'] and folder.get_class_list() == ['cat', 'dog']
    assert folder.get_sequences_in_class('cat') == [1]
    info = folder.get_sequence_info(0)
    assert info['bbox'][0].tolist() == [3, 2, 8, 6]  # dog-1 is the third sequence written (offset 2)
    # frame 1: w == 0 (invalid); frame 2: full occlusion; frame 3: out of view
    assert info['valid'].tolist() == [True, False, True, True]
    assert info['visible'].tolist() == [True, False, False, False]
    frames, anno, meta = folder.get_frames(1, [3, 0])
    assert np.abs(frames[0].astype(int) - frame_image(1, 3)).mean() < 8  # JPEG of cat-2 frame 4
    assert anno['bbox'][0].tolist() == seq_boxes(4, 1)[3] and meta['object_class_name'] == 'cat'
    build_lmdb('lasot', root, str(tmp_path / 'lmdb'))
    assert_same_dataset(folder, Lasot(str(tmp_path / 'lmdb'), use_lmdb=True))


def test_lasot_bundled_split_used_without_list_file(tmp_path):
    root = write_lasot(str(tmp_path / 'lasot'), ['airplane-10'], n=2)
    reader = Lasot(root)
    assert len(reader.sequence_list) == 1120 and reader.sequence_list[0] == 'airplane-10'
    assert len(reader.get_class_list()) == 70
    assert reader.get_sequence_info(0)['bbox'].shape == (2, 4)


def test_lasot_label_length_mismatch_names_file(tmp_path):
    root = write_lasot(str(tmp_path / 'lasot'), ['cat-1'], n=4)
    write_text(os.path.join(root, 'cat', 'cat-1', 'out_of_view.txt'), '0,0\n')
    with pytest.raises(ValueError, match='out_of_view.txt'):
        Lasot(root, sequence_list=['cat-1']).get_sequence_info(0)


# --------------------------------------------------------------------------------------- GOT-10k
def test_got10k_visibility_meta_and_lmdb(tmp_path):
    src = tmp_path / 'got10k'
    write_got10k_subset(str(src / 'train'), GOT_NAMES)
    write_got10k_subset(str(src / 'val'), ['GOT-10k_Val_000001'])
    folder = Got10k(str(src / 'train'))
    info = folder.get_sequence_info(0)
    # frame 1 w == 0, frame 2 absent, frame 3 cover 0
    assert info['valid'].tolist() == [True, False, True, True]
    assert info['visible'].tolist() == [True, False, False, False]
    meta = folder.get_frames(1, [0])[2]
    assert meta['object_class_name'] == 'class1' and meta['motion_adverb'] == 'slowly'
    assert folder.get_class_list() == ['class0', 'class1']
    build_lmdb('got10k', str(src), str(tmp_path / 'lmdb'))
    assert_same_dataset(folder, Got10k(str(tmp_path / 'lmdb'), use_lmdb=True))
    official_val = Got10k(str(src / 'val'))
    assert_same_dataset(official_val, Got10k(str(tmp_path / 'lmdb'), use_lmdb=True, lmdb_subset='val'))


def test_got10k_split_files_are_indices_into_list(tmp_path, monkeypatch):
    root = write_got10k_subset(str(tmp_path / 'train'), GOT_NAMES, n=2)
    specs = tmp_path / 'specs'
    write_text(str(specs / 'got10k_vot_train_split.txt'), '4\n0\n2\n')
    write_text(str(specs / 'got10k_train_split.txt'), '5\n')
    monkeypatch.setattr(layouts, 'DATA_SPECS_DIR', str(specs))
    assert Got10k(root, split='vottrain').sequence_list == [GOT_NAMES[4], GOT_NAMES[0], GOT_NAMES[2]]
    with pytest.raises(ValueError, match='list.txt'):
        Got10k(root, split='train')
    with pytest.raises(ValueError, match='vottrain'):
        Got10k(root, split='nonsense')
    assert Got10k(root, seq_ids=[3]).sequence_list == [GOT_NAMES[3]]


def test_got10k_without_labels_uses_valid_boxes(tmp_path):
    root = write_got10k_subset(str(tmp_path / 'train'), GOT_NAMES[:1], n=3, labels=False)
    reader = Got10k(root)
    assert reader.get_sequence_info(0)['visible'].tolist() == [True, False, True]
    assert reader.get_frames(0, [0])[2]['object_class_name'] is None


def test_bundled_got10k_splits_have_official_counts():
    counts = {s: len(layouts.Got10kLayout.split_indices(s)) for s in layouts.GOT10K_SPLIT_FILES}
    assert counts == {'train': 7934, 'val': 1401, 'train_full': 9335, 'vottrain': 7086, 'votval': 1249}
    train, val = map(set, map(layouts.Got10kLayout.split_indices, ('train', 'val')))
    vottrain, votval = map(set, map(layouts.Got10kLayout.split_indices, ('vottrain', 'votval')))
    assert train | val == set(range(9335)) and not train & val
    assert not vottrain & votval and len(vottrain | votval) == 9335 - 1000
    with open(os.path.join(layouts.DATA_SPECS_DIR, 'got10k_vot_exclude.txt')) as f:
        assert len(f.read().split()) == 1000


# ------------------------------------------------------------------------------------ TrackingNet
def test_trackingnet_chunks_and_lmdb(tmp_path):
    root = write_trackingnet(str(tmp_path / 'tn'), {'TRAIN_0': ['Nf1aqv5Fg5o_0', 'b_1'], 'TRAIN_2': ['c_0']})
    reader = TrackingNet(root, set_ids=[0, 2])
    assert reader.sequence_list == [(0, 'Nf1aqv5Fg5o_0'), (0, 'b_1'), (2, 'c_0')]
    info = reader.get_sequence_info(0)
    assert torch.equal(info['visible'], info['valid']) and info['valid'].tolist() == [True, False, True]
    assert reader.get_frames(0, [0])[2]['object_class_name'] == 'airplane'  # from the bundled class map
    assert reader.get_frames(1, [0])[2]['object_class_name'] == 'Unknown'
    assert TrackingNet(root, set_ids=[2]).sequence_list == [(2, 'c_0')]
    with pytest.raises(FileNotFoundError, match='TRAIN_1'):
        TrackingNet(root, set_ids=[1])
    build_lmdb('trackingnet', root, str(tmp_path / 'lmdb'))
    assert sorted(os.listdir(tmp_path / 'lmdb')) == ['TRAIN_0_lmdb', 'TRAIN_2_lmdb', 'seq_list.json']
    assert_same_dataset(reader, TrackingNet(str(tmp_path / 'lmdb'), set_ids=[0, 2], use_lmdb=True))
    assert TrackingNet(str(tmp_path / 'lmdb'), set_ids=[2], use_lmdb=True).sequence_list == [(2, 'c_0')]


def test_trackingnet_class_map_is_complete():
    class_map = layouts.TrackingNetLayout.read_class_map()
    assert len(class_map) == 30134 and class_map['Nf1aqv5Fg5o_0'] == 'airplane'


# ------------------------------------------------------------------------------------ COCO, VID
def test_coco_one_frame_sequences(tmp_path):
    root = write_coco(str(tmp_path / 'coco'))
    reader = MSCOCOSeq(root)
    assert not reader.is_video_sequence() and reader.sequence_list == [10, 11]  # crowd excluded
    assert reader.get_sequence_info(0)['valid'].tolist() == [True]
    assert reader.get_sequence_info(1)['valid'].tolist() == [False]  # w = 40 <= 50 (lineage rule)
    frames, anno, meta = reader.get_frames(1, [0, 0, 0])
    assert len(frames) == 3 and anno['bbox'][2].tolist() == [3, 4, 40, 80]
    assert meta['object_class_name'] == 'dog' and meta['major_class'] == 'animal'
    assert reader.get_sequences_in_class('person') == [0]
    build_lmdb('coco', root, str(tmp_path / 'lmdb'))
    assert_same_dataset(reader, MSCOCOSeq(str(tmp_path / 'lmdb'), use_lmdb=True))
    droptrack_layout = write_coco(str(tmp_path / 'coco_dt'), image_dir='train2017')
    assert_same_dataset(reader, MSCOCOSeq(droptrack_layout))


def test_vid_tracklets_cache_and_lmdb(tmp_path):
    root = write_vid(str(tmp_path / 'vid'))
    reader = ImagenetVID(root)
    assert os.path.isfile(os.path.join(root, 'cache.json'))
    assert [(s['class_name'], s['start_frame'], len(s['anno'])) for s in reader.sequence_list] == [
        ('n01', 0, 4),
        ('n02', 1, 2),
    ]
    info = reader.get_sequence_info(0)
    assert info['bbox'][2].tolist() == [2, 2, 10, 12] and info['visible'].tolist() == [
        True,
        False,
        True,
        True,
    ]
    frames, _, meta = reader.get_frames(1, [0])  # tracklet 1 starts at frame 1
    assert (
        np.abs(frames[0].astype(int) - frame_image(400, 1)).mean() < 8 and meta['object_class_name'] == 'n02'
    )
    build_lmdb('vid', root, str(tmp_path / 'lmdb'))
    assert_same_dataset(reader, ImagenetVID(str(tmp_path / 'lmdb'), use_lmdb=True))


# ---------------------------------------------------------------------------------------- registry
def _settings(tmp_path, **overrides):
    attrs = (
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
    values = {a: str(tmp_path / 'missing' / a) for a in attrs}
    values.update(overrides)
    return types.SimpleNamespace(**values)


def test_registry_folder_and_lmdb(tmp_path):
    write_lasot(str(tmp_path / 'lasot'), ['cat-1'], n=2)
    write_text(str(tmp_path / 'lasot' / 'training_set.txt'), 'cat-1\n')
    write_got10k_subset(str(tmp_path / 'got10k' / 'val'), ['GOT-10k_Val_000001'], n=2)
    build_lmdb('lasot', str(tmp_path / 'lasot'), str(tmp_path / 'lasot_lmdb'))
    build_lmdb('got10k', str(tmp_path / 'got10k'), str(tmp_path / 'got10k_lmdb'))
    settings = _settings(
        tmp_path,
        lasot_dir=str(tmp_path / 'lasot'),
        lasot_lmdb_dir=str(tmp_path / 'lasot_lmdb'),
        got10k_val_dir=str(tmp_path / 'got10k' / 'val'),
        got10k_lmdb_dir=str(tmp_path / 'got10k_lmdb'),
    )
    assert_same_dataset(
        build_train_dataset('LASOT', settings), build_train_dataset('LASOT', settings, use_lmdb=True)
    )
    official_val = build_train_dataset('GOT10K_official_val', settings)
    assert official_val.sequence_list == ['GOT-10k_Val_000001']
    assert_same_dataset(official_val, build_train_dataset('GOT10K_official_val', settings, use_lmdb=True))


@pytest.mark.parametrize(
    'name, use_lmdb, attr',
    [
        ('LASOT', False, 'lasot_dir'),
        ('LASOT', True, 'lasot_lmdb_dir'),
        ('GOT10K_vottrain', False, 'got10k_dir'),
        ('TRACKINGNET', True, 'trackingnet_lmdb_dir'),
        ('COCO17', False, 'coco_dir'),
        ('VID', False, 'imagenet_dir'),
    ],
)
def test_registry_missing_path_names_attribute(tmp_path, name, use_lmdb, attr):
    with pytest.raises(DatasetPathError) as e:
        build_train_dataset(name, _settings(tmp_path), use_lmdb=use_lmdb)
    assert f"'{attr}'" in str(e.value) and str(tmp_path / 'missing' / attr) in str(e.value)


def test_registry_unknown_name_lists_valid_names(tmp_path):
    with pytest.raises(ValueError) as e:
        build_train_dataset('LASOT_TRAIN', _settings(tmp_path))
    assert all(n in str(e.value) for n in ('LASOT', 'GOT10K_vottrain', 'TRACKINGNET', 'COCO17', 'SYNTHETIC'))
    assert set(DATASET_NAMES) >= {'GOT10K_train', 'GOT10K_val', 'GOT10K_train_full', 'GOT10K_votval', 'VID'}


def test_registry_synthetic_uses_ensure_default_dataset(tmp_path, monkeypatch):
    calls = []

    def ensure_default_dataset(root):  # stand-in for lib.utils.synthetic (another helper's module)
        calls.append(root)
        write_lasot(os.path.join(root, 'lasot'), ['ball-1', 'ball-2', 'ball-3'], n=3)
        write_text(os.path.join(root, 'lasot', 'training_set.txt'), 'ball-1\nball-3\n')
        return root

    monkeypatch.setitem(
        __import__('sys').modules,
        'lib.utils.synthetic',
        types.SimpleNamespace(ensure_default_dataset=ensure_default_dataset),
    )
    dataset = build_train_dataset('SYNTHETIC', _settings(tmp_path, synthetic_dir=str(tmp_path / 'syn')))
    assert calls == [str(tmp_path / 'syn')] and dataset.sequence_list == ['ball-1', 'ball-3']
    assert dataset.get_sequence_info(1)['bbox'].shape == (3, 4) and dataset.get_name() == 'synthetic'


def test_lmdb_dataset_in_dataloader_workers(tmp_path):
    root = write_lasot(str(tmp_path / 'lasot'), ['cat-1', 'cat-2'], n=2)
    build_lmdb('lasot', root, str(tmp_path / 'lmdb'))
    dataset = Lasot(str(tmp_path / 'lmdb'), use_lmdb=True, sequence_list=['cat-1', 'cat-2'])
    dataset.get_frames(0, [0])  # parent opens the environment before the workers fork

    class Frames(torch.utils.data.Dataset):
        def __len__(self):
            return 4

        def __getitem__(self, i):
            return torch.from_numpy(dataset.get_frames(i % 2, [i // 2])[0][0])

    loader = torch.utils.data.DataLoader(
        Frames(), batch_size=1, num_workers=2, multiprocessing_context='fork'
    )
    got = [b[0].numpy() for b in loader]
    want = [Lasot(root, sequence_list=['cat-1', 'cat-2']).get_frames(i % 2, [i // 2])[0][0] for i in range(4)]
    assert all(np.array_equal(g, w) for g, w in zip(got, want))


def test_parse_numbers_separators_nan_and_errors():
    parsed = layouts.parse_numbers(
        boxes_text([[1, 2, 3, 4]], sep='\t') + '5 6,7,NaN\n\n', 'gt.txt', columns=4
    )
    assert (
        parsed[0].tolist() == [1, 2, 3, 4] and parsed[1, :3].tolist() == [5, 6, 7] and np.isnan(parsed[1, 3])
    )
    with pytest.raises(ValueError, match='gt.txt'):
        layouts.parse_numbers('1,2,x,4', 'gt.txt', columns=4)
    with pytest.raises(ValueError, match='gt.txt'):
        layouts.parse_numbers('1,2,3', 'gt.txt', columns=4)


def test_trackingnet_chunks_selected_by_dataset_name(tmp_path):
    from types import SimpleNamespace

    from lib.train.dataset import build_train_dataset, parse_trackingnet_chunks

    assert parse_trackingnet_chunks('TRACKINGNET') is None
    assert parse_trackingnet_chunks('TRACKINGNET:0-3') == [0, 1, 2, 3]
    assert parse_trackingnet_chunks('TRACKINGNET:5,0-1') == [0, 1, 5]
    for bad in ('TRACKINGNET:', 'TRACKINGNET:12', 'TRACKINGNET:a-b'):
        with pytest.raises(ValueError, match='TRACKINGNET:0-3'):
            parse_trackingnet_chunks(bad)
    root = write_trackingnet(
        str(tmp_path / 'tn'), {'TRAIN_0': ['a_0'], 'TRAIN_1': ['b_0'], 'TRAIN_2': ['c_0']}
    )
    settings = SimpleNamespace(trackingnet_dir=root)
    dataset = build_train_dataset('TRACKINGNET:1-2', settings)
    assert dataset.sequence_list == [(1, 'b_0'), (2, 'c_0')]
