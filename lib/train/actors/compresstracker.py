"""CompressTracker training actor: OSTrack's task loss plus the two distillation terms.

    loss = task + DISTILL_WEIGHT * (logit + feat)
    task  = GIOU_WEIGHT * GIoU(student, GT) + L1_WEIGHT * L1(student, GT) + focal       (OSTrack's)
    logit = DISTILL_LOGIT_WEIGHT * (GIOU_WEIGHT * GIoU(student, teacher) + L1_WEIGHT * L1(student, teacher))
    feat  = DISTILL_FEAT_WEIGHT * mean over stages of (MSE(search tokens) + MSE(template tokens)) / 2

(official weights: 2, 5, 1; dst 1.0, dst_logit 1.0, dst_feat 0.2). The logit term needs
TRAIN.SUP_LOGIT, the feature term TRAIN.SUP_FEAT. Stage outputs are compared with the teacher's at
the same stage ends, before the final norm, also for stages that ran the teacher's blocks. The
replacement probability follows the official per-epoch schedule. Only the student is optimised:
one AdamW group at TRAIN.LR * TRAIN.BACKBONE_MULTIPLIER, as the official optimizer.
"""

import torch
import torch.nn.functional as F

from lib.models.compresstracker.distill import replacement_probability
from lib.train.actors.ostrack import NonFiniteOutputError, OSTrackActor
from lib.utils.box_ops import box_cxcywh_to_xyxy, giou_loss


def box_distill_loss(pred_boxes, teacher_boxes):
    """(GIoU loss, L1 loss) of (B,N,4) cx,cy,w,h student boxes against the teacher's boxes."""
    pred = box_cxcywh_to_xyxy(pred_boxes).reshape(-1, 4).float()
    target = box_cxcywh_to_xyxy(teacher_boxes).reshape(-1, 4).float().detach()
    loss_giou, _ = giou_loss(pred, target)
    return loss_giou, F.l1_loss(pred, target)


def feature_distill_loss(student_features, teacher_features, search_len):
    """Mean over stages of (MSE on the last `search_len` tokens + MSE on the template tokens) / 2."""
    if len(student_features) != len(teacher_features) or not student_features:
        raise ValueError(
            f'feature mimicking needs one teacher feature per stage, got '
            f'{len(student_features)} student and {len(teacher_features)} teacher features'
        )
    total = 0.0
    for student, teacher in zip(student_features, teacher_features):
        teacher = teacher.detach()
        search = F.mse_loss(student[:, -search_len:], teacher[:, -search_len:])
        template = F.mse_loss(student[:, :-search_len], teacher[:, :-search_len])
        total = total + (search + template) / 2
    return total / len(student_features)


class CompressTrackerActor(OSTrackActor):
    def __init__(self, net, cfg, settings=None):
        t = cfg.TRAIN
        super().__init__(
            net,
            cfg,
            settings,
            loss_weight={
                'giou': t.GIOU_WEIGHT,
                'l1': t.L1_WEIGHT,
                'focal': 1.0,
                'dst': t.DISTILL_WEIGHT,
                'dst_logit': t.DISTILL_LOGIT_WEIGHT,
                'dst_feat': t.DISTILL_FEAT_WEIGHT,
            },
        )
        self.sup_logit, self.sup_feat = bool(t.SUP_LOGIT), bool(t.SUP_FEAT)
        self.replace_probability = 0.5

    def on_epoch_start(self, epoch):
        self.replace_probability = replacement_probability(epoch, self.cfg.TRAIN.EPOCH)
        self.unwrapped_net.set_replace_probability(self.replace_probability)

    def compute_losses(self, pred, data):
        loss, stats = super().compute_losses(pred, data)
        w = self.loss_weight
        distill = torch.zeros((), device=loss.device)
        if self.sup_logit:
            if not torch.isfinite(pred['teacher_pred_boxes']).all():
                raise NonFiniteOutputError(
                    'teacher pred_boxes contain NaN or Inf (check MODEL.PRETRAIN_FILE)'
                )
            loss_giou, loss_l1 = box_distill_loss(pred['pred_boxes'], pred['teacher_pred_boxes'])
            logit = w['dst_logit'] * (w['giou'] * loss_giou + w['l1'] * loss_l1)
            distill = distill + logit
            stats['Loss/dst_logit'] = logit.item()
        if self.sup_feat:
            search_len = (self.cfg.DATA.SEARCH.SIZE // self.cfg.MODEL.BACKBONE.STRIDE) ** 2
            feat = w['dst_feat'] * feature_distill_loss(
                pred['stage_features'], pred['teacher_stage_features'], search_len
            )
            distill = distill + feat
            stats['Loss/dst_feat_all'] = feat.item()
        loss = loss + w['dst'] * distill
        stats['Loss/total'] = loss.item()
        stats['Bernoulli'] = self.replace_probability
        return loss, stats


def param_groups(net, cfg):
    """One group: every trainable student parameter at TRAIN.LR * TRAIN.BACKBONE_MULTIPLIER (the
    teacher is not among the network's parameters)."""
    return [
        {
            'params': [p for p in net.parameters() if p.requires_grad],
            'lr': cfg.TRAIN.LR * cfg.TRAIN.BACKBONE_MULTIPLIER,
        }
    ]


def build_actor(cfg, net, settings):
    return CompressTrackerActor(net, cfg, settings)
