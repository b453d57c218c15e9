"""CompressTracker training model: the student plus a frozen OSTrack teacher.

Replacement training: in training mode every student stage is, independently with probability p,
run as its student block, and otherwise as the teacher's blocks of that stage (frozen, but in the
gradient path, so earlier student stages learn to feed them). When no stage drew the student, one
random stage is forced to; p < 0.5 runs exactly one random student stage. p follows
`replacement_probability` (0.5, a linear ramp, then 1.0). Evaluation mode runs the student alone.

The teacher is deliberately kept outside the module tree: it is not in state_dict() (so training
checkpoints hold exactly the student and load strictly into the test model), not in parameters()
(so the optimizer and gradient clipping see the student only), stays in eval mode and never gets
gradients; `.to()` / `.float()` etc. still move it with the student.
"""

import torch
from timm.layers import drop_path

from lib.models.compresstracker.student import CompressTracker, stage_blocks, teacher_drop_path_rates


def replacement_probability(epoch, max_epochs):
    """The official schedule of the probability that a stage runs its student block, for the 1-based
    `epoch`: 0.5 for the first max_epochs // 10 epochs (+1), then linear up to 1.0, which it reaches
    and keeps for the last max_epochs // 10 epochs (500 epochs: 0.5 up to 51, 0.5625 at 100, 0.75 at
    250, 1.0 from 450)."""
    warm = end = max_epochs // 10
    if warm < epoch - 1 < max_epochs - end:
        return 0.5 + 0.5 * (epoch - warm) / (max_epochs - warm - end)
    if epoch - 1 >= max_epochs - end:
        return 1.0
    return 0.5


def sample_student_stages(num_stages, probability, generator=None):
    """Which stages run their student block this forward (list of bools, at least one True)."""

    def one_random_stage():
        pick = int(torch.randint(num_stages, (1,), generator=generator))
        return [stage == pick for stage in range(num_stages)]

    if probability < 0.5:
        return one_random_stage()
    picks = (torch.rand(num_stages, generator=generator) < probability).tolist()
    return picks if any(picks) else one_random_stage()


def frozen_block_forward(block, x, drop_prob, training):
    """A teacher block standing in for a student stage. The teacher module stays in eval mode, but the
    official stand-in blocks ran in train mode, so their stochastic depth is applied here."""
    x = x + drop_path(block.attn(block.norm1(x)), drop_prob, training)
    return x + drop_path(block.mlp(block.norm2(x)), drop_prob, training)


@torch.no_grad()
def teacher_forward(teacher, template, search, stage_ends):
    """The teacher's boxes (B,1,4) and its token features (B, L_z + L_x, C) after each stage's last
    block, before the final norm."""
    bb = teacher.backbone
    z, x = bb.embed(template, search)
    tokens = bb.pos_drop(torch.cat([z, x], dim=1))
    features = []
    for i, blk in enumerate(bb.blocks):
        tokens = blk(tokens)
        if i in stage_ends:
            features.append(tokens)
    return teacher.forward_head(bb.norm(tokens))['pred_boxes'], features


class CompressTrackerDistill(CompressTracker):
    def __init__(self, backbone, box_head, teacher, replace=True, teacher_outputs=True, drop_path_rate=0.0):
        super().__init__(backbone, box_head)
        teacher.requires_grad_(False).eval()
        object.__setattr__(self, 'teacher', teacher)  # not a submodule, see the module docstring
        depth = len(teacher.backbone.blocks)
        self.stage_blocks = stage_blocks(depth, backbone.num_stages)
        self.teacher_block_drop_path = teacher_drop_path_rates(depth, drop_path_rate)
        self.replace = replace
        self.teacher_outputs = teacher_outputs
        self.replace_probability = 0.5

    def set_replace_probability(self, probability):
        if not 0 < probability <= 1:
            raise ValueError(f'replacement probability must be in (0, 1], got {probability}')
        self.replace_probability = float(probability)

    def train(self, mode=True):
        super().train(mode)
        self.teacher.eval()
        return self

    def _apply(self, fn, *args, **kwargs):
        super()._apply(fn, *args, **kwargs)
        self.teacher._apply(fn, *args, **kwargs)
        return self

    def forward(self, template, search, ce_template_mask=None, ce_keep_rate=None, return_last_attn=False):
        """OSTrack's output dict for the student (on the mixed path in training mode), plus
        'student_stages' (list of bools), 'stage_features' (each stage's output tokens, before the
        final norm) and, when teacher_outputs, 'teacher_pred_boxes' (B,1,4) and
        'teacher_stage_features' (the teacher's tokens at the same stage ends)."""
        num_stages = len(self.stage_blocks)
        if self.training and self.replace:
            stages = sample_student_stages(num_stages, self.replace_probability)
        else:
            stages = [True] * num_stages
        bb = self.backbone
        z, x = bb.embed(template, search)
        tokens = bb.pos_drop(torch.cat([z, x], dim=1))
        features = []
        for stage, use_student in enumerate(stages):
            if use_student:
                tokens = bb.distill_blocks[stage](tokens)
            else:
                for i in self.stage_blocks[stage]:
                    tokens = frozen_block_forward(
                        self.teacher.backbone.blocks[i],
                        tokens,
                        self.teacher_block_drop_path[i],
                        self.training,
                    )
            features.append(tokens)
        feat = bb.norm(tokens)
        out = self.forward_head(feat)
        aux = {'attn': None, 'removed_indexes_s': []}
        out.update(
            backbone_feat=feat,
            aux_dict=aux,
            removed_indexes_s=aux['removed_indexes_s'],
            student_stages=stages,
            stage_features=features,
        )
        if self.teacher_outputs:
            ends = [blocks[-1] for blocks in self.stage_blocks]
            out['teacher_pred_boxes'], out['teacher_stage_features'] = teacher_forward(
                self.teacher, template, search, ends
            )
        return out
