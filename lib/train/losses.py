"""Training losses shared by the tracker families. Box losses (GIoU, IoU) live in lib/utils/box_ops.py."""

import torch


def focal_loss(prediction, target, alpha=2, beta=4):
    """CenterNet's penalty-reduced focal loss on a sigmoid score map.

    Positives are the cells where target == 1 exactly (the Gaussian peaks); negatives are weighted
    by (1 - target)^beta. The sum is divided by the number of positives (the lineage returns the
    negative term alone when a batch has no positive cell)."""
    positive = target.eq(1).to(prediction.dtype)
    negative = target.lt(1).to(prediction.dtype)
    prediction = prediction.clamp(min=1e-12)
    pos_term = torch.log(prediction) * (1 - prediction) ** alpha * positive
    neg_term = torch.log(1 - prediction) * prediction**alpha * (1 - target) ** beta * negative
    num_positive = positive.sum()
    if num_positive == 0:
        return -neg_term.sum()
    return -(pos_term.sum() + neg_term.sum()) / num_positive
