"""Profiling: MACs counted as the papers (thop), exact FLOPs, latency; the CLI."""

import contextlib
import os
import subprocess
import sys

import pytest
import torch
import torch.nn as nn
from torch.nn.attention import SDPBackend, sdpa_kernel

from lib.config import load_config
from lib.families import get_family
from lib.models import build_model_from_cfg
from lib.models.layers.attention import set_attention_impl
from lib.models.layers.block import Block
from lib.models.ostrack import profile_inputs
from lib.utils.profiling import (
    count_ops,
    exact_flops,
    flop_counter,
    measure_latency,
    profile_config,
    thop_macs,
)

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


def block_flops(batch, tokens, dim):
    """A pre-norm ViT block by hand: qkv (C x 3C), proj (C x C), fc1 (C x 4C), fc2 (4C x C) on every
    token, and the two attention products (q k^T, map v) over all heads; 2 FLOPs per multiply-add."""
    linear = 2 * batch * tokens * (dim * 3 * dim + dim * dim + dim * 4 * dim + 4 * dim * dim)
    attention = 2 * 2 * batch * tokens * tokens * dim
    return linear + attention


@pytest.mark.parametrize('variant', ['default', 'math', 'cpu_flash', 'explicit', 'meta'])
def test_block_flops_equal_the_analytic_count_on_every_attention_path(variant):
    # Torch releases differ in which fused attention kernels FlopCounterMode knows; whichever kernel
    # SDPA dispatches to, the attention products must be counted.
    torch.manual_seed(0)
    device = 'meta' if variant == 'meta' else 'cpu'
    with torch.device(device):
        block = Block(dim=64, num_heads=4).eval()
        x = torch.randn(2, 40, 64)
    if variant == 'explicit':
        set_attention_impl(block, 'explicit')
    backend = {'math': SDPBackend.MATH, 'cpu_flash': SDPBackend.FLASH_ATTENTION}.get(variant)
    with sdpa_kernel(backend) if backend else contextlib.nullcontext():
        flops = exact_flops(block, (x,))
    assert flops == block_flops(2, 40, 64)


def test_training_step_flops_are_the_same_on_cpu_and_meta():
    # forward and backward: the fused kernels' backward formulas count what autograd's bmm counts
    counts = {}
    for device in ('cpu', 'meta'):
        with torch.device(device):
            block = Block(dim=64, num_heads=4)
            x = torch.randn(2, 40, 64, requires_grad=True)
        with flop_counter() as counter:
            block(x).sum().backward()
        counts[device] = counter.get_total_flops()
    assert counts['cpu'] == counts['meta'] == 3 * block_flops(2, 40, 64)


VIT_B_CONFIGS = [
    ('ostrack', 'vitb_256_mae_ce_32x4_ep300'),
    ('ostrack', 'vitb_384_mae_32x4_ep300'),
    ('droptrack', 'vitb_384_mae_ce_32x4_ep300'),
    ('lorat', 'base_224'),
    ('compresstracker', 'compresstracker_vitb_256_4'),
]


@pytest.mark.parametrize('script,config', VIT_B_CONFIGS)
def test_vit_b_configs_count_the_same_flops_on_cpu_and_meta(script, config):
    cfg = load_config(script, config)
    family = get_family(script)
    real = build_model_from_cfg(script, cfg, training=False).eval()
    with torch.device('meta'):
        meta = build_model_from_cfg(script, cfg, training=False).eval()
        meta_inputs = family.profile_inputs(cfg, batch=1)
    cpu_flops = exact_flops(real, family.profile_inputs(cfg, batch=1))
    assert cpu_flops == exact_flops(meta, meta_inputs)
    assert cpu_flops == profile_config(script, config, timing=False)['flops']


def test_profile_config_reports_latency_in_both_precisions():
    report = profile_config('ostrack', 'tiny_ce', device='cpu', iters=2, warmup=1)
    assert report['params'] == sum(
        p.numel()
        for p in build_model_from_cfg(
            'ostrack', load_config('ostrack', 'tiny_ce'), training=False
        ).parameters()
    )
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
    ok = subprocess.run(
        [
            sys.executable,
            'tracking/profile_model.py',
            '--script',
            'ostrack',
            '--config',
            'tiny_ce',
            '--no_timing',
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        env=env,
    )
    assert ok.returncode == 0, ok.stderr
    assert 'MACs (thop)' in ok.stdout and 'FLOPs (exact)' in ok.stdout
    bad = subprocess.run(
        [sys.executable, 'tracking/profile_model.py', '--config', 'vitb_999'],
        cwd=REPO,
        capture_output=True,
        text=True,
        env=env,
    )
    assert bad.returncode != 0 and 'vitb_999' in bad.stderr and 'Traceback' not in bad.stderr
