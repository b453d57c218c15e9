"""Checkpoint layouts of the OSTrack lineage (OSTrack, DropTrack, CompressTracker): detection, the filters
to our keys, and the families' load_checkpoint.

Whole-model layouts (what `lineage_layout` names; files are read tensor-only, so the official trainer's
`.pth.tar` with the state dict under 'net' and pickled settings reads as its 'net'):
- 'ostrack-model': backbone.{cls_token, pos_embed, pos_embed_z, pos_embed_x, patch_embed, blocks.N, norm} and
  box_head.*: official OSTrack_ep*.pth.tar, ours, and converted files;
- 'droptrack-model': the same plus backbone.temporal_pos_embed_x/_z (DropTrack's frame identity
  embeddings);
- 'compresstracker-student': the student (backbone.distill_blocks.N instead of backbone.blocks.N): the
  released CompressTracker weights, ours;
- 'compresstracker-train': the official CompressTracker *training* checkpoint: the student plus the
  teacher (ori_backbone.*, ori_box_head.*) and the teacher's block copy (backbone.blocks.*), which the
  filter drops (the official code has no stripping script; its tracker rejects these files).
Our keys are the official ones, so every filter but the last is the identity. Backbone-init files (MAE,
DropMAE, timm ViT) are lib/models/backbones/pretrained.py's.
"""

from __future__ import annotations

from lib.models.backbones.pretrained import vit_layout
from lib.utils.checkpoint import load_tensors

LINEAGE_LAYOUTS = ('ostrack-model', 'droptrack-model', 'compresstracker-student', 'compresstracker-train')
# Layouts holding a whole OSTrack/DropTrack model: as MODEL.PRETRAIN_FILE they initialise the whole model
# (as the official code does for files named '*OSTrack*').
WHOLE_OSTRACK_LAYOUTS = ('ostrack-model', 'droptrack-model')
_TEACHER_PREFIXES = ('ori_backbone.', 'ori_box_head.', 'backbone.blocks.')


def lineage_layout(tensors: dict) -> str | None:
    """The whole-model layout of `tensors` (module doc), or None."""
    if not any(k.startswith('box_head.') for k in tensors):
        return None
    if any(k.startswith('backbone.distill_blocks.') for k in tensors):
        teacher = any(k.startswith(_TEACHER_PREFIXES) for k in tensors)
        return 'compresstracker-train' if teacher else 'compresstracker-student'
    if not any(k.startswith('backbone.blocks.') for k in tensors):
        return None
    if 'backbone.temporal_pos_embed_x' in tensors or 'backbone.temporal_pos_embed_z' in tensors:
        return 'droptrack-model'
    return 'ostrack-model'


def detect_layout(tensors: dict, source: str = 'state dict') -> str:
    """lineage_layout, or a ValueError naming `source`, what it looks like and what was expected."""
    layout = lineage_layout(tensors)
    if layout is not None:
        return layout
    init = vit_layout(tensors)
    if init is not None:
        raise ValueError(
            f"{source} is a backbone initialisation file (layout '{init}'), not a tracker checkpoint: set it "
            f"as MODEL.PRETRAIN_FILE, or convert it with --pretrained"
        )
    raise ValueError(
        f"{source} matches no OSTrack-lineage checkpoint layout (expected one of "
        f"{', '.join(LINEAGE_LAYOUTS)}: backbone.* and box_head.* keys; first keys {sorted(tensors)[:5]})"
    )


def lineage_checkpoint_filter(tensors: dict, layout: str | None = None) -> dict:
    """Whole-model tensors -> our keys (pure): the CompressTracker training checkpoint loses its teacher;
    every other layout already has our keys. `layout`: lineage_layout's answer if already known."""
    layout = lineage_layout(tensors) if layout is None else layout
    if layout == 'compresstracker-train':
        return {k: v for k, v in tensors.items() if not k.startswith(_TEACHER_PREFIXES)}
    return dict(tensors)


def load_checkpoint(model, checkpoint: str, family: str | None = None):
    """A lineage checkpoint file in any whole-model layout into `model`, strictly (ValueError naming the
    file and the first missing / unexpected / mis-shaped keys). A converted file's sidecar must name
    `family` and the model's key count. Returns `model`."""
    from lib.models import load_state_checked
    from lib.models.conversion import check_sidecar

    check_sidecar(checkpoint, model, family)
    tensors = load_tensors(checkpoint)
    return load_state_checked(model, lineage_checkpoint_filter(tensors), checkpoint)


def pretrained_weights(cfg, path: str) -> tuple[dict, str]:
    """A backbone-init file (MAE, DropMAE, timm ViT) for the backbone of `cfg` in our keys, and its
    layout: what tracking/convert_checkpoint.py --pretrained writes (module doc of
    lib/models/backbones/pretrained.py on why the result initialises exactly as the source)."""
    from lib.models.backbones.pretrained import pretrained_vit_state
    from lib.models.ostrack.ostrack import build_backbone

    tensors = load_tensors(path)
    layout = vit_layout(tensors)
    if layout is None:
        whole = lineage_layout(tensors)
        if whole is not None:
            raise ValueError(
                f"{path} is a whole-model checkpoint (layout '{whole}'), not a backbone initialisation "
                f"file: convert it without --pretrained (the result also works as MODEL.PRETRAIN_FILE)"
            )
        raise ValueError(
            f"{path} matches no backbone initialisation layout (expected MAE, DropMAE or timm ViT "
            f"weights: blocks.N.attn.qkv.weight ...; first keys {sorted(tensors)[:5]})"
        )
    own = build_backbone(cfg).state_dict()
    return pretrained_vit_state(tensors, own, path), layout
