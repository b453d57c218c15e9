"""LoRA for frozen linear layers, with LoRAT's parameter layout.

A wrapped linear keeps the frozen layer as `<name>.linear` and adds `<name>.lora.A` (r x in) and
`<name>.lora.B` (out x r): y = linear(x) + dropout(x) A^T B^T * scaling, scaling = alpha / r
(alpha / sqrt(r) with rsLoRA). A fused projection (attention qkv) is split into one linear per part,
`qkv.q`, `qkv.k`, `qkv.v`, each with its own LoRA, so the state-dict keys read
`blocks.0.attn.qkv.q.linear.weight`, `blocks.0.attn.qkv.q.lora.A`, ... as in the official LoRAT
training model.

LoRAT initialises both A and B with a truncated normal (std 0.02, its 'bert' init), so the initial
update is small but not zero; the usual zero-B inits are available as 'lora' and 'gaussian'.
Merging (W + B A * scaling) is computed in float32 and cast back to the weight's dtype.
"""

import math
import re

import torch
import torch.nn as nn
from torch.nn.init import trunc_normal_
from torch.nn.utils import skip_init

LORA_INIT_METHODS = ('bert', 'lora', 'gaussian')
# Fused projections: child name -> names of its equal-sized parts, in output order.
FUSED_PARTS = {'qkv': ('q', 'k', 'v'), 'kv': ('k', 'v')}
# Scalars the official training model appends to its state dict when alpha != 1 or rsLoRA is on.
LORA_META_KEYS = ('lora_alpha', 'use_rslora')


def lora_scaling(r, alpha, use_rslora=False):
    """alpha None means scaling 1 (how the official loader treats checkpoints without `lora_alpha`)."""
    if alpha is None:
        return 1.0
    return alpha / math.sqrt(r) if use_rslora else alpha / r


def lora_delta(A, B, alpha, use_rslora=False):
    """B @ A * scaling in float32: (out, in)."""
    return (B.float() @ A.float()) * lora_scaling(A.shape[0], alpha, use_rslora)


def merge_lora_weight(weight, A, B, alpha, use_rslora=False):
    return (weight.float() + lora_delta(A, B, alpha, use_rslora).to(weight.device)).to(weight.dtype)


def unmerge_lora_weight(weight, A, B, alpha, use_rslora=False):
    return (weight.float() - lora_delta(A, B, alpha, use_rslora).to(weight.device)).to(weight.dtype)


class LoRA(nn.Module):
    """The low-rank update alone: x -> dropout(x) A^T B^T * scaling."""

    def __init__(
        self,
        in_features,
        out_features,
        r,
        alpha,
        dropout=0.0,
        use_rslora=False,
        init='bert',
        device=None,
        dtype=None,
    ):
        super().__init__()
        if init not in LORA_INIT_METHODS:
            raise ValueError(f"unknown LoRA init '{init}' (expected one of {', '.join(LORA_INIT_METHODS)})")
        self.A = nn.Parameter(torch.empty(r, in_features, device=device, dtype=dtype))
        self.B = nn.Parameter(torch.empty(out_features, r, device=device, dtype=dtype))
        self.r, self.alpha, self.use_rslora = r, alpha, use_rslora
        self.scaling = lora_scaling(r, alpha, use_rslora)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        if init == 'bert':
            trunc_normal_(self.A, std=0.02)
            trunc_normal_(self.B, std=0.02)
        elif init == 'lora':
            nn.init.kaiming_uniform_(self.A, a=math.sqrt(5))
            nn.init.zeros_(self.B)
        else:
            nn.init.normal_(self.A, std=1.0 / r)
            nn.init.zeros_(self.B)

    def forward(self, x):
        return (self.dropout(x) @ self.A.t() @ self.B.t()) * self.scaling


class LinearWithLoRA(nn.Module):
    def __init__(self, linear, r, alpha, dropout=0.0, use_rslora=False, init='bert'):
        super().__init__()
        self.linear = linear
        self.lora = LoRA(
            linear.in_features,
            linear.out_features,
            r,
            alpha,
            dropout,
            use_rslora,
            init,
            device=linear.weight.device,
            dtype=linear.weight.dtype,
        )

    def forward(self, x):
        return self.linear(x) + self.lora(x)

    def merged_linear(self):
        """A plain nn.Linear holding W + B A * scaling (and the same bias)."""
        src = self.linear
        out = skip_init(
            nn.Linear,
            src.in_features,
            src.out_features,
            bias=src.bias is not None,
            device=src.weight.device,
            dtype=src.weight.dtype,
        )
        with torch.no_grad():
            out.weight.copy_(
                merge_lora_weight(src.weight, self.lora.A, self.lora.B, self.lora.alpha, self.lora.use_rslora)
            )
            if src.bias is not None:
                out.bias.copy_(src.bias)
        out.requires_grad_(src.weight.requires_grad)
        return out


class FusedLinearWithLoRA(nn.Module):
    """A fused projection (e.g. qkv: in -> 3 * in) split into parts, each a LinearWithLoRA; the output
    is the concatenation, so the surrounding attention code is unchanged."""

    def __init__(self, linear, part_names, r, alpha, dropout=0.0, use_rslora=False, init='bert'):
        super().__init__()
        n = len(part_names)
        if linear.out_features % n:
            raise ValueError(f"cannot split a linear with {linear.out_features} outputs into {n} parts")
        self.part_names = tuple(part_names)
        size = linear.out_features // n
        for i, name in enumerate(self.part_names):
            part = skip_init(
                nn.Linear,
                linear.in_features,
                size,
                bias=linear.bias is not None,
                device=linear.weight.device,
                dtype=linear.weight.dtype,
            )
            with torch.no_grad():
                part.weight.copy_(linear.weight[i * size : (i + 1) * size])
                if linear.bias is not None:
                    part.bias.copy_(linear.bias[i * size : (i + 1) * size])
            part.requires_grad_(linear.weight.requires_grad)
            self.add_module(name, LinearWithLoRA(part, r, alpha, dropout, use_rslora, init))

    def forward(self, x):
        return torch.cat([getattr(self, name)(x) for name in self.part_names], dim=-1)

    def merged_linear(self):
        parts = [getattr(self, name).merged_linear() for name in self.part_names]
        first = parts[0]
        out = skip_init(
            nn.Linear,
            first.in_features,
            first.out_features * len(parts),
            bias=first.bias is not None,
            device=first.weight.device,
            dtype=first.weight.dtype,
        )
        with torch.no_grad():
            out.weight.copy_(torch.cat([p.weight for p in parts], dim=0))
            if first.bias is not None:
                out.bias.copy_(torch.cat([p.bias for p in parts], dim=0))
        out.requires_grad_(first.weight.requires_grad)
        return out


def _set_child(root, dotted_name, module):
    parent_name, _, child = dotted_name.rpartition('.')
    setattr(root.get_submodule(parent_name) if parent_name else root, child, module)


def add_lora_(module, r, alpha, dropout=0.0, use_rslora=False, init='bert'):
    """Wraps every frozen nn.Linear inside `module` (in place) with LoRA, splitting fused `qkv`/`kv`
    projections into parts. Returns the names of the wrapped linears."""
    names = sorted(
        name for name, m in module.named_modules() if type(m) is nn.Linear and not m.weight.requires_grad
    )
    for name in names:
        linear = module.get_submodule(name)
        parts = FUSED_PARTS.get(name.rpartition('.')[2])
        wrapped = (
            FusedLinearWithLoRA(linear, parts, r, alpha, dropout, use_rslora, init)
            if parts
            else LinearWithLoRA(linear, r, alpha, dropout, use_rslora, init)
        )
        _set_child(module, name, wrapped)
    return names


def merge_lora_(module):
    """Replaces every LoRA-wrapped linear inside `module` by a plain merged nn.Linear (in place), which
    restores the pre-LoRA key layout (`attn.qkv.weight` ...). Returns `module`."""
    names = [
        name for name, m in module.named_modules() if isinstance(m, (LinearWithLoRA, FusedLinearWithLoRA))
    ]
    done = set()
    for name in names:
        if any(name.startswith(prefix + '.') for prefix in done):
            continue  # a part of a fused projection already merged
        _set_child(module, name, module.get_submodule(name).merged_linear())
        done.add(name)
    return module


_SITE_RE = re.compile(r'^(?P<site>.*\.)(?:lora\.(?:A|B|alpha|use_rslora)|linear\.(?:weight|bias))$')


def merge_lora_state_dict(state_dict, base_state_dict, alpha=None, use_rslora=False):
    """State-dict-level merge: `state_dict` in the LoRA training layout (complete, or only the trainable
    tensors) -> a complete state dict in the merged layout.

    `base_state_dict` (merged layout, e.g. the target model's own state dict holding the pretrained
    backbone) supplies every tensor `state_dict` lacks. `lora_alpha` / `use_rslora` scalars in
    `state_dict` override `alpha` / `use_rslora`. Keys already in the merged layout pass through.
    """
    state_dict = dict(state_dict)
    if 'lora_alpha' in state_dict:
        alpha = float(state_dict.pop('lora_alpha'))
    if 'use_rslora' in state_dict:
        use_rslora = bool(state_dict.pop('use_rslora'))
    out = dict(base_state_dict)
    sites = {}
    for key in list(state_dict):
        match = _SITE_RE.match(key)
        if match:
            sites.setdefault(match['site'], {})[key[len(match['site']) :]] = state_dict.pop(key)
    out.update(state_dict)
    for site, tensors in sites.items():
        target, rows = _merged_target(site, out)
        for kind in ('weight', 'bias'):
            if target + kind not in out:
                if kind == 'weight' or 'linear.bias' in tensors:
                    raise KeyError(f"LoRA site '{site}' has no base tensor '{target + kind}' to merge into")
                continue
            full = out[target + kind]
            value = tensors.get('linear.' + kind)
            if value is None:
                value = full[rows] if rows is not None else full
            if kind == 'weight' and 'lora.A' in tensors:
                if 'lora.B' not in tensors:
                    raise KeyError(f"LoRA site '{site}' has lora.A but no lora.B")
                site_alpha = float(tensors['lora.alpha']) if 'lora.alpha' in tensors else alpha
                site_rslora = bool(tensors['lora.use_rslora']) if 'lora.use_rslora' in tensors else use_rslora
                value = merge_lora_weight(
                    value, tensors['lora.A'], tensors['lora.B'], site_alpha, site_rslora
                )
            if rows is not None:
                full = full.clone()
                full[rows] = value.to(full.dtype)
                value = full
            out[target + kind] = value
    return out


def _merged_target(site, merged_state_dict):
    """'blocks.0.attn.qkv.k.' -> ('blocks.0.attn.qkv.', slice of k's rows); 'x.proj.' -> ('x.proj.', None)."""
    parent, _, part = site[:-1].rpartition('.')
    fused = parent.rpartition('.')[2]
    names = FUSED_PARTS.get(fused)
    if names and part in names and parent + '.weight' in merged_state_dict:
        size = merged_state_dict[parent + '.weight'].shape[0] // len(names)
        i = names.index(part)
        return parent + '.', slice(i * size, (i + 1) * size)
    return site, None
