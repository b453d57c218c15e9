"""One training process: `python -m lib.train.run_training --script ostrack --config <yaml name> ...`
(tracking/train.py starts it, in-process for --mode single, under torchrun otherwise).

Distributed runs take rank, world size and LOCAL_RANK from torchrun's environment variables (nccl on
CUDA, gloo on CPU); each process seeds python/numpy/torch with seed + rank.
"""

import argparse
import os
import random
import sys

import numpy as np
import torch

from lib.train.launch import load_run_config


def build_parser():
    p = argparse.ArgumentParser(description='Run one training process (use tracking/train.py to launch).')
    p.add_argument(
        '--script', required=True, help='tracker family: lib/config/<script>, experiments/<script>/'
    )
    p.add_argument(
        '--config',
        required=True,
        help='yaml name in experiments/<script>/ (without .yaml), or a path to a .yaml file',
    )
    p.add_argument(
        '--save_dir',
        default=None,
        help='root of checkpoints/ and logs/ (default: workspace_dir of lib/train/admin/local.py)',
    )
    p.add_argument('--seed', type=int, default=42, help='base seed; rank r uses seed + r')
    p.add_argument('--use_lmdb', type=int, choices=(0, 1), default=0)
    p.add_argument('--use_wandb', type=int, choices=(0, 1), default=0)
    p.add_argument(
        '--resume',
        default='auto',
        help="'auto' (latest state in the checkpoint folder, if any), 'none', or a checkpoint path",
    )
    p.add_argument(
        '--amp',
        choices=('off', 'fp16', 'bf16'),
        default=None,
        help='mixed precision (default: fp16 if TRAIN.AMP is true, else off)',
    )
    p.add_argument('--cudnn_benchmark', type=int, choices=(0, 1), default=0)
    p.add_argument(
        '--compile',
        type=int,
        choices=(0, 1),
        default=None,
        help='torch.compile the network for training (default: TRAIN.COMPILE, else off)',
    )
    p.add_argument(
        '--set_path',
        action='append',
        default=[],
        metavar='ATTR=PATH',
        help='override a path of lib/train/admin/local.py for this run (repeatable); ATTR.KEY=PATH sets '
        'one entry of a dict attribute, e.g. custom_datasets.drones=/data/drones',
    )
    p.add_argument('--no_progress', action='store_true', help='no tqdm progress bar')
    p.add_argument('--local_rank', '--local-rank', type=int, default=None, help=argparse.SUPPRESS)
    return p


def setup_distributed():
    """(rank, world_size, local_rank, device) from torchrun's environment; initialises the group."""
    world_size = int(os.environ.get('WORLD_SIZE', '1'))
    rank = int(os.environ.get('RANK', '0'))
    local_rank = int(os.environ.get('LOCAL_RANK', '0'))
    if torch.cuda.is_available():
        device = torch.device('cuda', local_rank)
        torch.cuda.set_device(device)
    else:
        device = torch.device('cpu')
    if world_size > 1:
        import torch.distributed as dist

        dist.init_process_group(backend='nccl' if device.type == 'cuda' else 'gloo')
    return rank, world_size, local_rank, device


def seed_everything(seed):
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def make_settings(args, rank, world_size, device):
    from lib.train.admin.environment import env_settings
    from lib.utils.local_settings import apply_set_path

    settings = env_settings()
    apply_set_path(settings, args.set_path)
    settings.project_path = f'train/{args.script}/{args.config}'
    settings.save_dir = os.path.abspath(args.save_dir or settings.workspace_dir)
    settings.use_lmdb, settings.use_wandb = bool(args.use_lmdb), bool(args.use_wandb)
    settings.rank, settings.world_size = rank, world_size
    settings.device, settings.seed = device, args.seed
    return settings


def amp_mode(args, cfg):
    if args.amp is not None:
        return None if args.amp == 'off' else args.amp
    if not cfg.TRAIN.AMP:
        return None
    from lib.config import AMP_DTYPES, ConfigError

    if cfg.TRAIN.AMP_DTYPE not in AMP_DTYPES:
        raise ConfigError(
            f"TRAIN.AMP_DTYPE '{cfg.TRAIN.AMP_DTYPE}' is not one of {', '.join(AMP_DTYPES)} "
            f"({args.script}/{args.config})"
        )
    return AMP_DTYPES[cfg.TRAIN.AMP_DTYPE]


def build_trainer(args, cfg, settings, device, rank, world_size):
    from lib.families import get_family
    from lib.models import build_model_from_cfg
    from lib.train.data.pipeline import build_dataloaders
    from lib.train.trainers import checkpoint as ckpt
    from lib.train.trainers.monitor import TrainLogger
    from lib.train.trainers.optim import (
        PER_ITERATION_SCHEDULERS,
        build_optimizer,
        build_scheduler,
        global_batch_plan,
    )
    from lib.train.trainers.trainer import Trainer

    family = get_family(args.script)
    if family.build_actor is None:
        raise ValueError(
            f"tracker script '{args.script}' has no training actor (its Family declares no build_actor)"
        )
    loaders = build_dataloaders(cfg, settings, make_processing=family.build_processing)
    net = build_model_from_cfg(args.script, cfg, training=True).to(device)
    if cfg.TRAIN.GRAD_CHECKPOINT:
        from lib.models.layers.grad_checkpoint import enable_grad_checkpointing

        enable_grad_checkpointing(net)
    if compile_requested(args, cfg):
        compile_network(net)
    accum_steps, lr_scale = global_batch_plan(cfg, world_size)
    optimizer = build_optimizer(cfg, family.param_groups(net, cfg), lr_scale=lr_scale)
    per_iteration = cfg.TRAIN.SCHEDULER.TYPE in PER_ITERATION_SCHEDULERS
    scheduler = build_scheduler(optimizer, cfg, steps_per_epoch=-(-len(loaders[0]) // accum_steps))
    if world_size > 1:
        from torch.nn.parallel import DistributedDataParallel

        net = DistributedDataParallel(
            net, device_ids=[device.index] if device.type == 'cuda' else None, find_unused_parameters=True
        )
    actor = family.build_actor(cfg, net, settings)
    name = family.checkpoint_name or type(getattr(net, 'module', net)).__name__
    logger = TrainLogger(
        log_file=os.path.join(settings.save_dir, 'logs', f'{args.script}-{args.config}.log'),
        tensorboard_dir=os.path.join(settings.tensorboard_dir, settings.project_path),
        use_wandb=settings.use_wandb,
        wandb_name=f'{args.script}/{args.config}',
        cfg_dict=cfg.to_dict(),
        is_main=rank == 0,
    )
    return Trainer(
        actor,
        loaders,
        optimizer,
        scheduler,
        max_epochs=cfg.TRAIN.EPOCH,
        checkpoint_dir=ckpt.checkpoint_dir(settings.save_dir, args.script, args.config),
        checkpoint_name=name,
        checkpoint_due=family.checkpoint_schedule(cfg),
        grad_clip_norm=cfg.TRAIN.GRAD_CLIP_NORM,
        amp=amp_mode(args, cfg),
        device=device,
        print_interval=cfg.TRAIN.PRINT_INTERVAL,
        logger=logger,
        cfg_dict=cfg.to_dict(),
        info={'script': args.script, 'config': args.config, 'world_size': world_size},
        rank=rank,
        show_progress=not args.no_progress,
        grad_accum_steps=accum_steps,
        lr_step_per_iteration=per_iteration,
    )


def optimizer_kind(optimizer):
    from lib.train.trainers.optim import is_fused

    return 'fused' if is_fused(optimizer) else 'multi-tensor'


def compile_requested(args, cfg):
    return bool(args.compile) if args.compile is not None else bool(cfg.TRAIN.COMPILE)


class CompileError(RuntimeError):
    pass


def compile_network(net):
    """torch.compile the network's forward in place (state_dict keys unchanged). Compilation happens
    on the first batch; a backend failure there is re-raised as CompileError by the caller."""
    if not hasattr(net, 'compile'):
        raise CompileError(
            f'--compile needs torch >= 2.2 (nn.Module.compile); this is torch {torch.__version__}'
        )
    net.compile()


def main(argv=None):
    """Trains; returns 0. Errors raise (the CLI turns them into a non-zero exit)."""
    args = build_parser().parse_args(argv)
    cfg, args.config = load_run_config(args.script, args.config)
    rank, world_size, _, device = setup_distributed()
    try:
        seed_everything(args.seed + rank)
        torch.backends.cudnn.benchmark = bool(args.cudnn_benchmark)
        settings = make_settings(args, rank, world_size, device)
        trainer = build_trainer(args, cfg, settings, device, rank, world_size)
        if rank == 0:
            trainer.logger.line(
                f'Training {args.script}/{args.config} on {world_size} process(es), device '
                f'{device}, amp {trainer.amp or "off"}, '
                f'{optimizer_kind(trainer.optimizer)} AdamW, gradient checkpointing '
                f'{"on" if cfg.TRAIN.GRAD_CHECKPOINT else "off"}; '
                f'checkpoints in {trainer.checkpoint_dir}'
            )
        resume = {'auto': 'auto', 'none': None}.get(args.resume, args.resume)
        try:
            trainer.train(resume=resume)
        except Exception as e:
            if compile_requested(args, cfg) and _is_compile_failure(e):
                raise CompileError(
                    f'torch.compile failed on {device} ({type(e).__name__}: {str(e)[:300]}); '
                    f'train without --compile (or TRAIN.COMPILE False)'
                ) from e
            raise
    finally:
        if world_size > 1:
            import torch.distributed as dist

            if dist.is_initialized():
                dist.destroy_process_group()
    return 0


def _is_compile_failure(exc):
    try:
        from torch._dynamo.exc import BackendCompilerFailed, TorchDynamoException
    except ImportError:
        return False
    return isinstance(exc, (BackendCompilerFailed, TorchDynamoException))


def user_errors():
    """Exception types that are the user's to fix: reported as one line, without a traceback."""
    from lib.config import ConfigError
    from lib.train.trainers.optim import FusedOptimizerUnsupported
    from lib.utils.local_settings import DatasetPathError, LocalSettingsMissing

    return (ConfigError, DatasetPathError, LocalSettingsMissing, CompileError, FusedOptimizerUnsupported)


def cli(argv=None):
    try:
        return main(argv)
    except user_errors() as e:
        print(f'error: {e}', file=sys.stderr)
        return 2


if __name__ == '__main__':
    sys.exit(cli())
