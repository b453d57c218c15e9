"""GOT-10k / TrackingNet submission packers: layout, completeness checks, atomic zip, raw results kept."""

import os
import subprocess
import sys
import zipfile

import numpy as np
import pytest

from lib.test.evaluation import results
from lib.test.evaluation.data import Sequence, SequenceList
from lib.test.utils import packing

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FRAMES = {'seqA': 3, 'seqB': 4}


def dataset(label):
    return SequenceList(
        Sequence(name, [f'/x/{name}/{i}.jpg' for i in range(n)], label, [[1, 2, 3, 4]])
        for name, n in FRAMES.items()
    )


def write_results(root, label, run_id=None, frames=None, offset=0.0):
    folder = results.sequence_results_dir(str(root), 'trk', 'cfg', run_id, label)
    for name, n in (frames or FRAMES).items():
        boxes = np.arange(n * 4, dtype=float).reshape(n, 4) + 0.25 + offset
        results.write_sequence_results(folder, name, boxes, np.full(n, 0.5 + offset))
    return folder


def snapshot(folder):
    out = {}
    for dirpath, _, files in os.walk(folder):
        for f in files:
            path = os.path.join(dirpath, f)
            out[path] = (open(path, 'rb').read(), os.stat(path).st_mtime_ns)
    return out


def test_got10k_layout(tmp_path):
    raw = write_results(tmp_path / 'res', 'got10k')
    before = snapshot(tmp_path / 'res')
    path = packing.pack_got10k(
        'trk',
        'cfg',
        dataset=dataset('got10k'),
        results_path=str(tmp_path / 'res'),
        output_dir=str(tmp_path / 'out'),
    )
    assert path == str(tmp_path / 'out' / 'trk_cfg_got10k.zip')
    with zipfile.ZipFile(path) as z:
        assert sorted(z.namelist()) == [
            'seqA/seqA_001.txt',
            'seqA/seqA_time.txt',
            'seqB/seqB_001.txt',
            'seqB/seqB_time.txt',
        ]
        lines = z.read('seqB/seqB_001.txt').decode().splitlines()
        assert len(lines) == 4 and lines[1] == '4.2500,5.2500,6.2500,7.2500'
        assert z.read('seqA/seqA_time.txt').decode().split() == ['0.500000'] * 3
    assert snapshot(tmp_path / 'res') == before and os.path.isdir(raw)
    assert os.listdir(tmp_path / 'out') == ['trk_cfg_got10k.zip']  # no temp file left


def test_got10k_several_runs(tmp_path):
    for run in (0, 1):
        write_results(tmp_path, 'got10k', run_id=run, offset=run)
    path = packing.pack_got10k(
        'trk',
        'cfg',
        run_ids=[0, 1],
        dataset=dataset('got10k'),
        results_path=str(tmp_path),
        output_dir=str(tmp_path / 'out'),
    )
    with zipfile.ZipFile(path) as z:
        assert 'seqA/seqA_002.txt' in z.namelist()
        assert z.read('seqA/seqA_002.txt').decode().splitlines()[0] == '1.2500,2.2500,3.2500,4.2500'
        assert z.read('seqA/seqA_time.txt').decode().splitlines()[0] == '0.500000,1.500000'
    assert path.endswith('trk_cfg_000_001_got10k.zip')


def test_trackingnet_layout(tmp_path):
    write_results(tmp_path, 'trackingnet')
    path = packing.pack_trackingnet(
        'trk',
        'cfg',
        dataset=dataset('trackingnet'),
        results_path=str(tmp_path),
        output_dir=str(tmp_path / 'out'),
    )
    with zipfile.ZipFile(path) as z:
        assert sorted(z.namelist()) == ['seqA.txt', 'seqB.txt']  # no wrapper folder, no time files
        assert z.read('seqA.txt').decode().splitlines()[0] == '0.2500,1.2500,2.2500,3.2500'


def test_refuses_missing_and_short_results(tmp_path):
    write_results(tmp_path, 'got10k', frames={'seqA': 2})  # seqA short, seqB missing
    out = tmp_path / 'out'
    out.mkdir()
    (out / 'trk_cfg_got10k.zip').write_bytes(b'old')
    with pytest.raises(packing.SubmissionError) as err:
        packing.pack_got10k(
            'trk', 'cfg', dataset=dataset('got10k'), results_path=str(tmp_path), output_dir=str(out)
        )
    message = str(err.value)
    assert 'seqA.txt has 2 lines, the sequence has 3 frames' in message
    assert 'seqA_time.txt has 2 lines' in message
    assert 'missing: ' + os.path.join(str(tmp_path), 'trk', 'cfg', 'got10k', 'seqB.txt') in message
    assert (out / 'trk_cfg_got10k.zip').read_bytes() == b'old'


def test_zip_is_atomic(tmp_path, monkeypatch):
    write_results(tmp_path, 'trackingnet')
    out = tmp_path / 'out'
    out.mkdir()
    (out / 'trk_cfg_trackingnet.zip').write_bytes(b'old')

    def fail(*args, **kwargs):
        raise OSError('disk full')

    monkeypatch.setattr(zipfile.ZipFile, 'writestr', fail)
    with pytest.raises(OSError):
        packing.pack_trackingnet(
            'trk', 'cfg', dataset=dataset('trackingnet'), results_path=str(tmp_path), output_dir=str(out)
        )
    assert os.listdir(out) == ['trk_cfg_trackingnet.zip']
    assert (out / 'trk_cfg_trackingnet.zip').read_bytes() == b'old'


def test_cli_functions(tmp_path, capsys):
    write_results(tmp_path, 'trackingnet', run_id=2)
    argv = [
        '--tracker_name',
        'trk',
        '--cfg_name',
        'cfg',
        '--runid',
        '2',
        '--results_path',
        str(tmp_path),
        '--output_dir',
        str(tmp_path / 'out'),
    ]
    assert packing.main_trackingnet(argv, dataset=dataset('trackingnet')) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / 'out' / 'trk_cfg_002_trackingnet.zip')
    assert packing.main_got10k(argv, dataset=dataset('got10k')) == 1
    assert 'nothing was packed' in capsys.readouterr().err


@pytest.mark.parametrize('how', ['file', 'module'])
def test_scripts_start_as_file_and_module(tmp_path, how):
    script = os.path.join(REPO, 'lib', 'test', 'utils', 'transform_got10k.py')
    cmd = (
        [sys.executable, script]
        if how == 'file'
        else [sys.executable, '-m', 'lib.test.utils.transform_got10k']
    )
    out = subprocess.run(
        cmd + ['--help'], cwd=tmp_path if how == 'file' else REPO, capture_output=True, text=True
    )
    assert out.returncode == 0 and '--cfg_name' in out.stdout, out.stderr
