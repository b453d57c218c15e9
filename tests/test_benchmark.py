"""tracking/benchmark.py in its CI-sized form: every part runs, the JSON holds the figures under stable
names, and the markdown report carries the device, the versions and the same figures."""

import json
import math
import subprocess
import sys

import pytest

from lib.benchmark.cli import main, parse_args


def test_quick_benchmark_writes_stable_names_and_report(tmp_path):
    doc, out = tmp_path / 'benchmarks.md', tmp_path / 'bench.json'
    assert (
        main(['--quick', '--script', 'ostrack', '--frames', '3', '--doc', str(doc), '--json', str(out)]) == 0
    )
    payload = json.loads(out.read_text())
    names = {r['name'] for r in payload['results']}
    assert {
        'tracker_fps.ostrack.tiny_ce.plain',
        'tracker_fps.ostrack.tiny_ce.fast_fp32',
        'batched_fps.ostrack.tiny_ce.batch2',
        'train_samples_per_s.ostrack.tiny_ce.plain',
        'train_samples_per_s.ostrack.tiny_ce.optimized',
        'loader_samples_per_s_per_worker.ostrack.tiny_ce.plain',
        'loader_samples_per_s_per_worker.ostrack.tiny_ce.fast',
    } <= names
    for r in payload['results']:
        assert math.isfinite(r['value']) and r['value'] > 0, r
        assert r['unit'] in ('frames/s', 'samples/s')
        if r['path'] == 'plain':
            assert r['ratio_to_plain'] == pytest.approx(1.0)
    meta = payload['meta']
    assert meta['device'] == 'cpu' and meta['torch'] and meta['date']
    text = doc.read_text()
    assert meta['torch'] in text and 'tracker_fps.ostrack.tiny_ce.fast_fp32' in text
    fast = next(r for r in payload['results'] if r['name'] == 'tracker_fps.ostrack.tiny_ce.fast_fp32')
    assert 'boxes vs plain' in fast['notes']
    # The table shows the JSON figure (rounded for reading: compare within half a unit).
    row = next(
        line for line in text.splitlines() if line.startswith('| `tracker_fps.ostrack.tiny_ce.fast_fp32`')
    )
    assert float(row.split('|')[2]) == pytest.approx(fast['value'], abs=0.5)
    assert any('tracker on CPU' in line for line in payload['findings'])
    # Each tracker row says how hard it drives the arithmetic: the network's FLOPs a frame are those
    # tracking/profile_model.py reports for the config, and no path outruns one large matmul.
    from lib.utils.profiling import profile_config

    flops = profile_config('ostrack', 'tiny_ce', timing=False)['flops']
    for r in payload['results']:
        if r['name'].startswith('tracker_fps.'):
            assert r['network_gflop'] == pytest.approx(flops / 1e9)
            assert r['network_gflops'] == pytest.approx(r['value'] * r['network_gflop'])
            assert 0 < r['network_gflops'] < r['matmul_gflops'] and r['matmul_dtype'] == 'float32'
            assert 'GFLOP a frame' in r['notes']
    cpu_line = next(line for line in payload['findings'] if 'tracker on CPU' in line)
    assert '1.5x plain needs the network alone at' in cpu_line


def test_bad_arguments_are_named():
    with pytest.raises(SystemExit):
        parse_args(['--config', 'tiny_ce'])
    with pytest.raises(SystemExit):
        parse_args(['--parts', 'tracking,speed'])
    proc = subprocess.run(
        [
            sys.executable,
            'tracking/benchmark.py',
            '--quick',
            '--script',
            'ostrack',
            '--config',
            'no_such_config',
            '--doc',
            '',
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode != 0 and 'no_such_config' in proc.stderr


def test_a_device_run_replaces_only_its_own_block_of_the_report():
    from lib.benchmark.report import merge_device_block

    text = merge_device_block('', 'cpu', '# cpu v1')
    text = merge_device_block(text, 'cuda', '# gpu v1')
    text = merge_device_block(text, 'cpu', '# cpu v2')
    assert '# cpu v2' in text and '# gpu v1' in text and '# cpu v1' not in text
    assert text.index('# cpu v2') < text.index('# gpu v1')  # the block stays where it was
    assert '<!-- end benchmark: cpu -->\n\n<!-- benchmark: cuda -->' in text  # blocks stay apart
    text = merge_device_block(text + '\n# notes written by hand\n', 'cuda', '# gpu v2')
    assert text.endswith('<!-- end benchmark: cuda -->\n\n# notes written by hand\n')


# --- --parts precision: bf16 / fp16 against fp32 on a trained checkpoint ------------------------------


@pytest.fixture
def checkpoint_and_dataset(tmp_path, monkeypatch):
    """A tiny OSTrack-CE checkpoint (seeded random weights) and a dataset 'synth' of three in-memory
    sequences with ground truth on every frame (the target leaves the frame in each)."""
    import types

    import torch

    from lib.config import load_config
    from lib.models import build_model_from_cfg
    from lib.test.evaluation.data import Sequence, SequenceList
    from lib.utils.synthetic import render_sequence

    torch.manual_seed(0)
    path = tmp_path / 'tiny.pth'
    torch.save(
        {
            'net': build_model_from_cfg(
                'ostrack', load_config('ostrack', 'tiny_ce'), training=False
            ).state_dict()
        },
        path,
    )
    seqs = []
    for i in range(3):
        synth = render_sequence(20 + i, num_frames=8, size=(160, 120), out_of_view=True)
        frames = synth.frames()
        seqs.append(
            Sequence(
                f'seq{i}',
                [f'seq{i}/{k}' for k in range(8)],
                'lasot',
                synth.full_boxes,
                image_reader=lambda name, frames=frames: frames[int(name.rsplit('/', 1)[1])],
            )
        )
    module = types.ModuleType('lib.test.evaluation.datasets')
    module.get_dataset = lambda name: SequenceList(seqs) if name == 'synth' else SequenceList()
    monkeypatch.setitem(sys.modules, 'lib.test.evaluation.datasets', module)
    return str(path), seqs


def test_precision_part_compares_half_precision_with_fp32_frame_by_frame(tmp_path, checkpoint_and_dataset):
    import re

    from lib.benchmark.precision import measure_half_precision

    checkpoint, seqs = checkpoint_and_dataset
    doc, out = tmp_path / 'benchmarks.md', tmp_path / 'bench.json'
    assert (
        main(
            [
                '--script',
                'ostrack',
                '--config',
                'tiny_ce',
                '--device',
                'cpu',
                '--parts',
                'precision',
                '--checkpoint',
                checkpoint,
                '--dataset',
                'synth',
                '--doc',
                str(doc),
                '--json',
                str(out),
            ]
        )
        == 0
    )
    payload = json.loads(out.read_text())
    rows = {r['name']: r for r in payload['results']}
    assert set(rows) == {'half_agreement.ostrack.tiny_ce.bf16', 'half_agreement.ostrack.tiny_ce.fp16'}
    frames = sum(len(s.frames) - 1 for s in seqs)
    for r in rows.values():
        assert 0 <= r['value'] <= 100 and r['unit'] == '% of frames IoU>=0.99'
        assert f'3 sequences, {frames} frames' in r['notes'] and checkpoint in r['notes']
        identical = int(re.search(r'\((\d+) bit-identical\)', r['notes']).group(1))
        assert identical < frames  # the autocast really ran
    assert sum('IoU >= 0.99 with the fp32 boxes' in line for line in payload['findings']) == 2
    assert 'Half precision against fp32 on a trained checkpoint' in doc.read_text()
    # fp32 against fp32: the same weights and inputs give the same boxes on every frame
    same = measure_half_precision('ostrack', 'tiny_ce', checkpoint, dataset='synth', precisions=('fp32',))
    assert same[0]['value'] == 100.0 and f'({frames} bit-identical)' in same[0]['notes']


def test_precision_part_errors_are_named(tmp_path, checkpoint_and_dataset, monkeypatch):
    from lib.benchmark.precision import measure_half_precision

    checkpoint, seqs = checkpoint_and_dataset
    with pytest.raises(SystemExit):  # the part needs a checkpoint and its model
        parse_args(['--parts', 'precision', '--script', 'ostrack', '--config', 'tiny_ce'])
    needed = [
        '--parts',
        'precision',
        '--script',
        'ostrack',
        '--config',
        'tiny_ce',
        '--checkpoint',
        checkpoint,
    ]
    assert parse_args(needed + ['--precisions', 'fp16']).precisions == ('fp16',)
    with pytest.raises(SystemExit):  # only the half precisions are set against fp32
        parse_args(needed + ['--precisions', 'fp16,int8'])
    with pytest.raises(ValueError, match='empty-set.*no sequences'):
        measure_half_precision('ostrack', 'tiny_ce', checkpoint, dataset='empty-set')
    with pytest.raises(ValueError, match='int8'):
        measure_half_precision('ostrack', 'tiny_ce', checkpoint, dataset='synth', precisions=('int8',))
    seqs[1].ground_truth_rect = seqs[1].ground_truth_rect[:1]  # labels withheld (GOT-10k test style)
    with pytest.raises(ValueError, match="'seq1' has ground truth for 1 of 8 frames"):
        measure_half_precision('ostrack', 'tiny_ce', checkpoint, dataset='synth')
