"""The CompressTracker student: OSTrack's one-stream ViT with one block per stage.

The teacher's `depth` blocks are split into `num_stages` consecutive stages of depth // num_stages
blocks; the student replaces each stage by a single block (`backbone.distill_blocks.<stage>`),
initialised from the last teacher block of that stage. Everything else (patch embedding, position
embeddings, final norm, center head) has the teacher's layout, so the parameter names equal those of
the official CompressTrackerTest and the released weights load strictly.
"""

import torch.nn as nn
from timm.layers import DropPath

from lib.models.backbones.vit_ce import VisionTransformerCE, parse_backbone_type
from lib.models.layers.head import CenterPredictor
from lib.models.ostrack.ostrack import OSTrack

TYPE_SUFFIX = '_compress'


def teacher_backbone_type(type_name):
    """'vit_base_patch16_224_compress' -> 'vit_base_patch16_224' (the teacher's ViT; a name without the
    suffix is taken as is). Candidate elimination is not part of CompressTracker."""
    stem = type_name[: -len(TYPE_SUFFIX)] if type_name.endswith(TYPE_SUFFIX) else type_name
    _, ce = parse_backbone_type(stem)
    if ce:
        raise ValueError(
            f"MODEL.BACKBONE.TYPE '{type_name}': CompressTracker runs without candidate "
            f"elimination; use the ViT name without '_ce' (e.g. vit_base_patch16_224_compress)"
        )
    return stem


def vit_dims(cfg):
    """(embed_dim, teacher depth, num_heads) of a CompressTracker config."""
    bb = cfg.MODEL.BACKBONE
    (embed_dim, depth, num_heads), _ = parse_backbone_type(teacher_backbone_type(bb.TYPE))
    embed_dim, depth, num_heads = bb.EMBED_DIM or embed_dim, bb.DEPTH or depth, bb.NUM_HEADS or num_heads
    if not (embed_dim and depth and num_heads):
        raise ValueError(
            f"MODEL.BACKBONE.TYPE '{bb.TYPE}' needs MODEL.BACKBONE.EMBED_DIM, DEPTH and NUM_HEADS"
        )
    return embed_dim, depth, num_heads


def stage_last_blocks(depth, num_stages):
    """Teacher block index that ends each stage (and initialises its student block):
    12 blocks, 4 stages -> [2, 5, 8, 11]."""
    if num_stages < 1 or depth % num_stages:
        raise ValueError(
            f"MODEL.BACKBONE.DISTILL_LAYER {num_stages} must be a positive divisor of the "
            f"teacher depth {depth} (e.g. 2, 3, 4 or 6 for ViT-B)"
        )
    ratio = depth // num_stages
    return [(stage + 1) * ratio - 1 for stage in range(num_stages)]


def stage_blocks(depth, num_stages):
    """Teacher block indices of each stage: 12 blocks, 4 stages -> [[0, 1, 2], [3, 4, 5], ...]."""
    ratio = depth // num_stages
    return [list(range(last - ratio + 1, last + 1)) for last in stage_last_blocks(depth, num_stages)]


def teacher_drop_path_rates(depth, drop_path_rate):
    """Stochastic-depth rate of each teacher block (linear from 0), the timm/OSTrack rule."""
    if depth == 1:
        return [0.0]
    return [drop_path_rate * i / (depth - 1) for i in range(depth)]


class StudentViT(VisionTransformerCE):
    """The one-stream ViT with `num_stages` blocks, registered as `distill_blocks` (the official name).
    Student block i uses the teacher's stochastic-depth rate of block i * depth // num_stages."""

    def __init__(self, num_stages, teacher_depth, drop_path_rate=0.0, **vit_kwargs):
        super().__init__(depth=num_stages, drop_path_rate=0.0, ce_loc=None, ce_keep_ratio=None, **vit_kwargs)
        self.distill_blocks = self._modules.pop('blocks')
        self.num_stages = num_stages
        self.teacher_depth = teacher_depth
        stage_last_blocks(teacher_depth, num_stages)  # validates the split
        rates = teacher_drop_path_rates(teacher_depth, drop_path_rate)
        ratio = teacher_depth // num_stages
        for stage, blk in enumerate(self.distill_blocks):
            rate = rates[stage * ratio]
            blk.drop_path = DropPath(rate) if rate > 0 else nn.Identity()

    @property
    def blocks(self):
        # The inherited forward runs self.blocks; here they are the student blocks.
        modules = self.__dict__['_modules']
        return modules['distill_blocks'] if 'distill_blocks' in modules else modules['blocks']


class CompressTracker(OSTrack):
    """The student network, used for tracking, profiling and as the saved model:
    forward(template, search) -> OSTrack's output dict (student blocks only, no CE)."""


def build_student(cfg):
    embed_dim, depth, num_heads = vit_dims(cfg)
    bb = cfg.MODEL.BACKBONE
    backbone = StudentViT(
        num_stages=bb.DISTILL_LAYER,
        teacher_depth=depth,
        drop_path_rate=cfg.TRAIN.DROP_PATH_RATE,
        template_size=cfg.DATA.TEMPLATE.SIZE,
        search_size=cfg.DATA.SEARCH.SIZE,
        patch_size=bb.STRIDE,
        embed_dim=embed_dim,
        num_heads=num_heads,
    )
    head = CenterPredictor(
        inplanes=embed_dim,
        channel=cfg.MODEL.HEAD.NUM_CHANNELS,
        feat_sz=cfg.DATA.SEARCH.SIZE // bb.STRIDE,
        stride=bb.STRIDE,
    )
    return CompressTracker(backbone, head)
