"""Model cost: parameters, MACs as the papers count them (thop), exact FLOPs, latency and FPS.

MACs follow the official tracking/profile_model.py: thop over model(*inputs) with the family's default
forward (for OSTrack-CE: the yaml keep ratios, all template rows), so the numbers are comparable with
the published ones (thop counts nn.Linear/Conv/Norm modules; the attention matrix products are not
modules and are left out). `exact_flops` counts every matmul including attention with PyTorch's
FlopCounterMode (FLOPs = 2 x multiply-adds). Latency runs in eval mode under no_grad at the given
batch, with warm-up and device synchronisation around the timed loop.

A tracker family plugs in with its Family.profile_inputs(cfg, batch=1) -> tuple of forward arguments.
"""

import copy
import functools
import math
import time
import warnings

import torch


def half_dtype(device):
    """fp16 on CUDA, bf16 elsewhere (CPU fp16 kernels are slow or missing)."""
    return torch.float16 if torch.device(device).type == 'cuda' else torch.bfloat16


def count_parameters(model):
    return sum(p.numel() for p in model.parameters())


def thop_macs(model, inputs):
    """(MACs, thop's parameter count) as thop.profile reports them; runs on a copy of the model."""
    probe = copy.deepcopy(model)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter('ignore', DeprecationWarning)  # thop's distutils version checks
        from thop import profile

        macs, params = profile(probe, inputs=tuple(inputs), verbose=False)
    return int(macs), int(params)


def _shape(x) -> tuple:
    # FlopCounterMode hands custom formulas shapes on some releases and tensors on others
    return tuple(x.shape) if isinstance(x, torch.Tensor) else tuple(x)


def attention_products_flops(query, key, value) -> int:
    """FLOPs of q k^T and of (attention map) v for query (..., L, E), key (..., S, E), value (..., S, Ev):
    2 per multiply-add, batch and head dimensions taken from the query."""
    q, k, v = _shape(query), _shape(key), _shape(value)
    return 2 * math.prod(q[:-2]) * q[-2] * k[-2] * (q[-1] + v[-1])


def _attention_forward_flops(query, key, value, *args, **kwargs) -> int:
    return attention_products_flops(query, key, value)


def _attention_backward_flops(grad_out, query, key, value, *args, **kwargs) -> int:
    # dV = P^T dO, dP = dO V^T, dQ = dS K, dK = dS^T Q: twice the forward products, what autograd
    # counts through the math path's bmm. A flash kernel also recomputes q k^T, and FlopCounterMode's
    # own formulas count that on some releases; leaving it out keeps one figure for every kernel.
    return 2 * attention_products_flops(query, key, value)


# Fused attention kernels whose first arguments are (query, key, value) in the (..., L, E) layout of
# F.scaled_dot_product_attention, and whose backward takes (grad_out, query, key, value).
_FUSED_ATTENTION_KERNELS = (
    '_scaled_dot_product_flash_attention_for_cpu',
    '_scaled_dot_product_fused_attention_overrideable',
    '_scaled_dot_product_flash_attention',
    '_scaled_dot_product_efficient_attention',
    '_scaled_dot_product_cudnn_attention',
)


@functools.cache
def attention_formulas() -> dict:
    """FlopCounterMode formulas for every fused attention kernel this torch has.

    Torch releases differ here: some have no formula for the CPU flash kernel (an SDPA call there counted
    0 FLOPs, while the meta device runs the math path and counts the same products through bmm), and
    their backward formulas differ. With these, one forward or training step counts the same FLOPs on
    every device, kernel and release: the attention products of the algorithm."""
    formulas = {}
    for name in _FUSED_ATTENTION_KERNELS:
        for op_name, formula in (
            (name, _attention_forward_flops),
            (name + '_backward', _attention_backward_flops),
        ):
            op = getattr(torch.ops.aten, op_name, None)
            if op is not None:
                formulas[op] = formula
    return formulas


def flop_counter(**kwargs):
    """A FlopCounterMode that counts attention the same whichever fused kernel runs it."""
    from torch.utils.flop_counter import FlopCounterMode

    return FlopCounterMode(display=False, custom_mapping=attention_formulas(), **kwargs)


def exact_flops(model, inputs) -> int:
    """All floating-point operations of one forward (matmuls, convolutions, attention products), counted
    by FlopCounterMode with one attention formula for every kernel; the same count on every device."""
    with torch.no_grad(), flop_counter() as counter:
        model(*inputs)
    return int(counter.get_total_flops())


def _sync(device):
    if torch.device(device).type == 'cuda':
        torch.cuda.synchronize(device)


def measure_latency(model, inputs, device='cpu', dtype=torch.float32, warmup=10, iters=50):
    """Mean seconds per forward of `model` (moved to device/dtype, eval mode) over `iters` timed runs."""
    model = model.to(device=device, dtype=dtype).eval()
    inputs = tuple(t.to(device=device, dtype=dtype) for t in inputs)
    with torch.inference_mode():
        for _ in range(warmup):
            model(*inputs)
        _sync(device)
        start = time.perf_counter()
        for _ in range(iters):
            model(*inputs)
        _sync(device)
        elapsed = time.perf_counter() - start
    return elapsed / iters


def count_ops(model, inputs):
    """(thop MACs, thop params, exact FLOPs) of one forward."""
    macs, params = thop_macs(model, inputs)
    return macs, params, exact_flops(model, inputs)


def profile_model(model, inputs, device='cpu', iters=50, warmup=10, timing=True, counts=None):
    """A report dict: params, thop_macs, thop_params, flops, and per precision latency (ms, fps).
    `counts` = precomputed count_ops result (e.g. from a meta-device copy)."""
    model = model.eval()
    report = {'params': count_parameters(model)}
    report['thop_macs'], report['thop_params'], report['flops'] = counts or count_ops(model, inputs)
    report['latency'] = {}
    if timing:
        for dtype in (torch.float32, half_dtype(device)):
            seconds = measure_latency(copy.deepcopy(model), inputs, device, dtype, warmup, iters)
            report['latency'][str(dtype).replace('torch.', '')] = {'ms': seconds * 1000, 'fps': 1.0 / seconds}
    return report


def profile_config(script, config_name, device='cpu', iters=50, warmup=10, timing=True):
    """Builds a config's model (random init, as the official script) and profiles it at batch 1."""
    from lib.config import load_config
    from lib.families import get_family
    from lib.models import build_model_from_cfg

    cfg = load_config(script, config_name)
    family = get_family(script)
    if family.profile_inputs is None:
        raise ValueError(f"tracker family '{script}' declares no profile_inputs(cfg, batch)")
    counts = _count_on_meta(script, cfg, family)
    if counts is not None and not timing:  # nothing needs real weights
        params = counts.pop()
        return {
            'params': params,
            'thop_macs': counts[0],
            'thop_params': counts[1],
            'flops': counts[2],
            'latency': {},
        }
    model = build_model_from_cfg(script, cfg, training=False)
    counts = counts[:3] if counts else None
    return profile_model(model, family.profile_inputs(cfg, batch=1), device, iters, warmup, timing, counts)


def _count_on_meta(script, cfg, family):
    """Operation counts depend only on shapes, so they are taken on a meta-device model (no weights, no
    arithmetic: a full-size model counts in under a second). Returns [MACs, thop params, FLOPs,
    params], or None when the family's forward needs real values (then the real model is counted)."""
    from lib.families import import_now
    from lib.models import build_model_from_cfg

    import_now(family.build_model, family.profile_inputs)
    try:
        with torch.device('meta'):
            model = build_model_from_cfg(script, cfg, training=False).eval()
            inputs = family.profile_inputs(cfg, batch=1)
        return [*count_ops(model, inputs), count_parameters(model)]
    except (NotImplementedError, RuntimeError):
        return None


def format_report(script, config_name, report):
    lines = [
        f'{script}/{config_name}',
        f"  parameters     {report['params'] / 1e6:.3f} M "
        f"(thop module count {report['thop_params'] / 1e6:.3f} M)",
        f"  MACs (thop)    {report['thop_macs'] / 1e9:.3f} G  "
        f"(papers' convention; attention products excluded)",
        f"  FLOPs (exact)  {report['flops'] / 1e9:.3f} G  (all ops incl. attention; 2 per multiply-add)",
    ]
    for name, t in report['latency'].items():
        lines.append(f"  latency {name:<9} {t['ms']:.2f} ms  ({t['fps']:.1f} FPS, batch 1)")
    return '\n'.join(lines)
