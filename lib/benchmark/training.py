"""Training throughput: samples/s of full training steps (forward, loss, backward, gradient clipping,
optimizer step) of a family's real model, actor and optimizer on one fixed batch.

    measure_training('ostrack', 'vitb_256_mae_ce_32x4_ep300', device='cuda', path='optimized')
    -> [{'name': 'train_samples_per_s.ostrack.vitb_256_mae_ce_32x4_ep300.optimized', 'value': ...,
         'unit': 'samples/s', 'path': 'optimized', 'ratio_to_plain': None, 'notes': '...'}]

Paths:
- 'plain': the reference, as the official code trains: fp32, explicit softmax attention, the default
  (multi-tensor) AdamW, no torch.compile.
- 'optimized': SDPA attention, fused AdamW (where supported), and bf16 autocast on CUDA; on the CPU it
  stays fp32 (OPTIMIZED_AMP: bf16 autocast made tiny_ce steps ~18x slower on a CPU without bf16 units).
- 'optimized_compile': 'optimized' plus torch.compile of the network.

The weights are random (MODEL.PRETRAIN_FILE cleared: nothing is read from disk) and the batch is
synthesised once in the actor's input format with the shapes the config's processing produces, so only
the training step is timed (the data pipeline has its own benchmark). The step runs at a mid-training
epoch (TRAIN.EPOCH // 2 by default), where candidate elimination and CompressTracker's replacement
schedule are active as in most of a real run.
"""

import contextlib
import io
import math
import time

import numpy as np
import torch

from lib.families import get_family

METRIC = 'train_samples_per_s'
PATHS = ('plain', 'optimized', 'optimized_compile')
# Autocast of the optimised paths per device type: bf16 on accelerators; none on the CPU, where bf16
# autocast made training steps slower than fp32 (measured on the tiny and ViT-B configs).
OPTIMIZED_AMP = {'cuda': 'bf16', 'cpu': None}
AMP_CHOICES = ('off', 'bf16', 'fp16')


def benchmark_config(script, config, batch_size=None):
    """The merged config with pretrained files cleared (random weights) and the batch size set."""
    from lib.config import load_config

    cfg = load_config(script, config)
    cfg.MODEL.PRETRAIN_FILE = ''
    if batch_size is not None:
        if int(batch_size) < 1:
            raise ValueError(f'batch_size must be positive, got {batch_size}')
        cfg.TRAIN.BATCH_SIZE = int(batch_size)
    return cfg


def _random_boxes(generator, batch, centre, size):
    """(batch, 4) normalised x, y, w, h: centre +- centre[1], sides uniform in `size`."""
    wh = size[0] + (size[1] - size[0]) * torch.rand(batch, 2, generator=generator)
    c = centre[0] + centre[1] * (2 * torch.rand(batch, 2, generator=generator) - 1)
    return torch.cat([c - wh / 2, wh], dim=1)


def lineage_batch(cfg, batch, generator):
    """OSTrack-lineage actor input (the default Family.synthetic_batch): (1, B, ...) crops and normalised
    x, y, w, h boxes; template targets centred (half the crop), search targets jittered."""
    z, x = cfg.DATA.TEMPLATE.SIZE, cfg.DATA.SEARCH.SIZE
    return {
        'template_images': torch.randn(1, batch, 3, z, z, generator=generator),
        'search_images': torch.randn(1, batch, 3, x, x, generator=generator),
        'template_anno': _random_boxes(generator, batch, (0.5, 0.02), (0.35, 0.6))[None],
        'search_anno': _random_boxes(generator, batch, (0.5, 0.15), (0.12, 0.35))[None],
    }


def synthetic_batch(script, cfg, batch_size=None, seed=0):
    """One fixed training batch in `script`'s actor format (CPU tensors)."""
    generator = torch.Generator().manual_seed(seed)
    batch = int(batch_size or cfg.TRAIN.BATCH_SIZE)
    return get_family(script).synthetic_batch(cfg, batch, generator)


def path_options(path, device, amp=None):
    """{'amp', 'attention', 'fused', 'compile'} of a benchmark path on `device`; `amp` ('off', 'bf16',
    'fp16') overrides the path's autocast."""
    if path not in PATHS:
        raise ValueError(f"unknown training benchmark path {path!r} (expected one of {', '.join(PATHS)})")
    if amp is not None and amp not in AMP_CHOICES:
        raise ValueError(f"amp {amp!r} is not one of {', '.join(AMP_CHOICES)}")
    plain = path == 'plain'
    default_amp = None if plain else OPTIMIZED_AMP.get(torch.device(device).type, 'bf16')
    return {
        'amp': default_amp if amp is None else (None if amp == 'off' else amp),
        'attention': 'explicit' if plain else 'sdpa',
        'fused': False if plain else 'auto',
        'compile': path == 'optimized_compile',
    }


class TrainingStep:
    """A family's real training step on one fixed batch: build once, then each call is one full step
    (through the shared Trainer's autocast and step) and returns the loss as a float."""

    def __init__(
        self, script, config, device='cpu', path='plain', batch_size=None, amp=None, epoch=None, seed=0
    ):
        from lib.models import build_model_from_cfg
        from lib.models.layers.attention import set_attention_impl
        from lib.train.run_training import compile_network
        from lib.train.trainers.optim import build_optimizer, is_fused
        from lib.train.trainers.trainer import Trainer, move_to_device

        self.script, self.config, self.path = script, config, path
        self.device = torch.device(device)
        self.options = path_options(path, self.device, amp)
        cfg = config if not isinstance(config, str) else benchmark_config(script, config, batch_size)
        if batch_size is not None:
            cfg.TRAIN.BATCH_SIZE = int(batch_size)
        self.cfg = cfg
        self.batch_size = int(cfg.TRAIN.BATCH_SIZE)
        self.epoch = int(epoch or max(1, int(cfg.TRAIN.EPOCH) // 2))
        family = get_family(script)
        torch.manual_seed(seed)
        with contextlib.redirect_stdout(io.StringIO()):  # e.g. "teacher randomly initialised"
            net = build_model_from_cfg(script, cfg, training=True).to(self.device)
        set_attention_impl(net, self.options['attention'])
        if self.options['compile']:
            compile_network(net)
        groups = family.param_groups(net, cfg)
        optimizer = build_optimizer(cfg, groups, fused=self.options['fused'])
        self.fused = is_fused(optimizer)
        self.actor = family.build_actor(cfg, net, None)
        self.trainer = Trainer(
            self.actor,
            [],
            optimizer,
            None,
            max_epochs=cfg.TRAIN.EPOCH,
            checkpoint_dir='',
            checkpoint_name='benchmark',
            grad_clip_norm=cfg.TRAIN.GRAD_CLIP_NORM,
            amp=self.options['amp'],
            device=self.device,
            save_resume_state=False,
            show_progress=False,
        )
        self.actor.train(True)
        self.actor.on_epoch_start(self.epoch)
        batch = synthetic_batch(script, cfg, self.batch_size, seed=seed)
        self.batch = dict(move_to_device(batch, self.device), epoch=self.epoch)
        torch.manual_seed(seed + 1)  # the same dropout / drop-path / replacement draws on every path

    def __call__(self):
        with self.trainer.autocast():
            loss, _ = self.actor(self.batch)
        value = float(loss.detach())
        if not math.isfinite(value):  # as the trainer does: never time steps on NaN weights
            raise FloatingPointError(
                f'non-finite training loss {value} in the {self.script}/{self.config} '
                f'benchmark ({self.notes()})'
            )
        self.trainer.step(loss)
        return value

    def synchronize(self):
        if self.device.type == 'cuda':
            torch.cuda.synchronize(self.device)

    def notes(self, seconds_per_step=None):
        o = self.options
        parts = [
            f'device {self.device}',
            f'batch {self.batch_size}',
            f'epoch {self.epoch}',
            f"amp {o['amp'] or 'off (fp32)'}",
            f"attention {o['attention']}",
            f"AdamW {'fused' if self.fused else 'multi-tensor'}",
            f"compile {'on' if o['compile'] else 'off'}",
        ]
        if o['amp'] is None and self.path != 'plain' and self.device.type == 'cpu':
            parts.append('fp32 on CPU: bf16 autocast measured slower there')
        if seconds_per_step is not None:
            parts.append(f'{1000 * seconds_per_step:.1f} ms/step')
        return ', '.join(parts)


def result_name(script, config, path):
    return f'{METRIC}.{script}.{config}.{path}'


def measure_training(
    script, config, device='cpu', path='plain', batch_size=None, steps=10, warmup=3, amp=None
):
    """Samples/s (batch size / median step time) of `steps` timed training steps after `warmup` untimed
    ones (compilation, allocator warm-up) on `path`. Returns [result dict] (ratio_to_plain None;
    measure_training_paths fills it)."""
    if int(steps) < 1 or int(warmup) < 0:
        raise ValueError(f'steps must be >= 1 and warmup >= 0, got steps={steps}, warmup={warmup}')
    step = TrainingStep(script, config, device=device, path=path, batch_size=batch_size, amp=amp)
    for _ in range(int(warmup)):
        step()
    times = []
    for _ in range(int(steps)):
        step.synchronize()
        start = time.perf_counter()
        step()
        step.synchronize()
        times.append(time.perf_counter() - start)
    seconds = float(np.median(times))  # the median resists other processes' bursts on shared machines
    return [
        {
            'name': result_name(script, config, path),
            'value': step.batch_size / seconds,
            'unit': 'samples/s',
            'path': path,
            'ratio_to_plain': None,
            'notes': step.notes(seconds),
        }
    ]


def measure_training_paths(script, config, device='cpu', paths=('plain', 'optimized'), **kwargs):
    """measure_training for each path (plain first, added if missing), with ratio_to_plain filled."""
    paths = ['plain'] + [p for p in paths if p != 'plain']
    results = [
        r for path in paths for r in measure_training(script, config, device=device, path=path, **kwargs)
    ]
    plain = results[0]['value']
    for r in results:
        r['ratio_to_plain'] = r['value'] / plain
    return results
