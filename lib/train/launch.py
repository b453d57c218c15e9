"""tracking/train.py: the lineage's training command, launching lib/train/run_training.py.

--mode single runs in this process; --mode multiple runs `python -m torch.distributed.run
--nproc_per_node N --master_port <free port> -m lib.train.run_training ...` and --mode multi_node adds
--nnodes/--node_rank/--master_addr. The exit status is the training's (the lineage used os.system and
always exited 0). Relative paths are made absolute because the child runs from the repository root.
"""

import argparse
import os
import socket
import subprocess
import sys

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def build_parser():
    p = argparse.ArgumentParser(description='Train a tracker (OSTrack-lineage command line).')
    p.add_argument('--script', required=True, help='training script name (ostrack, droptrack, ...)')
    p.add_argument(
        '--config',
        default='baseline',
        help='yaml file name in experiments/<script>/ (without .yaml), or a path to a .yaml file',
    )
    p.add_argument('--save_dir', default=None, help='root folder for checkpoints/ and logs/')
    p.add_argument(
        '--mode',
        choices=('single', 'multiple', 'multi_node'),
        default='multiple',
        help='single process, one node with several processes, or several nodes',
    )
    p.add_argument(
        '--nproc_per_node',
        type=int,
        default=None,
        help='processes per node (default: number of GPUs, or 1 without GPU)',
    )
    p.add_argument('--use_lmdb', type=int, choices=(0, 1), default=0)
    p.add_argument('--use_wandb', type=int, choices=(0, 1), default=0)
    p.add_argument('--seed', type=int, default=42)
    p.add_argument('--resume', default='auto', help="'auto', 'none' or a checkpoint path")
    p.add_argument('--amp', choices=('off', 'fp16', 'bf16'), default=None)
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
    p.add_argument('--no_progress', action='store_true')
    p.add_argument('--rank', type=int, default=0, help='node rank (multi_node)')
    p.add_argument(
        '--world-size',
        '--world_size',
        dest='world_size',
        type=int,
        default=1,
        help='number of nodes (multi_node)',
    )
    p.add_argument('--ip', default='127.0.0.1', help='master node address (multi_node)')
    p.add_argument('--port', type=int, default=20000, help='master port (multi_node)')
    return p


def load_run_config(script, config):
    """(cfg, config name): `config` names experiments/<script>/<config>.yaml, or is a yaml file path
    (its file name without .yaml then names the checkpoint and log folders)."""
    from lib.config import load_config

    if config.endswith(('.yaml', '.yml')):
        if not os.path.isfile(config):
            from lib.config import ConfigError

            raise ConfigError(f'config file not found: {config}')
        return load_config(script, yaml_path=config), os.path.splitext(os.path.basename(config))[0]
    return load_config(script, config), config


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def _abs_path_item(item):
    attr, sep, value = item.partition('=')
    return f'{attr}={os.path.abspath(value)}' if sep and value else item


def training_args(args):
    """The arguments for lib/train/run_training.py, with paths made absolute."""
    config = os.path.abspath(args.config) if args.config.endswith(('.yaml', '.yml')) else args.config
    out = [
        '--script',
        args.script,
        '--config',
        config,
        '--seed',
        str(args.seed),
        '--use_lmdb',
        str(args.use_lmdb),
        '--use_wandb',
        str(args.use_wandb),
        '--cudnn_benchmark',
        str(args.cudnn_benchmark),
    ]
    if args.save_dir:
        out += ['--save_dir', os.path.abspath(args.save_dir)]
    if args.resume not in ('auto', 'none'):
        out += ['--resume', os.path.abspath(args.resume)]
    else:
        out += ['--resume', args.resume]
    if args.amp:
        out += ['--amp', args.amp]
    if args.compile is not None:
        out += ['--compile', str(args.compile)]
    for item in args.set_path:
        out += ['--set_path', _abs_path_item(item)]
    if args.no_progress:
        out.append('--no_progress')
    return out


def launcher_command(args):
    nproc = args.nproc_per_node
    if nproc is None:
        import torch

        nproc = max(torch.cuda.device_count(), 1)
    cmd = [sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node', str(nproc)]
    if args.mode == 'multi_node':
        cmd += [
            '--nnodes',
            str(args.world_size),
            '--node_rank',
            str(args.rank),
            '--master_addr',
            args.ip,
            '--master_port',
            str(args.port),
        ]
    else:
        cmd += ['--master_port', str(free_port())]
    return cmd + ['-m', 'lib.train.run_training'] + training_args(args)


def main(argv=None):
    args = build_parser().parse_args(argv)
    from lib.config import ConfigError

    try:  # a wrong config name fails here, before any process (or torch) starts
        load_run_config(args.script, args.config)
    except ConfigError as e:
        print(f'error: {e}', file=sys.stderr)
        return 2
    if args.mode == 'single':
        from lib.train.run_training import cli

        return cli(training_args(args))
    cmd = launcher_command(args)
    print('Launching: ' + ' '.join(cmd), flush=True)
    return subprocess.run(cmd, cwd=REPO_ROOT).returncode
