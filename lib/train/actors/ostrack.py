"""OSTrack training actor: CE keep-rate schedule, forward, and the loss
2 * GIoU + 5 * L1 (TRAIN.GIOU_WEIGHT, TRAIN.L1_WEIGHT) + 1 * focal on the Gaussian score-map label."""

import torch
import torch.nn.functional as F

from lib.train.actors.base_actor import BaseActor
from lib.train.losses import focal_loss
from lib.utils.box_ops import box_cxcywh_to_xyxy, box_xywh_to_xyxy, giou_loss
from lib.utils.ce import adjust_keep_rate, ce_layers, generate_ce_template_mask
from lib.utils.heatmap import gaussian_heatmap


class NonFiniteOutputError(FloatingPointError):
    pass


SCORE_CLAMP = 1e-4  # the head's sigmoid clamp, (1e-4, 1 - 1e-4)


def score_map_fp32(score_map):
    """The head's score map in float32, clamped again to (1e-4, 1 - 1e-4): under bf16/fp16 autocast the
    head's clamp rounds 1 - 1e-4 to exactly 1.0 (and small values towards 0), and the focal loss's
    log(1 - p) would turn a confident cell into inf/NaN. In float32 this changes nothing."""
    return score_map.float().clamp(SCORE_CLAMP, 1 - SCORE_CLAMP)


def training_keep_rate(cfg, epoch):
    """The CE keep rate of (1-based) `epoch`, one value for every CE layer (None without CE): the
    lineage's per-epoch cosine from 1 to CE_KEEP_RATIO[0] over CE_START_EPOCH .. + CE_WARM_EPOCH."""
    if not ce_layers(cfg):
        return None
    start, warm = cfg.TRAIN.CE_START_EPOCH, cfg.TRAIN.CE_WARM_EPOCH
    return float(
        adjust_keep_rate(
            epoch,
            warmup_epochs=start,
            total_epochs=start + warm,
            iters_per_epoch=1,
            base_keep_rate=cfg.MODEL.BACKBONE.CE_KEEP_RATIO[0],
        )
    )


class OSTrackActor(BaseActor):
    def __init__(self, net, cfg, settings=None, loss_weight=None):
        super().__init__(net, settings=settings, cfg=cfg)
        self.loss_weight = loss_weight or {
            'giou': cfg.TRAIN.GIOU_WEIGHT,
            'l1': cfg.TRAIN.L1_WEIGHT,
            'focal': 1.0,
        }
        self._last_keep_rate = None

    def __call__(self, data):
        out = self.forward_pass(data)
        return self.compute_losses(out, data)

    def forward_pass(self, data):
        if data['template_images'].shape[0] != 1 or data['search_images'].shape[0] != 1:
            raise ValueError(
                f"the OSTrack actor takes one template and one search frame per sample, got "
                f"{data['template_images'].shape[0]} and {data['search_images'].shape[0]} "
                f"(DATA.TEMPLATE.NUMBER / DATA.SEARCH.NUMBER)"
            )
        template, search = data['template_images'][0], data['search_images'][0]
        keep_rate = training_keep_rate(self.cfg, data['epoch'])
        template_mask = None
        if keep_rate is not None:
            template_mask = generate_ce_template_mask(
                self.cfg, template.shape[0], template.device, data['template_anno'][0]
            )
        self._last_keep_rate = keep_rate
        return self.net(
            template=template, search=search, ce_template_mask=template_mask, ce_keep_rate=keep_rate
        )

    def compute_losses(self, pred, data):
        gt_box = data['search_anno'][-1]  # (B, 4) x, y, w, h normalised to the search crop
        map_size = self.cfg.DATA.SEARCH.SIZE // self.cfg.MODEL.BACKBONE.STRIDE
        gt_heatmap = gaussian_heatmap(gt_box, map_size).unsqueeze(1)
        pred_boxes = pred['pred_boxes']
        if not torch.isfinite(pred_boxes).all():
            raise NonFiniteOutputError(
                'network output pred_boxes contains NaN or Inf; stopping training '
                '(lower TRAIN.LR, check the data, or resume from the last checkpoint)'
            )
        num_queries = pred_boxes.shape[1]
        pred_xyxy = box_cxcywh_to_xyxy(pred_boxes).reshape(-1, 4).float()
        gt_xyxy = box_xywh_to_xyxy(gt_box)[:, None, :].repeat(1, num_queries, 1).reshape(-1, 4)
        gt_xyxy = gt_xyxy.clamp(0.0, 1.0).to(pred_xyxy.dtype)
        loss_giou, iou = giou_loss(pred_xyxy, gt_xyxy)
        loss_l1 = F.l1_loss(pred_xyxy, gt_xyxy)
        if 'score_map' in pred:
            loss_location = focal_loss(score_map_fp32(pred['score_map']), gt_heatmap)
        else:
            loss_location = torch.zeros((), device=loss_l1.device)
        w = self.loss_weight
        loss = w['giou'] * loss_giou + w['l1'] * loss_l1 + w['focal'] * loss_location
        stats = {
            'Loss/total': loss.item(),
            'Loss/giou': loss_giou.item(),
            'Loss/l1': loss_l1.item(),
            'Loss/location': loss_location.item(),
            'IoU': iou.detach().mean().item(),
        }
        if self._last_keep_rate is not None:
            stats['CE/keep_rate'] = float(self._last_keep_rate)
        return loss, stats


def param_groups(net, cfg):
    """Two AdamW groups over trainable parameters: names without 'backbone' at TRAIN.LR, names with
    'backbone' at TRAIN.LR * TRAIN.BACKBONE_MULTIPLIER (the lineage's grouping, weight decay on all)."""
    head = [p for n, p in net.named_parameters() if 'backbone' not in n and p.requires_grad]
    backbone = [p for n, p in net.named_parameters() if 'backbone' in n and p.requires_grad]
    return [{'params': head}, {'params': backbone, 'lr': cfg.TRAIN.LR * cfg.TRAIN.BACKBONE_MULTIPLIER}]


def build_actor(cfg, net, settings):
    return OSTrackActor(net, cfg, settings)
