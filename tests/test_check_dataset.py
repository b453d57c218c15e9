"""tracking/check_dataset.py: each planted defect is found with its severity, a clean set passes, and the
exclusion list it writes is honoured by the training readers (folders and LMDB)."""

import os
import re
import subprocess
import sys

import pytest
from custom_fixtures import write_custom
from datasets_fixtures import write_lasot, write_text

from lib.train.dataset.custom import CustomDataset
from lib.train.dataset.lasot import Lasot
from lib.train.dataset.lmdb_builder import build_lmdb
from lib.utils.dataset_check.cli import main
from lib.utils.image_io import encode_jpeg

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
N = 20  # the training sampler's shortest sequence
CLEAN = {name: [[2 + i % 5, 3, 10, 8] for i in range(N)] for name in ('a', 'b', 'c')}  # inside 24x24 frames


@pytest.fixture
def root(tmp_path):
    return write_custom(str(tmp_path / 'ds'), ['a', 'b', 'c'], n=N, boxes=CLEAN)


def check(root, name='CUSTOM:t', *extra, capsys):
    """(exit status, {kind: (severity, sequences, frames)}, output) of the checker on `root`."""
    prefix = 'lasot_dir' if name == 'LASOT' else 'lasot_path' if name == 'lasot' else 'custom_datasets.t'
    code = main(['--dataset', name, '--set_path', f'{prefix}={root}', '--no_progress', *extra])
    out = capsys.readouterr().out
    table = {}
    for line in out.splitlines():
        match = re.match(r'^(\w+)\s+(error|warning)\s+(\d+)\s+(\d+)\s', line)
        if match:
            table[match[1]] = (match[2], int(match[3]), int(match[4]))
    return code, table, out


def found(table):
    return {kind: row for kind, row in table.items() if row[1]}


@pytest.mark.parametrize('name', ['CUSTOM:t', 'custom:t'])
def test_a_clean_set_passes(root, name, capsys):
    code, table, out = check(root, name, capsys=capsys)
    assert code == 0 and found(table) == {} and '3 clean' in out
    assert len(table) >= 10  # every kind is listed, found or not


def plant(root, seq, file, text):
    write_text(os.path.join(root, seq, file), text)


def gt(rows):
    return ''.join(','.join(str(v) for v in r) + '\n' if r else '\n' for r in rows)


def frame(root, seq, index):
    return os.path.join(root, seq, 'img', f'{index:08d}.jpg')


def test_missing_frame(root, capsys):
    os.remove(frame(root, 'b', 3))
    code, table, out = check(root, capsys=capsys)
    assert code == 1 and table['missing_frame'] == ('error', 1, 1) and 'b: frame 3: missing file' in out
    # the evaluation reader refuses the sequence up front: 5 lines for 4 frames
    code, table, out = check(root, 'custom:t', capsys=capsys)
    assert (
        code == 1
        and found(table) == {'line_count_mismatch': ('error', 1, 1)}
        and f'has {N - 1} frames' in out
    )


@pytest.mark.parametrize('name', ['CUSTOM:t', 'custom:t'])
def test_unreadable_frame(root, name, capsys):
    write_text(frame(root, 'c', 2), 'not an image')
    code, table, out = check(root, name, capsys=capsys)
    assert code == 1 and found(table) == {'unreadable_frame': ('error', 1, 1)}
    assert f'{frame(root, "c", 2)}: not an image' in out


def test_truncated_frame_is_a_warning_and_decode_finds_a_damaged_body(root, capsys):
    data = open(frame(root, 'a', 1), 'rb').read()
    with open(frame(root, 'a', 1), 'wb') as f:
        f.write(data[: len(data) // 2])
    code, table, _ = check(root, capsys=capsys)
    assert code == 0 and found(table) == {'truncated_frame': ('warning', 1, 1)}
    # a valid header and end marker around garbage: only a full decode sees it
    good = encode_jpeg(__import__('numpy').zeros((24, 24, 3), 'uint8'))
    sof = good.index(b'\xff\xc0')
    with open(frame(root, 'a', 1), 'wb') as f:
        f.write(good[: sof + 19] + b'\x00' * 64 + b'\xff\xd9')
    assert found(check(root, capsys=capsys)[1]) == {}
    code, table, _ = check(root, 'CUSTOM:t', '--decode', capsys=capsys)
    assert code == 1 and found(table) == {'unreadable_frame': ('error', 1, 1)}


@pytest.mark.parametrize('name', ['CUSTOM:t', 'custom:t'])
def test_line_count_mismatch(root, name, capsys):
    os.link(frame(root, 'a', 1), frame(root, 'a', N + 1))  # a frame without its line
    code, table, out = check(root, name, capsys=capsys)
    assert code == 1 and found(table) == {'line_count_mismatch': ('error', 1, 1)}
    assert re.search(rf'a: .*{N} (boxes|lines).*{N + 1} frame', out)


def test_line_count_mismatch_of_a_label_file(root, capsys):
    plant(root, 'b', 'absence.label', '0\n0\n')
    code, table, out = check(root, capsys=capsys)
    assert code == 1 and found(table) == {'line_count_mismatch': ('error', 1, 1)} and 'absence.label' in out


def test_nan_box_in_the_custom_format(root, capsys):
    plant(root, 'c', 'groundtruth.txt', gt(CLEAN['c'][:2] + [[4, 'NaN', 10, 8]] + CLEAN['c'][3:]))
    code, table, out = check(root, capsys=capsys)
    assert code == 1 and found(table) == {'nan_box': ('error', 1, 1)} and 'line(s) 3' in out


def test_nan_box_in_the_lasot_layout(tmp_path, capsys):
    lasot = write_lasot(str(tmp_path / 'lasot'), ['cat-1', 'cat-2'], n=4)
    write_text(str(tmp_path / 'lasot' / 'training_set.txt'), 'cat-1\ncat-2\n')
    write_text(
        str(tmp_path / 'lasot' / 'cat' / 'cat-2' / 'groundtruth.txt'),
        '1,2,8,6\nNaN,2,8,6\n3,2,8,6\n4,2,8,6\n',
    )
    code, table, out = check(lasot, 'LASOT', capsys=capsys)
    assert (
        code == 1 and table['nan_box'] == ('error', 1, 1) and 'cat-2: frame 2: NaN in (nan, 2, 8, 6)' in out
    )


@pytest.mark.parametrize('box', [[3, 3, -4, 8], [3, 3, 0, 8]])
def test_negative_or_zero_size_box(root, box, capsys):
    plant(root, 'a', 'groundtruth.txt', gt(CLEAN['a'][:3] + [box] + CLEAN['a'][4:]))
    code, table, out = check(root, capsys=capsys)
    assert code == 0 and found(table) == {'bad_size_box': ('warning', 1, 1)} and 'a: frame 4: size' in out


def test_box_outside_frame(root, capsys):
    plant(root, 'b', 'groundtruth.txt', gt(CLEAN['b'][:1] + [[30, 3, 5, 5], [-9, 3, 5, 5]] + CLEAN['b'][3:]))
    code, table, out = check(root, capsys=capsys)
    assert code == 0 and found(table) == {'box_outside_frame': ('warning', 1, 2)}
    assert 'b: frame 2: box (30, 3, 5, 5) in a 24x24 frame' in out


def test_no_visible_target(root, capsys):
    plant(root, 'c', 'groundtruth.txt', '\n' * N)
    code, table, _ = check(root, capsys=capsys)
    assert code == 0 and found(table) == {'no_visible_target': ('warning', 1, N)}
    # for evaluation the tracker cannot even start
    code, table, _ = check(root, 'custom:t', capsys=capsys)
    assert code == 1 and found(table) == {
        'bad_first_box': ('error', 1, 1),
        'no_visible_target': ('warning', 1, N),
    }


def test_too_short_for_the_training_sampler(root, capsys):
    plant(root, 'a', 'groundtruth.txt', gt(CLEAN['a'][:10]))
    for index in range(11, N + 1):
        os.remove(frame(root, 'a', index))
    code, table, out = check(root, capsys=capsys)
    assert code == 0 and found(table) == {'too_short': ('warning', 1, 1)} and 'a: 10 frames' in out
    assert found(check(root, 'custom:t', capsys=capsys)[1]) == {}  # evaluation tracks any length


def test_bad_first_box_only_matters_for_evaluation(root, capsys):
    plant(root, 'a', 'groundtruth.txt', gt([None] + CLEAN['a'][1:]))
    assert check(root, capsys=capsys)[0] == 0
    code, table, out = check(root, 'custom:t', capsys=capsys)
    assert code == 1 and found(table) == {'bad_first_box': ('error', 1, 1)}


def test_duplicate_name(root, capsys):
    write_text(os.path.join(root, 'list.txt'), 'a\nb\nc\nb\n')
    code, table, _ = check(root, capsys=capsys)
    assert code == 0 and found(table) == {'duplicate_name': ('warning', 1, 2)}
    code, table, _ = check(root, 'custom:t', capsys=capsys)  # results of the two would overwrite
    assert code == 1 and found(table) == {'duplicate_name': ('error', 1, 2)}


def test_bad_annotation(root, capsys):
    os.remove(os.path.join(root, 'a', 'groundtruth.txt'))
    code, table, out = check(root, capsys=capsys)
    assert code == 1 and found(table) == {'bad_annotation': ('error', 1, 1)}
    assert f'missing file {os.path.join(root, "a", "groundtruth.txt")}' in out


def test_missing_frame_through_the_lasot_evaluation_reader(tmp_path, capsys):
    lasot = write_lasot(str(tmp_path / 'lasot'), ['cat-1', 'cat-2'], n=4)
    write_text(str(tmp_path / 'lasot' / 'testing_set.txt'), 'cat-1\ncat-2\n')
    os.remove(os.path.join(lasot, 'cat', 'cat-1', 'img', '00000004.jpg'))
    code, table, _ = check(lasot, 'lasot', capsys=capsys)
    assert code == 1 and table['missing_frame'] == ('error', 1, 1) and table['line_count_mismatch'][1] == 1


def test_exclusions_written_by_the_checker_are_honoured_by_the_training_readers(root, tmp_path, capsys):
    os.remove(frame(root, 'b', 2))
    exclude = os.path.join(root, 'exclude.txt')
    code, _, out = check(root, 'CUSTOM:t', '--write-exclusions', exclude, capsys=capsys)
    assert code == 1 and 'wrote 1 name(s)' in out and 'put the list there' not in out
    assert [line for line in open(exclude) if not line.startswith('#')] == ['b\n']
    reader = CustomDataset(root)
    assert reader.sequence_list == ['a', 'c'] and reader.excluded == ['b']
    code, table, out = check(root, 'CUSTOM:t', '--write-exclusions', exclude, capsys=capsys)
    assert code == 0 and found(table) == {} and f'1 sequence(s) skipped, as {exclude} names them' in out
    assert [line for line in open(exclude) if not line.startswith('#')] == ['b\n']  # kept, not dropped
    build_lmdb('custom', root, str(tmp_path / 'lmdb'))
    assert CustomDataset(str(tmp_path / 'lmdb')).sequence_list == ['a', 'c']

    lasot = write_lasot(str(tmp_path / 'lasot'), ['cat-1', 'cat-2', 'dog-1'], n=4)
    write_text(os.path.join(lasot, 'training_set.txt'), 'cat-1\ncat-2\ndog-1\n')
    write_text(os.path.join(lasot, 'dog', 'dog-1', 'out_of_view.txt'), '0,0\n')
    elsewhere = str(tmp_path / 'lasot_exclude.txt')
    code, table, out = check(lasot, 'LASOT', '--write-exclusions', elsewhere, capsys=capsys)
    assert code == 1 and table['line_count_mismatch'] == ('error', 1, 1)
    assert f"the readers of LASOT read {os.path.join(lasot, 'exclude.txt')}" in out
    os.replace(elsewhere, os.path.join(lasot, 'exclude.txt'))
    assert Lasot(lasot).sequence_list == ['cat-1', 'cat-2']
    build_lmdb('lasot', lasot, str(tmp_path / 'lasot_lmdb'))
    assert Lasot(str(tmp_path / 'lasot_lmdb'), use_lmdb=True).sequence_list == ['cat-1', 'cat-2']


def test_a_failed_jpeg_decode_leaves_later_decodes_intact():
    # jpeg4py pools its decoder handles; one that failed once read the next headers as 0x0 (and then
    # wrote out of bounds), so a --decode check over a damaged frame crashed the process
    import numpy as np

    from lib.utils.image_io import ImageReadError, decode_image

    good = encode_jpeg(np.full((24, 32, 3), 90, np.uint8))
    sof = good.index(b'\xff\xc0')
    bad = good[: sof + 19] + b'\x00' * 64 + b'\xff\xd9'
    for _ in range(3):
        with pytest.raises(ImageReadError):
            decode_image(bad, 'bad.jpg')
        assert decode_image(good, 'good.jpg').shape == (24, 32, 3)


def test_entry_point_exit_status_and_unknown_names(root):
    def run(*args):
        cmd = [sys.executable, os.path.join(REPO, 'tracking', 'check_dataset.py'), '--no_progress', *args]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=120)

    bad = run('--dataset', 'CUSTOM:nope', '--set_path', f'custom_datasets.t={root}')
    assert (
        bad.returncode == 2 and "unknown custom dataset 'nope'" in bad.stderr and "registered" in bad.stderr
    )
    bad = run('--dataset', 'LASOT_TRAIN')
    assert bad.returncode == 2 and 'Training names: LASOT' in bad.stderr and 'custom:<name>' in bad.stderr
    os.remove(frame(root, 'a', 1))
    found_errors = run('--dataset', 'custom:t', '--set_path', f'custom_datasets.t={root}')
    assert found_errors.returncode == 1 and 'missing_frame' in found_errors.stdout
