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
    assert main(['--quick', '--script', 'ostrack', '--frames', '3', '--doc', str(doc), '--json', str(out)]) == 0
    payload = json.loads(out.read_text())
    names = {r['name'] for r in payload['results']}
    assert {'tracker_fps.ostrack.tiny_ce.plain', 'tracker_fps.ostrack.tiny_ce.fast_fp32',
            'batched_fps.ostrack.tiny_ce.batch2',
            'train_samples_per_s.ostrack.tiny_ce.plain', 'train_samples_per_s.ostrack.tiny_ce.optimized',
            'loader_samples_per_s_per_worker.ostrack.tiny_ce.plain',
            'loader_samples_per_s_per_worker.ostrack.tiny_ce.fast'} <= names
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
    assert 'boxes vs plain' in fast['notes'] and f"{fast['value']:.2f}" in text
    assert any('tracker on CPU' in line for line in payload['findings'])


def test_bad_arguments_are_named():
    with pytest.raises(SystemExit):
        parse_args(['--config', 'tiny_ce'])
    with pytest.raises(SystemExit):
        parse_args(['--parts', 'tracking,speed'])
    proc = subprocess.run([sys.executable, 'tracking/benchmark.py', '--quick', '--script', 'ostrack',
                           '--config', 'no_such_config', '--doc', ''], capture_output=True, text=True)
    assert proc.returncode != 0 and 'no_such_config' in proc.stderr


def test_a_device_run_replaces_only_its_own_block_of_the_report():
    from lib.benchmark.report import merge_device_block
    text = merge_device_block('', 'cpu', '# cpu v1')
    text = merge_device_block(text, 'cuda', '# gpu v1')
    text = merge_device_block(text, 'cpu', '# cpu v2')
    assert '# cpu v2' in text and '# gpu v1' in text and '# cpu v1' not in text
    assert text.index('# cpu v2') < text.index('# gpu v1')  # the block stays where it was
