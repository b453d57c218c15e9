"""The custom dataset format (docs/custom_dataset.md): its training and evaluation readers from folders
and LMDB, registration in local.py, and tracking/create_custom_dataset.py on generated videos."""

import os
import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from custom_fixtures import synthetic_inputs, write_custom
from datasets_fixtures import frame_image, write_text

from lib.test.evaluation import datasets
from lib.test.evaluation.video_datasets import custom_sequences
from lib.train.dataset import build_train_dataset
from lib.train.dataset.custom import CustomDataset
from lib.train.dataset.custom_builder import build_custom_dataset
from lib.train.dataset.layouts import LineCountError, NanBoxError
from lib.train.dataset.lmdb_builder import build_lmdb
from lib.train.dataset.storage import StorageKeyError
from lib.utils.image_io import read_image
from lib.utils.local_settings import DatasetPathError, apply_set_path

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BOXES = {
    'a': [[1, 2, 8, 6], [2, 2, 8, 6], [3, 2, 8, 6], [4, 2, 8, 6]],
    'b': [[5, 5, 9, 9], [6, 5, 9, 9], [np.nan] * 4, [7, 5, 9, 9]],  # frame 3: an empty line
}


@pytest.fixture
def custom_root(tmp_path):
    root = write_custom(
        str(tmp_path / 'drones'),
        ['a', 'b', 'c'],
        ext={'c': '.png'},
        splits={'train': ['a', 'c'], 'test': ['b']},
        boxes=BOXES,
    )
    write_text(os.path.join(root, 'a', 'absence.label'), '0\n0\n0\n1\n')
    write_text(os.path.join(root, 'b', 'groundtruth.txt'), '5,5,9,9\n6 5 9 9\n\nNaN,NaN,NaN,NaN\n')
    return root


def test_training_reader_boxes_visibility_frames_and_splits(custom_root):
    reader = CustomDataset(custom_root)
    assert reader.sequence_list == ['a', 'b', 'c'] and reader.get_name() == 'custom'
    assert CustomDataset(custom_root, split='train').sequence_list == ['a', 'c']
    a, b, c = (reader.get_sequence_info(i) for i in range(3))
    assert a['visible'].tolist() == [True, True, True, False]  # absence.label: frame 4 absent
    assert a['valid'].tolist() == [True] * 4 and a['bbox'][1].tolist() == [2, 2, 8, 6]
    # an empty line and a NaN line: not visible, read as the 0,0,0,0 box the samplers skip
    assert b['bbox'][2:].tolist() == [[0, 0, 0, 0]] * 2 and b['visible'].tolist() == [
        True,
        True,
        False,
        False,
    ]
    assert c['valid'].tolist() == [True, False, True, True]  # seq_boxes: frame 2 has w == 0
    frames, anno, _ = reader.get_frames(2, [3, 0])
    assert np.array_equal(frames[0], frame_image(2, 3))  # PNG: exact
    assert np.abs(reader.get_frames(0, [1])[0][0].astype(int) - frame_image(0, 1)).mean() < 8  # JPEG
    assert anno['bbox'][0].tolist() == c['bbox'][3].tolist()


def test_lmdb_form_reads_the_same_sequences(custom_root, tmp_path):
    write_text(os.path.join(custom_root, 'exclude.txt'), '# bad\nc\n')
    os.makedirs(os.path.join(custom_root, '.partial-d', 'img'))  # an unfinished sequence stays out
    build_lmdb('custom', custom_root, str(tmp_path / 'lmdb'))
    folder, lmdb = CustomDataset(custom_root), CustomDataset(str(tmp_path / 'lmdb'))
    assert lmdb.storage.kind == 'lmdb' and lmdb.get_name() == 'custom_lmdb'
    assert lmdb.sequence_list == folder.sequence_list == ['a', 'b'] and lmdb.excluded == ['c']
    for seq_id in range(2):
        info_f, info_l = folder.get_sequence_info(seq_id), lmdb.get_sequence_info(seq_id)
        assert all(torch.equal(info_f[k], info_l[k]) for k in info_f)
        ids = list(range(4))
        assert all(
            np.array_equal(x, y)
            for x, y in zip(folder.get_frames(seq_id, ids)[0], lmdb.get_frames(seq_id, ids)[0])
        )
    assert not lmdb.storage.exists('.partial-d')
    # the evaluation reader of the LMDB: keys read through the sequence's image reader
    seqs_f, seqs_l = custom_sequences(custom_root, 'test'), custom_sequences(str(tmp_path / 'lmdb'), 'test')
    assert seqs_l.names() == seqs_f.names() == ['b']
    assert np.array_equal(seqs_l[0].read_frame(1), seqs_f[0].read_frame(1))
    assert np.array_equal(seqs_l[0].ground_truth_rect, seqs_f[0].ground_truth_rect)


def test_evaluation_reader_and_line_errors_name_the_file(custom_root):
    seqs = custom_sequences(custom_root)
    assert seqs.names() == ['a', 'b', 'c'] and {s.dataset for s in seqs} == {'custom'}
    assert seqs['c'].frames[3] == os.path.join(custom_root, 'c', 'img', '00000004.png')
    assert seqs['a'].target_visible.tolist() == [True, True, True, False]
    assert seqs['b'].init_info() == {'init_bbox': [5.0, 5.0, 9.0, 9.0]}
    write_image_copy = os.path.join(custom_root, 'a', 'img', '00000005.jpg')
    os.link(os.path.join(custom_root, 'a', 'img', '00000001.jpg'), write_image_copy)
    with pytest.raises(LineCountError, match=r'a/groundtruth.txt: 4 lines, but .*a/img has 5 frames'):
        custom_sequences(custom_root)
    errors = []
    assert custom_sequences(custom_root, on_error=lambda n, e: errors.append(n)).names() == ['b', 'c']
    assert errors == ['a']
    write_text(os.path.join(custom_root, 'b', 'groundtruth.txt'), '5,5,9,9\n5,NaN,9,9\n\n\n')
    with pytest.raises(NanBoxError, match=r'b/groundtruth.txt, line\(s\) 2: NaN in some but not all'):
        CustomDataset(custom_root).get_sequence_info(1)
    write_text(os.path.join(custom_root, 'b', 'groundtruth.txt'), '5,5,9\n')
    with pytest.raises(ValueError, match=r'b/groundtruth.txt, line 1: expected 4 numbers'):
        CustomDataset(custom_root).get_sequence_info(1)


def test_registration_by_name_and_clear_errors(custom_root, tmp_path):
    train = SimpleNamespace(custom_datasets={'drones': custom_root})
    assert build_train_dataset('CUSTOM:drones', train).sequence_list == ['a', 'b', 'c']
    reader = build_train_dataset('CUSTOM:drones:train', train, use_lmdb=True)  # --use_lmdb: no effect here
    assert reader.sequence_list == ['a', 'c'] and reader.get_name() == 'custom_drones'
    with pytest.raises(ValueError) as e:
        build_train_dataset('CUSTOM:birds', train)
    assert "unknown custom dataset 'birds'" in str(e.value) and 'drones' in str(e.value)
    assert os.path.join('lib', 'train', 'admin', 'local.py') in str(e.value)
    with pytest.raises(ValueError, match='registered in custom_datasets of .*: none'):
        build_train_dataset('CUSTOM:drones', SimpleNamespace())  # an old local.py without the attribute
    with pytest.raises(DatasetPathError, match=r"custom_datasets\['gone'\] points to"):
        build_train_dataset('CUSTOM:gone', SimpleNamespace(custom_datasets={'gone': str(tmp_path / 'x')}))
    with pytest.raises(StorageKeyError, match=r"no split 'val' \(splits: test, train\)"):
        build_train_dataset('CUSTOM:drones:val', train)
    with pytest.raises(ValueError, match='CUSTOM:drones:train'):
        build_train_dataset('CUSTOM:', train)
    with pytest.raises(ValueError, match='CUSTOM:<name>'):
        build_train_dataset('CUSTOMX', train)

    test = SimpleNamespace(custom_datasets={'drones': custom_root})
    assert datasets.get_dataset('custom:drones:test', settings=test).names() == ['b']
    with pytest.raises(ValueError) as e:
        datasets.get_dataset('custom:birds', settings=test)
    assert os.path.join('lib', 'test', 'evaluation', 'local.py') in str(e.value) and 'drones' in str(e.value)
    assert datasets.is_dataset_name('custom:anything') and not datasets.is_dataset_name('CUSTOM:x')


def test_local_files_declare_custom_datasets_and_set_path_fills_them(tmp_path, monkeypatch):
    from lib.test.evaluation import environment as test_env
    from lib.train.admin import environment as train_env
    from lib.utils.local_files_writer import write_local_files

    monkeypatch.setattr(train_env, 'LOCAL_FILE', str(tmp_path / 'train_local.py'))
    monkeypatch.setattr(test_env, 'LOCAL_FILE', str(tmp_path / 'test_local.py'))
    write_local_files(str(tmp_path), str(tmp_path / 'data'), str(tmp_path / 'out'))
    text = (tmp_path / 'train_local.py').read_text()
    assert 'self.custom_datasets = {}' in text and 'docs/custom_dataset.md' in text
    assert 'settings.custom_datasets = {}' in (tmp_path / 'test_local.py').read_text()
    namespace = {}
    exec(text, namespace)
    assert namespace['EnvironmentSettings']().custom_datasets == {}
    old = type(sys)('old_local')  # a pasted local.py from before custom datasets
    old.EnvironmentSettings = lambda: SimpleNamespace(lasot_dir='/old')
    monkeypatch.setattr(train_env, 'import_local_module', lambda name: old)
    settings = train_env.env_settings()
    assert settings.custom_datasets == {}
    apply_set_path(settings, ['custom_datasets.drones=/d', 'custom_datasets.birds=/b', 'lasot_dir=/l'])
    assert settings.custom_datasets == {'drones': '/d', 'birds': '/b'} and settings.lasot_dir == '/l'
    with pytest.raises(ValueError, match="ATTR=PATH or ATTR.KEY=PATH, got 'nothing'"):
        apply_set_path(settings, ['nothing'])


def run_builder(*args):
    cmd = [sys.executable, os.path.join(REPO, 'tracking', 'create_custom_dataset.py'), '--no_progress', *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


def test_create_custom_dataset_round_trips_videos_and_image_folders(tmp_path):
    inputs = synthetic_inputs(str(tmp_path / 'src'), kinds=('mp4', 'avi', 'png'))
    run = run_builder('--src', str(tmp_path / 'src'), '--dst', str(tmp_path / 'ds'), '--split', 'train')
    assert run.returncode == 0, run.stderr
    assert '3 sequence(s) built' in run.stdout
    reader = CustomDataset(str(tmp_path / 'ds'), split='train')
    assert reader.sequence_list == sorted(inputs)
    from lib.utils.synthetic import plan_sequence

    for seq_id, (name, boxes) in enumerate(sorted(inputs.items())):
        info = reader.get_sequence_info(seq_id)
        expected = np.nan_to_num(boxes, nan=0.0)
        assert np.array_equal(info['bbox'].numpy(), expected.astype(np.float32))
        assert info['visible'].tolist() == (~np.isnan(boxes).all(1)).tolist()
        frames = reader.get_frames(seq_id, list(range(len(boxes))))[0]
        seq = plan_sequence(
            7 + ['mp4', 'avi', 'png'].index(name.split('_')[1]), size=(128, 96), frame_range=(10, 14)
        )
        error = np.mean([np.abs(f.astype(int) - seq.frame(t)).mean() for t, f in enumerate(frames)])
        assert error == 0 if name.endswith('png') else error < 12, (name, error)
    assert os.listdir(tmp_path / 'ds' / sorted(inputs)[2] / 'img')[0].endswith('.png')
    again = run_builder('--src', str(tmp_path / 'src'), '--dst', str(tmp_path / 'ds'))
    assert again.returncode == 0 and '0 sequence(s) built, 3 already there' in again.stdout


def test_create_custom_dataset_bad_inputs_name_the_file_and_leave_nothing(tmp_path):
    inputs = synthetic_inputs(str(tmp_path / 'src'), kinds=('mp4', 'jpg'))
    video, folder = sorted(inputs)
    box_file = tmp_path / 'src' / f'{video}.txt'
    lines = box_file.read_text().splitlines(keepends=True)
    box_file.write_text(''.join(lines[:-1]))  # one frame without its line
    (tmp_path / 'src' / f'{folder}.txt').write_text('1,2,3\n')
    run = run_builder('--src', str(tmp_path / 'src'), '--dst', str(tmp_path / 'ds'))
    assert run.returncode == 1
    assert f'{box_file}: {len(lines) - 1} lines, but' in run.stderr and 'has more frames' in run.stderr
    assert f'{folder}.txt, line 1: expected 4 numbers' in run.stderr
    assert sorted(os.listdir(tmp_path / 'ds')) == []  # no sequence folder, no list.txt, no .partial-
    os.remove(box_file)
    run = run_builder('--src', str(tmp_path / 'src'), '--dst', str(tmp_path / 'ds'))
    assert run.returncode == 2 and f'no box file; expected {box_file}' in run.stderr


def test_create_custom_dataset_restarts_after_a_kill(tmp_path, monkeypatch):
    from lib.train.dataset import custom_builder

    inputs = synthetic_inputs(str(tmp_path / 'src'), kinds=('mp4', 'avi'))
    first, second = sorted(inputs)
    real = custom_builder._write_video_frames

    def killed_in_second(source, folder, n_boxes, quality, progress):
        if source.name == second:
            open(os.path.join(folder, '00000001.jpg'), 'wb').close()
            raise KeyboardInterrupt  # the run dies half-way through a sequence
        return real(source, folder, n_boxes, quality, progress)

    monkeypatch.setattr(custom_builder, '_write_video_frames', killed_in_second)
    dst = tmp_path / 'ds'
    with pytest.raises(KeyboardInterrupt):
        build_custom_dataset(str(tmp_path / 'src'), str(dst), show_progress=False)
    assert (dst / 'list.txt').read_text() == f'{first}\n' and not (dst / second).exists()
    os.makedirs(dst / f'.partial-{second}' / 'img')  # what a SIGKILL leaves
    (dst / f'.partial-{second}' / 'img' / '00000001.jpg').write_bytes(b'half')
    assert CustomDataset(str(dst)).sequence_list == [first]  # the half sequence is invisible
    monkeypatch.setattr(custom_builder, '_write_video_frames', real)
    summary = build_custom_dataset(str(tmp_path / 'src'), str(dst), show_progress=False)
    assert summary.skipped == [first] and summary.built == [second] and not summary.failed
    assert sorted(os.listdir(dst)) == sorted([first, second, 'list.txt'])
    reader = CustomDataset(str(dst))
    assert reader.get_sequence_info(1)['bbox'].shape[0] == len(inputs[second]) == reader.count_frames(1)
    assert read_image(reader.frame_location(1, 0)[0].path(reader.frame_location(1, 0)[1])).shape == (
        96,
        128,
        3,
    )
