"""Optimiser and LR schedule from a lineage config (TRAIN.OPTIMIZER, TRAIN.LR, TRAIN.WEIGHT_DECAY,
TRAIN.SCHEDULER.*, TRAIN.LR_DROP_EPOCH, TRAIN.FUSED_OPTIMIZER). Parameter groups come from the family's
actor module."""

import functools
import math

import torch

PER_ITERATION_SCHEDULERS = ('cosine',)


def default_param_groups(net, cfg):
    return [{'params': [p for p in net.parameters() if p.requires_grad]}]


def global_batch_plan(cfg, world_size):
    """(grad_accum_steps, lr_scale) that realise TRAIN.GLOBAL_BATCH_SIZE with TRAIN.BATCH_SIZE per
    process on `world_size` processes. TRAIN.GLOBAL_BATCH_MODE 'accumulate': accumulate gradients over
    GLOBAL / (BATCH_SIZE * world_size) iterations (must divide evenly); 'scale_lr': one step per batch,
    learning rates scaled by BATCH_SIZE * world_size / GLOBAL; 'none' (or no GLOBAL_BATCH_SIZE, or 0):
    (1, 1.0)."""
    train = cfg.TRAIN
    target, mode = int(train.GLOBAL_BATCH_SIZE), str(train.GLOBAL_BATCH_MODE)
    actual = int(train.BATCH_SIZE) * int(world_size)
    if mode == 'none' or target <= 0:
        return 1, 1.0
    if mode == 'scale_lr':
        return 1, actual / target
    if mode == 'accumulate':
        if target % actual:
            raise ValueError(
                f'TRAIN.GLOBAL_BATCH_SIZE {target} is not a multiple of TRAIN.BATCH_SIZE '
                f'{train.BATCH_SIZE} x {world_size} process(es) = {actual}; change BATCH_SIZE or '
                f"the process count, or set TRAIN.GLOBAL_BATCH_MODE 'scale_lr'"
            )
        return target // actual, 1.0
    raise ValueError(f"TRAIN.GLOBAL_BATCH_MODE '{mode}' is not supported (accumulate, scale_lr, none)")


FUSED_SETTINGS = {'auto': 'auto', 'true': True, 'false': False}


class FusedOptimizerUnsupported(ValueError):
    """TRAIN.FUSED_OPTIMIZER forces the fused AdamW kernel where this torch build has none."""


def fused_setting(value):
    """TRAIN.FUSED_OPTIMIZER -> 'auto', True or False. Accepts the booleans and the strings 'auto',
    'true', 'false' (any case; yaml files give the strings, since the default 'auto' is a string)."""
    if isinstance(value, bool):
        return value
    key = str(value).strip().lower()
    if key not in FUSED_SETTINGS:
        from lib.config import ConfigError

        raise ConfigError(
            f"TRAIN.FUSED_OPTIMIZER {value!r} is not supported (expected 'auto', 'true' or 'false')"
        )
    return FUSED_SETTINGS[key]


@functools.cache
def _fused_adamw_probe(device, dtype):
    """None when one fused AdamW step runs for a (device, dtype) parameter, else the error text. torch
    checks fused support only in step(), so a one-element parameter takes one step here."""
    try:
        param = torch.zeros(1, device=device, dtype=dtype, requires_grad=True)
        param.grad = torch.ones_like(param)
        torch.optim.AdamW([param], fused=True).step()
    except (RuntimeError, ValueError, TypeError) as e:
        return f'{type(e).__name__}: {e}'
    return None


def fused_adamw_unsupported(params):
    """Why the fused AdamW kernel cannot update `params` (parameters of any devices and dtypes) with
    this torch build, or None when it can."""
    kinds = sorted({(str(p.device), p.dtype) for p in params}, key=str)
    for device, dtype in kinds:
        reason = _fused_adamw_probe(device, dtype)
        if reason is not None:
            return f'{dtype} parameters on {device}: {reason}'
    return None


def build_optimizer(cfg, groups, lr_scale=1.0, fused=None):
    """AdamW over `groups`; every learning rate (TRAIN.LR and the groups' own 'lr') times lr_scale.

    fused (default TRAIN.FUSED_OPTIMIZER, 'auto' when the config has no such key): 'auto' uses
    torch's fused AdamW kernel (one kernel for all parameters) when this torch build supports it for
    the parameters' device and dtype (CUDA; CPU in recent torch), else the default multi-tensor
    (foreach) AdamW; True forces fused (FusedOptimizerUnsupported where it cannot run); False never.
    The update rule, parameter groups and hyperparameters are the same either way. Build the
    optimizer after moving the network to its device."""
    name = str(cfg.TRAIN.OPTIMIZER).upper()
    groups = [dict(g, lr=g['lr'] * lr_scale) if 'lr' in g else dict(g) for g in groups if len(g['params'])]
    if not groups:
        raise ValueError('no trainable parameters: every parameter group is empty')
    if name != 'ADAMW':
        raise ValueError(f"TRAIN.OPTIMIZER '{cfg.TRAIN.OPTIMIZER}' is not supported (supported: ADAMW)")
    mode = fused_setting(cfg.TRAIN.FUSED_OPTIMIZER if fused is None else fused)
    use_fused = False
    if mode is not False:
        params = [p for g in groups for p in g['params']]
        reason = fused_adamw_unsupported(params)
        if reason is not None and mode is True:
            raise FusedOptimizerUnsupported(
                f"TRAIN.FUSED_OPTIMIZER is True but torch {torch.__version__} has no fused AdamW for "
                f"{reason}; set TRAIN.FUSED_OPTIMIZER to 'auto' or False"
            )
        use_fused = reason is None
    kwargs = {'fused': True} if use_fused else {}
    return torch.optim.AdamW(
        groups, lr=cfg.TRAIN.LR * lr_scale, weight_decay=cfg.TRAIN.WEIGHT_DECAY, **kwargs
    )


def is_fused(optimizer):
    return any(bool(g.get('fused')) for g in optimizer.param_groups)


# Per-group flags that choose the kernel, not the update: they follow the optimizer being resumed,
# not the checkpoint (a run saved with fused AdamW may resume where it is unsupported, or vice versa).
KERNEL_FLAGS = ('fused', 'foreach', 'capturable')


def load_optimizer_state(optimizer, state):
    """optimizer.load_state_dict(state), keeping this optimizer's kernel choice (KERNEL_FLAGS): the
    step counters are then placed as that kernel expects (fused: float32 on the parameter device)."""
    saved = state.get('param_groups')
    if isinstance(saved, list) and len(saved) == len(optimizer.param_groups):
        kernels = [{k: g[k] for k in KERNEL_FLAGS if k in g} for g in optimizer.param_groups]
        state = dict(state, param_groups=[dict(s, **k) for s, k in zip(saved, kernels)])
    optimizer.load_state_dict(state)
    return optimizer


def warmup_cosine_lr(step, base_lr, warmup_steps, total_steps, warmup_lr_init, lr_min, warmup_prefix=True):
    """timm CosineLRScheduler (one cycle) at update `step`: linear warmup from warmup_lr_init to
    base_lr over warmup_steps, then lr_min + (base_lr - lr_min) * (1 + cos(pi * t / total_steps)) / 2 with
    t = step - warmup_steps (warmup_prefix) or step; lr_min once t >= total_steps."""
    if step < warmup_steps:
        return warmup_lr_init + step * (base_lr - warmup_lr_init) / warmup_steps
    t = step - warmup_steps if warmup_prefix else step
    if t >= total_steps:
        return lr_min
    return lr_min + 0.5 * (base_lr - lr_min) * (1 + math.cos(math.pi * t / total_steps))


def _cosine_scheduler(optimizer, cfg, steps_per_epoch):
    if not steps_per_epoch:
        raise ValueError(
            "TRAIN.SCHEDULER.TYPE 'cosine' steps per iteration: build_scheduler needs "
            "steps_per_epoch (optimizer steps per training epoch)"
        )
    sched, base = cfg.TRAIN.SCHEDULER, float(cfg.TRAIN.LR)
    warmup = int(round(sched.WARMUP_EPOCHS * steps_per_epoch))
    total = int(cfg.TRAIN.EPOCH) * int(steps_per_epoch)
    warmup_init, lr_min = float(sched.WARMUP_LR_INIT), float(sched.LR_MIN)
    prefix = bool(sched.WARMUP_PREFIX)

    def factor(step):  # relative to each group's initial lr, so lr scaling and group lrs carry over
        return warmup_cosine_lr(step, base, warmup, total, warmup_init, lr_min, prefix) / base

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def build_scheduler(optimizer, cfg, steps_per_epoch=None):
    """'step': StepLR(LR_DROP_EPOCH, gamma=SCHEDULER.DECAY_RATE (0.1, the value the lineage's StepLR
    used by default)); 'Mstep': MultiStepLR(SCHEDULER.MILESTONES, SCHEDULER.GAMMA); both stepped once
    per epoch. 'cosine' (TYPE in PER_ITERATION_SCHEDULERS, stepped after every optimizer step):
    warmup_cosine_lr with WARMUP_EPOCHS, WARMUP_LR_INIT, LR_MIN, WARMUP_PREFIX over TRAIN.EPOCH epochs
    of `steps_per_epoch` updates."""
    sched = cfg.TRAIN.SCHEDULER
    kind = sched.TYPE
    if kind == 'cosine':
        return _cosine_scheduler(optimizer, cfg, steps_per_epoch)
    if kind == 'step':
        return torch.optim.lr_scheduler.StepLR(
            optimizer, step_size=cfg.TRAIN.LR_DROP_EPOCH, gamma=sched.DECAY_RATE
        )
    if kind == 'Mstep':
        if not sched.MILESTONES:
            raise ValueError("TRAIN.SCHEDULER.TYPE 'Mstep' needs TRAIN.SCHEDULER.MILESTONES (list of epochs)")
        return torch.optim.lr_scheduler.MultiStepLR(
            optimizer, milestones=list(sched.MILESTONES), gamma=sched.GAMMA
        )
    raise ValueError(f"TRAIN.SCHEDULER.TYPE '{kind}' is not supported (supported: step, Mstep, cosine)")
