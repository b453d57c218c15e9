"""Profiling: MACs counted as the papers (thop), exact FLOPs, latency; the CLI."""
import os
import subprocess
import sys

import pytest
import torch
import torch.nn as nn

from lib.config import load_config
from lib.models import build_model_from_cfg
from lib.models.ostrack import profile_inputs
from lib.utils.profiling import count_ops, exact_flops, measure_latency, profile_config, thop_macs

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# thop MACs of the official OSTrack models (fact sheet section 8; the CompressTracker figure's 29.1 G)
PUBLISHED_MACS = {
    'vitb_256_mae_ce_32x4_ep300': 21.517e9,
    'vitb_384_mae_ce_32x4_ep300': 48.358e9,
    'vitb_256_mae_32x4_ep300': 29.050e9,
    'vitb_384_mae_32x4_ep300': 65.363e9,
}


@pytest.mark.parametrize('config', sorted(PUBLISHED_MACS))
def test_thop_macs_match_published(config):
    report = profile_config('ostrack', config, timing=False)
    assert report['thop_macs'] == pytest.approx(PUBLISHED_MACS[config], rel=0.01)
    assert report['thop_params'] == pytest.approx(92.121e6, rel=0.001)
    assert report['params'] == (92518533 if '256' in config else 92825733)  # official model.parameters()


def test_meta_device_counts_equal_real_model_counts():
    cfg = load_config('ostrack', 'tiny_ce')
    real = build_model_from_cfg('ostrack', cfg, training=False).eval()
    with torch.device('meta'):
        meta = build_model_from_cfg('ostrack', cfg, training=False).eval()
        meta_inputs = profile_inputs(cfg)
    assert count_ops(meta, meta_inputs) == count_ops(real, profile_inputs(cfg))


def test_exact_flops_count_linear_and_attention():
    assert exact_flops(nn.Linear(8, 4), (torch.randn(3, 8),)) == 2 * 3 * 8 * 4
    cfg = load_config('ostrack', 'tiny_ce')
    cfg.MODEL.BACKBONE.TYPE = 'vit_patch16'  # no CE: token count fixed at 16 + 64
    model = build_model_from_cfg('ostrack', cfg, training=False).eval()
    inputs = profile_inputs(cfg)
    macs, _ = thop_macs(model, inputs)
    attention = 4 * 2 * 2 * 80 * 80 * 128  # blocks x (qk^T and attn@v) x 2 FLOPs/MAC x N^2 x C
    # thop leaves out the attention products, norms/activations differ slightly in convention
    assert exact_flops(model, inputs) == pytest.approx(2 * macs + attention, rel=0.02)


def test_profile_config_reports_latency_in_both_precisions():
    report = profile_config('ostrack', 'tiny_ce', device='cpu', iters=2, warmup=1)
    assert report['params'] == sum(p.numel() for p in build_model_from_cfg(
        'ostrack', load_config('ostrack', 'tiny_ce'), training=False).parameters())
    assert set(report['latency']) == {'float32', 'bfloat16'}
    for timing in report['latency'].values():
        assert timing['ms'] > 0 and timing['fps'] == pytest.approx(1000 / timing['ms'])
    assert report['flops'] > 2 * report['thop_macs']


def test_latency_runs_half_precision_model():
    cfg = load_config('ostrack', 'tiny_ce')
    model = build_model_from_cfg('ostrack', cfg, training=False)
    assert measure_latency(model, profile_inputs(cfg), 'cpu', torch.bfloat16, warmup=1, iters=1) > 0


def test_cli_prints_report_and_rejects_unknown_config():
    env = dict(os.environ, OMP_NUM_THREADS='1')
    ok = subprocess.run([sys.executable, 'tracking/profile_model.py', '--script', 'ostrack',
                         '--config', 'tiny_ce', '--no_timing'],
                        cwd=REPO, capture_output=True, text=True, env=env)
    assert ok.returncode == 0, ok.stderr
    assert 'MACs (thop)' in ok.stdout and 'FLOPs (exact)' in ok.stdout
    bad = subprocess.run([sys.executable, 'tracking/profile_model.py', '--config', 'vitb_999'], cwd=REPO,
                         capture_output=True, text=True, env=env)
    assert bad.returncode != 0 and 'vitb_999' in bad.stderr and 'Traceback' not in bad.stderr
