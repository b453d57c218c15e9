"""Optimiser and LR schedule from a lineage config (TRAIN.OPTIMIZER, TRAIN.LR, TRAIN.WEIGHT_DECAY,
TRAIN.SCHEDULER.*, TRAIN.LR_DROP_EPOCH). Parameter groups come from the family's actor module."""
import torch


def default_param_groups(net, cfg):
    return [{'params': [p for p in net.parameters() if p.requires_grad]}]


def build_optimizer(cfg, groups):
    name = str(cfg.TRAIN.OPTIMIZER).upper()
    groups = [g for g in groups if len(g['params'])]
    if not groups:
        raise ValueError('no trainable parameters: every parameter group is empty')
    if name == 'ADAMW':
        return torch.optim.AdamW(groups, lr=cfg.TRAIN.LR, weight_decay=cfg.TRAIN.WEIGHT_DECAY)
    raise ValueError(f"TRAIN.OPTIMIZER '{cfg.TRAIN.OPTIMIZER}' is not supported (supported: ADAMW)")


def build_scheduler(optimizer, cfg):
    """'step': StepLR(LR_DROP_EPOCH, gamma=SCHEDULER.DECAY_RATE (0.1, the value the lineage's StepLR
    used by default)); 'Mstep': MultiStepLR(SCHEDULER.MILESTONES, SCHEDULER.GAMMA). Stepped once
    per epoch."""
    sched = cfg.TRAIN.SCHEDULER
    kind = sched.TYPE
    if kind == 'step':
        return torch.optim.lr_scheduler.StepLR(optimizer, step_size=cfg.TRAIN.LR_DROP_EPOCH,
                                               gamma=sched.get('DECAY_RATE', 0.1))
    if kind == 'Mstep':
        if 'MILESTONES' not in sched:
            raise ValueError("TRAIN.SCHEDULER.TYPE 'Mstep' needs TRAIN.SCHEDULER.MILESTONES (list of epochs)")
        return torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=list(sched.MILESTONES),
                                                    gamma=sched.get('GAMMA', 0.1))
    raise ValueError(f"TRAIN.SCHEDULER.TYPE '{kind}' is not supported (supported: step, Mstep)")
