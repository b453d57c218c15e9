"""LoRAT training: data (SiamFC crops, lib/train/data/lorat_processing.py), optimiser groups, loss,
checkpoint schedule and release weights, as the official recipe (lorat.md section 4).

Loss (official box_with_score_map criterion):
    cls = sum over all cells of BCEWithLogits(score, target) / num_pos
    reg = sum over positive cells of (1 - GIoU(box, gt)) / num_pos
    loss = TRAIN.BCE_WEIGHT * cls + TRAIN.GIOU_WEIGHT * reg          (official 1 and 1)
target = the (detached) IoU of the cell's predicted box with the ground truth at positive cells
(TRAIN.IOU_AWARE_CLASSIFICATION_SCORE; 1 otherwise), 0 elsewhere. Positives are the response-map
cells the ground-truth box covers. num_pos is averaged over processes and clamped at >= 1.
"""

import os
import re

import torch
import torch.distributed as dist
import torch.nn.functional as F

from lib.train.actors.base_actor import BaseActor
from lib.utils.box_ops import generalized_box_iou_xyxy


def mean_over_processes(value):
    """The mean of a scalar tensor over the distributed processes (itself without a process group)."""
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        value = value.clone()
        dist.all_reduce(value)
        value = value / dist.get_world_size()
    return value


def lorat_loss(score_map, boxes, gt_boxes, positive, iou_aware=True, bce_weight=1.0, giou_weight=1.0):
    """score_map (B, H, W) logits, boxes (B, H, W, 4) and gt_boxes (B, 4) normalised x1y1x2y2,
    positive (B, H, W) bool. Returns (total, stats dict of floats)."""
    score_map, boxes, gt_boxes = score_map.float(), boxes.float(), gt_boxes.float()
    positive = positive.bool()
    num_pos = mean_over_processes(positive.sum().float()).clamp(min=1.0)
    batch_idx, row_idx, col_idx = positive.nonzero(as_tuple=True)
    pred_pos = boxes[batch_idx, row_idx, col_idx]
    gt_pos = gt_boxes[batch_idx]
    giou, iou = generalized_box_iou_xyxy(pred_pos, gt_pos)
    target = torch.zeros_like(score_map)
    target[batch_idx, row_idx, col_idx] = iou.detach() if iou_aware else 1.0
    cls = F.binary_cross_entropy_with_logits(score_map, target, reduction='sum') / num_pos
    if len(batch_idx):
        reg = (1.0 - giou).sum() / num_pos
    else:  # keeps the graph connected (DDP) with a zero gradient
        reg = boxes.sum() * 0.0
    total = bce_weight * cls + giou_weight * reg
    stats = {
        'Loss/total': total.item(),
        'Loss/bce': cls.item(),
        'Loss/giou': reg.item(),
        'IoU': iou.detach().mean().item() if len(batch_idx) else 0.0,
    }
    return total, stats


class LoRATActor(BaseActor):
    def __init__(self, net, cfg, settings=None):
        super().__init__(net, settings=settings, cfg=cfg)
        t = cfg.TRAIN
        self.bce_weight, self.giou_weight = float(t.BCE_WEIGHT), float(t.GIOU_WEIGHT)
        self.iou_aware = bool(t.IOU_AWARE_CLASSIFICATION_SCORE)

    def __call__(self, data):
        out = self.forward_pass(data)
        return lorat_loss(
            out['score_map'],
            out['boxes'],
            data['search_box'][0],
            data['search_positive'][0],
            self.iou_aware,
            self.bce_weight,
            self.giou_weight,
        )

    def forward_pass(self, data):
        return self.net(data['template_images'][0], data['search_images'][0], data['template_feat_mask'][0])

    def on_checkpoint_saved(self, path, epoch):
        """Beside <NAME>_epXXXX.pth.tar: <NAME>_epXXXX.safetensors with the official checkpoint content
        (the trainable tensors; they load on top of MODEL.PRETRAIN_FILE's DINOv2)."""
        from lib.models.lorat import save_weights
        from lib.models.lorat.builder import has_lora

        net = self.unwrapped_net
        if has_lora(net):
            save_weights(net, release_weights_path(path), layout='trainable')


def release_weights_path(checkpoint_path):
    stem = (
        checkpoint_path[: -len('.pth.tar')]
        if checkpoint_path.endswith('.pth.tar')
        else os.path.splitext(checkpoint_path)[0]
    )
    return stem + '.safetensors'


def param_groups(net, cfg):
    """The trainable parameters (LoRA A/B, token type embedding, head) in two AdamW groups: weight
    decay TRAIN.WEIGHT_DECAY, and 0 for 1-D tensors and names matching TRAIN.NO_WEIGHT_DECAY_PATTERNS
    (official: 'embed', i.e. token_type_embed). One learning rate for all."""
    patterns = [re.compile(p) for p in cfg.TRAIN.NO_WEIGHT_DECAY_PATTERNS]
    decay, no_decay = [], []
    for name, p in net.named_parameters():
        if not p.requires_grad:
            continue
        if p.ndim <= 1 or any(pat.search(name) for pat in patterns):
            no_decay.append(p)
        else:
            decay.append(p)
    return [
        {'params': decay, 'weight_decay': cfg.TRAIN.WEIGHT_DECAY},
        {'params': no_decay, 'weight_decay': 0.0},
    ]


def checkpoint_schedule(cfg):
    """The official schedule: every TRAIN.SAVE_EPOCH_INTERVAL epochs (10) and the last epoch."""
    interval = max(int(cfg.TRAIN.SAVE_EPOCH_INTERVAL), 1)
    return lambda epoch, max_epochs: epoch % interval == 0 or epoch >= max_epochs


def build_processing(cfg, training=True, fast=True):
    """LoRAT's processing. Validation pairs get the training transform (jitter and augmentation
    included), as the official val task does."""
    from lib.train.data.lorat_processing import LoRATProcessing

    return LoRATProcessing.from_cfg(cfg, training=True, fast=fast)


def synthetic_batch(cfg, batch, generator):
    """LoRAT actor input with the labels its processing derives from the boxes (template token types,
    x1y1x2y2 search box, positive response-map cells); the training benchmark's batch."""
    import numpy as np

    from lib.benchmark.training import lineage_batch
    from lib.models.lorat import template_foreground_mask
    from lib.train.data.lorat_processing import positive_cells

    data = lineage_batch(cfg, batch, generator)
    z, x, stride = cfg.DATA.TEMPLATE.SIZE, cfg.DATA.SEARCH.SIZE, cfg.MODEL.BACKBONE.STRIDE
    z_box, x_box = data['template_anno'][0].clone(), data['search_anno'][0].clone()
    z_box[:, 2:] += z_box[:, :2]
    x_box[:, 2:] += x_box[:, :2]
    grid = (x // stride,) * 2
    positive = [positive_cells(np.asarray(b * x, dtype=np.float64), grid, (x, x)) for b in x_box]
    data.update(
        template_feat_mask=template_foreground_mask(z_box * z, (z, z), (z // stride,) * 2)[None],
        search_box=x_box[None],
        search_positive=torch.stack(positive)[None],
    )
    return data


def build_actor(cfg, net, settings):
    return LoRATActor(net, cfg, settings)
