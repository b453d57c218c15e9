"""Building trackers: `build_tracker(script, config_name, ...)` returns a ready-to-run tracker.

What a family's tracker is comes from its Family (lib/families.py): a network family's `tracker` wraps
a built network (the network and its checkpoint are loaded here, the same way for every family); a
tracker without a network (firstbox) has its own `build_tracker`. Family code is imported only when a
family is asked for, so importing lib.test.tracker stays cheap (no model code, no visdom).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from lib.families import UnknownFamilyError, family_names, get_family, network_family_names

if TYPE_CHECKING:
    import torch

    from lib.config import CfgNode
    from lib.families import Family
    from lib.test.tracker.base_tracker import BaseTracker
    from lib.test.tracker.options import InferenceOptions


class UnknownTrackerError(UnknownFamilyError):
    """The tracker script name is not registered, or names no tracker of the kind asked for."""


def _family(script: str) -> Family:
    try:
        return get_family(script)
    except UnknownTrackerError:
        raise
    except UnknownFamilyError as e:
        raise UnknownTrackerError(str(e)) from None


def known_trackers() -> list[str]:
    return family_names()


def tracker_has_network(script: str) -> bool:
    """Whether the tracker wraps a network (and so takes InferenceOptions and batched evaluation)."""
    return _family(script).has_network


def check_tracker(script: str, config_name: str) -> None:
    """Fails early, without building a network, on an unknown tracker or a missing/invalid config."""
    if _family(script).defaults is not None:
        from lib.config import load_config

        load_config(script, config_name)


def default_checkpoint_path(script: str, config_name: str, epoch: int) -> str:
    """<save_dir>/checkpoints/train/<script>/<config>/<NAME>_ep%04d.pth.tar (the lineage's place), with
    the family's checkpoint name."""
    from lib.test.evaluation.environment import env_settings
    from lib.utils.local_settings import REPO_ROOT, LocalSettingsMissing

    try:
        save_dir = env_settings().save_dir
    except LocalSettingsMissing:  # no local.py yet: the default save_dir it would get
        save_dir = os.path.join(REPO_ROOT, 'output')
    file_name = f'{_family(script).checkpoint_name}_ep{epoch:04d}.pth.tar'
    return os.path.join(save_dir, 'checkpoints', 'train', script, config_name, file_name)


def load_network(
    script: str, config_name: str, cfg: CfgNode, checkpoint: str | None = None
) -> torch.nn.Module:
    """The family's network for inference with `checkpoint` (default: the training checkpoint of epoch
    TEST.EPOCH) loaded by the family's load_checkpoint, which rejects a mismatch naming the keys."""
    from lib.models import build_model_from_cfg

    path = checkpoint or default_checkpoint_path(script, config_name, int(cfg.TEST.EPOCH))
    if not os.path.isfile(path):
        how = (
            'pass --checkpoint /path/to/weights.pth.tar to tracking/test.py (Python: '
            f"build_tracker('{script}', '{config_name}', checkpoint=...))"
        )
        if checkpoint:
            raise FileNotFoundError(f'checkpoint not found: {path}; {how}')
        raise FileNotFoundError(
            f'checkpoint not found: {path} (the default for {script}/{config_name}, '
            f'epoch TEST.EPOCH={cfg.TEST.EPOCH}); train it first or {how}'
        )
    network = build_model_from_cfg(script, cfg, training=False)
    return _family(script).load_checkpoint(network, path)


def build_tracker(
    script: str,
    config_name: str,
    checkpoint: str | None = None,
    device: str | torch.device | None = None,
    debug: int = 0,
    options: InferenceOptions | dict | None = None,
) -> BaseTracker:
    """Builds the tracker `script` with experiments/<script>/<config_name>.yaml.

    checkpoint: weights file (default: the tracker's own default path); device: torch device or
    string (default: cuda if available, else cpu); debug > 0 enables visualisation; options:
    lib.test.tracker.options.InferenceOptions (None: the fast defaults; InferenceOptions.plain(): the
    reference path). Trackers without a network (firstbox) ignore options.
    """
    family = _family(script)
    if not family.has_network:
        return family.build_tracker(config_name, checkpoint=checkpoint, device=device, debug=debug)
    from lib.config import load_config

    cfg = load_config(script, config_name)
    network = load_network(script, config_name, cfg, checkpoint)
    return family.tracker(cfg, network, device=device, options=options, debug=debug)


def build_tracker_for_network(
    script: str,
    cfg: CfgNode,
    network: torch.nn.Module,
    device: str | torch.device | None = None,
    options: InferenceOptions | dict | None = None,
    debug: int = 0,
) -> BaseTracker:
    """A tracker of family `script` around an already built network and its merged config (no
    checkpoint: e.g. random weights for benchmarks and tests)."""
    family = _family(script)
    if not family.has_network:
        raise UnknownTrackerError(
            f"tracker '{script}' has no network (known network trackers: {', '.join(network_family_names())})"
        )
    return family.tracker(cfg, network, device=device, options=options, debug=debug)
