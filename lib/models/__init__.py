"""Building a family's network from its config, and loading checkpoints into it.

    build_model('ostrack', 'vitb_256_mae_ce_32x4_ep300', checkpoint='.../OSTrack_ep0300.pth.tar')

The family (lib/families.py) says how its network is built and how its checkpoints load; family code is
imported only when a family is asked for, so importing lib.models is cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lib.families import get_family

if TYPE_CHECKING:
    import torch

    from lib.config import CfgNode


def build_model_from_cfg(script: str, cfg: CfgNode, training: bool = True) -> torch.nn.Module:
    """The model of a merged config; with training, pretrained init per the config (MODEL.PRETRAIN_FILE)."""
    family = get_family(script)
    if not family.has_network:
        raise ValueError(f"tracker script '{script}' has no network to build")
    model = family.build_model(cfg, training=training)
    model.cfg = cfg
    return model


def load_state_checked(
    model: torch.nn.Module, state: dict, source: str, strict: bool = True
) -> torch.nn.Module:
    """Loads tensors into `model`; a strict mismatch (and any shape mismatch) raises ValueError naming
    `source` and the first missing / unexpected / mis-shaped keys. Returns `model`."""
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shapes = [
        f'{k} {tuple(state[k].shape)} vs model {tuple(own[k].shape)}'
        for k in own
        if k in state and state[k].shape != own[k].shape
    ]
    if shapes or (strict and (missing or unexpected)):
        parts = [
            f'{len(missing)} missing (e.g. {missing[:4]})' if missing else '',
            f'{len(unexpected)} unexpected (e.g. {unexpected[:4]})' if unexpected else '',
            f'shape mismatches: {shapes[:4]}' if shapes else '',
        ]
        raise ValueError(f"checkpoint {source} does not fit the model: {'; '.join(p for p in parts if p)}")
    model.load_state_dict(state, strict=strict)
    return model


def load_weights(
    model: torch.nn.Module, checkpoint: str, strict: bool = True, family: str | None = None
) -> torch.nn.Module:
    """Loads a checkpoint file (tensor-only; 'net'/'model'/'state_dict' unwrapped; converted .safetensors
    files too) into `model`. A strict mismatch raises ValueError naming the file and the first missing /
    unexpected / mis-shaped keys; so does a converted file's sidecar that names another family than
    `family` (when given) or another key count than the model's (lib/models/conversion.py)."""
    from lib.models.conversion import check_sidecar
    from lib.utils.checkpoint import load_tensors

    check_sidecar(checkpoint, model, family)
    return load_state_checked(model, load_tensors(checkpoint), checkpoint, strict)


def build_model(
    script: str, config_name: str, checkpoint: str | None = None, training: bool = False
) -> torch.nn.Module:
    """Builds experiments/<script>/<config_name>.yaml's model, loads `checkpoint` strictly if given, and
    puts it in eval mode unless training. The merged config is at model.cfg. The family's
    load_checkpoint reads every layout it knows (LoRAT: trainable-only, unmerged, merged)."""
    from lib.config import load_config

    model = build_model_from_cfg(script, load_config(script, config_name), training=training)
    if checkpoint:
        model = get_family(script).load_checkpoint(model, checkpoint)
    return model.train(training)
