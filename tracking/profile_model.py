"""Parameters, MACs (thop, as the papers), exact FLOPs, and batch-1 latency/FPS (fp32 and half) of a config.

python tracking/profile_model.py --script ostrack --config vitb_256_mae_ce_32x4_ep300 [--device cuda]
"""

import argparse
import sys

import _init_paths  # noqa: F401

from lib.families import DEFAULT_FAMILY, network_family_names


def parse_args():
    parser = argparse.ArgumentParser(description='Profile a tracker model (random weights).')
    parser.add_argument(
        '--script',
        default=DEFAULT_FAMILY,
        help=f'tracker family (default {DEFAULT_FAMILY}; one of {", ".join(network_family_names())})',
    )
    parser.add_argument(
        '--config', default='vitb_256_mae_ce_32x4_ep300', help='experiments/<script>/<config>.yaml'
    )
    parser.add_argument('--device', default=None, help='cpu or cuda (default: cuda when available)')
    parser.add_argument('--iters', type=int, default=100, help='timed forwards per precision')
    parser.add_argument(
        '--warmup', type=int, default=None, help='warm-up forwards (default: iters // 5, at least 5)'
    )
    parser.add_argument('--no_timing', action='store_true', help='only parameters, MACs and FLOPs')
    return parser.parse_args()


def main():
    args = parse_args()
    import torch

    from lib.config import ConfigError
    from lib.utils.profiling import format_report, profile_config

    device = args.device or ('cuda' if torch.cuda.is_available() else 'cpu')
    if torch.device(device).type == 'cuda' and not torch.cuda.is_available():
        sys.exit('error: --device cuda requested but CUDA is not available')
    warmup = args.warmup if args.warmup is not None else max(5, args.iters // 5)
    try:
        report = profile_config(
            args.script,
            args.config,
            device=device,
            iters=args.iters,
            warmup=warmup,
            timing=not args.no_timing,
        )
    except (ConfigError, ValueError) as e:
        sys.exit(f'error: {e}')
    print(format_report(args.script, args.config, report))


if __name__ == '__main__':
    main()
