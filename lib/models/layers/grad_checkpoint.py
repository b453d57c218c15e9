"""Gradient (activation) checkpointing of transformer blocks, without changing any parameter name.

`enable_grad_checkpointing(model)` makes every transformer block of `model` run its forward under
torch.utils.checkpoint (non-reentrant): the backward pass recomputes the block instead of keeping its
activations: about one more forward per block for a fraction of the activation memory, what lets the
large LoRAT L/g runs fit on smaller GPUs (docs/benchmarks.md has the figures). Results and gradients
are those of the plain forward: the RNG state (dropout, drop path) is replayed in the recomputation,
and autocast applies there as well.

The blocks are changed per instance, not by wrapping them in another module: each block gets a
bound `forward` (and `forward_ce`, the OSTrack candidate-elimination entry) that calls its class's
method through the checkpoint, so state-dict keys, parameters and checkpoints stay exactly the same.
Without grad mode (evaluation, torch.no_grad) the block runs directly.

Blocks: lib.models.layers.block.Block (OSTrack / DropTrack ViT-CE, CompressTracker student) and
lib.models.backbones.dinov2.DinoV2Block (LoRAT, LoRA layers included). CompressTracker's frozen
teacher is not a submodule; the teacher blocks that stand in for student stages run through their
`attn` and `mlp` sub-modules, so those are checkpointed for them.
"""

import types

import torch
from torch.utils.checkpoint import checkpoint

BLOCK_METHODS = ('forward', 'forward_ce')  # the entry points of a block that are checkpointed
SUBLAYER_NAMES = ('attn', 'mlp')  # checkpointed inside blocks that are called through their sub-modules
_MARK = '_grad_checkpointed_methods'


def _block_types():
    from lib.models.backbones.dinov2 import DinoV2Block
    from lib.models.layers.block import Block

    return Block, DinoV2Block


def _checkpointed_method(name):
    def method(self, *args, **kwargs):
        original = getattr(type(self), name).__get__(self)
        if not torch.is_grad_enabled():
            return original(*args, **kwargs)
        return checkpoint(original, *args, use_reentrant=False, **kwargs)

    method.__name__ = name
    return method


def checkpoint_module(module, names=BLOCK_METHODS):
    """Routes the methods `names` of `module` (those its class defines) through a non-reentrant
    checkpoint, per instance. Idempotent; returns the module."""
    done = set(module.__dict__.get(_MARK, ()))
    for name in names:
        if name in done or not callable(getattr(type(module), name, None)):
            continue
        # a bound method: copy.deepcopy rebinds it to the copy, so copies stay independent
        setattr(module, name, types.MethodType(_checkpointed_method(name), module))
        done.add(name)
    module.__dict__[_MARK] = tuple(sorted(done))
    return module


def uncheckpoint_module(module):
    for name in module.__dict__.pop(_MARK, ()):
        module.__dict__.pop(name, None)
    return module


def _teacher_blocks(model):
    """Blocks of a frozen teacher kept outside the module tree (CompressTracker's distillation model)."""
    teacher = model.__dict__.get('teacher')
    if not isinstance(teacher, torch.nn.Module):
        return []
    return [m for m in teacher.modules() if isinstance(m, _block_types())]


def enable_grad_checkpointing(model, block_types=None):
    """Checkpoints every transformer block of `model` (see the module doc); `block_types` overrides
    which module classes count as blocks. Returns the model. Raises ValueError if it has none."""
    block_types = tuple(block_types or _block_types())
    blocks = [m for m in model.modules() if isinstance(m, block_types)]
    if not blocks:
        names = ', '.join(t.__name__ for t in block_types)
        raise ValueError(
            f'gradient checkpointing found no transformer block ({names}) in {type(model).__name__}'
        )
    for block in blocks:
        checkpoint_module(block)
    for block in _teacher_blocks(model):
        for name in SUBLAYER_NAMES:
            sub = getattr(block, name, None)
            if isinstance(sub, torch.nn.Module):
                checkpoint_module(sub, ('forward',))
    return model


def disable_grad_checkpointing(model):
    """Undoes enable_grad_checkpointing."""
    modules = list(model.modules())
    teacher = model.__dict__.get('teacher')
    if isinstance(teacher, torch.nn.Module):
        modules += list(teacher.modules())
    for module in modules:
        uncheckpoint_module(module)
    return model


def is_grad_checkpointed(module):
    return bool(module.__dict__.get(_MARK))
