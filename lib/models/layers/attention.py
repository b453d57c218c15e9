"""Multi-head self-attention with the timm/ViT parameter layout (qkv, proj), in two implementations.

- 'sdpa' (default): the output comes from F.scaled_dot_product_attention. Candidate elimination needs
  attention weights only from the template queries to the search keys, so `forward_with_ce_scores`
  computes just those rows of the softmax (a few template rows x all keys) instead of the (L x L) map.
- 'explicit': the official computation, softmax((q k^T) * scale) v in the input dtype; a CE layer
  builds the full (B, heads, L, L) map and slices the template->search part out of it, as the official
  vit_ce does. This is the reference ("plain") path; both give the same result up to float rounding.

`set_attention_impl(module, impl)` switches every attention layer inside a model (OSTrack / DropTrack /
CompressTracker ViTs, DINOv2 and its LoRA variant: all use this class).
"""

import contextlib

import torch
import torch.nn as nn
import torch.nn.functional as F

ATTENTION_IMPLS = ('sdpa', 'explicit')


def check_attention_impl(impl):
    if impl not in ATTENTION_IMPLS:
        raise ValueError(f"attention implementation {impl!r} is not one of {', '.join(ATTENTION_IMPLS)}")
    return impl


class Attention(nn.Module):
    def __init__(self, dim, num_heads=8, qkv_bias=False, attn_drop=0.0, proj_drop=0.0):
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"attention dim {dim} is not divisible by num_heads {num_heads}")
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.scale = self.head_dim**-0.5
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.attn_drop_p = attn_drop
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)
        self.impl = 'sdpa'  # a plain attribute (not in the state dict); see set_attention_impl

    def _qkv(self, x):
        B, N, C = x.shape
        qkv = self.qkv(x).reshape(B, N, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        return qkv.unbind(0)  # each (B, heads, N, head_dim)

    def _out(self, x):
        B, H, N, D = x.shape
        return self.proj_drop(self.proj(x.transpose(1, 2).reshape(B, N, H * D)))

    def _explicit(self, q, k, v):
        """(output (B, heads, N, D), full softmax map (B, heads, N, N))."""
        attn = explicit_attention_map(q, k, self.scale)
        return F.dropout(attn, self.attn_drop_p, self.training) @ v, attn

    def _sdpa(self, q, k, v):
        drop = self.attn_drop_p if self.training else 0.0
        return F.scaled_dot_product_attention(q, k, v, dropout_p=drop)

    def forward(self, x, return_attention=False):
        """x (B, N, C) -> (B, N, C); with return_attention also the full (B, heads, N, N) softmax map
        (always the explicit product, whatever the implementation)."""
        q, k, v = self._qkv(x)
        if return_attention or self.impl == 'explicit':
            out, attn = self._explicit(q, k, v)
            return (self._out(out), attn) if return_attention else self._out(out)
        return self._out(self._sdpa(q, k, v))

    def forward_with_ce_scores(self, x, lens_t, template_mask=None):
        """Attention output plus the candidate-elimination scores.

        scores (B, L_s): softmax attention from the template queries (all, or those where
        template_mask (B, L_t) bool is True) to each search key, averaged over those queries and heads.
        """
        q, k, v = self._qkv(x)
        if self.impl == 'explicit':
            out, attn = self._explicit(q, k, v)
            scores = ce_scores_from_map(attn, lens_t, template_mask)
            return self._out(out), scores
        out = self._sdpa(q, k, v)
        with torch.no_grad():
            if q.dtype != torch.float32 and not self.training:
                q, k = self._fp32_queries_keys(x, lens_t)
            scores = template_to_search_scores(q, k, lens_t, self.scale, template_mask)
        return self._out(out), scores

    def _fp32_queries_keys(self, x, lens_t):
        """The template queries and all keys from fp32 products, for the CE ranking at inference under a
        bf16/fp16 autocast. Which tokens survive is a discontinuous choice: on a trained tiny OSTrack-CE,
        bf16 q and k left 92.2% of frames with IoU >= 0.99 against the fp32 boxes and fp16 ones 99.0%;
        fp32 q and k give 94.9% and 99.4% (lib/benchmark/precision.py). Costs about a third of an fp32
        qkv product per CE layer."""
        B, N, C = x.shape
        weight = self.qkv.weight.float()
        bias = None if self.qkv.bias is None else self.qkv.bias.float()
        with without_autocast(x.device):
            x = x.float()
            q_t = F.linear(x[:, :lens_t], weight[:C], None if bias is None else bias[:C])
            k = F.linear(x, weight[C : 2 * C], None if bias is None else bias[C : 2 * C])
        return (t.view(B, t.shape[1], self.num_heads, self.head_dim).transpose(1, 2) for t in (q_t, k))


def without_autocast(device):
    """A block where an enclosing autocast on `device` is off (a plain block on devices without autocast,
    e.g. the meta tensors of FLOP counting)."""
    if device.type in ('cpu', 'cuda') and torch.is_autocast_enabled(device.type):
        return torch.autocast(device.type, enabled=False)
    return contextlib.nullcontext()


def explicit_attention_map(q, k, scale):
    """softmax((q k^T) * scale) over the keys, the official order of operations."""
    return ((q @ k.transpose(-2, -1)) * scale).softmax(dim=-1)


def set_attention_impl(module, impl):
    """Sets every Attention layer inside `module` to 'sdpa' or 'explicit' (in place); returns `module`.

    Modules a model holds outside its module tree (CompressTracker's frozen teacher) are included."""
    check_attention_impl(impl)
    for layer in attention_layers(module):
        layer.impl = impl
    return module


def attention_layers(module):
    """Every Attention layer inside `module`, also inside nn.Modules kept as plain attributes."""
    found, seen, stack = [], set(), [module]
    while stack:
        root = stack.pop()
        for m in root.modules():
            if id(m) in seen:
                continue
            seen.add(id(m))
            if isinstance(m, Attention):
                found.append(m)
            stack.extend(v for v in vars(m).values() if isinstance(v, nn.Module) and id(v) not in seen)
    return found


def _select_template_rows(x_t, template_mask):
    """x_t (B, H, T, ...) template rows. On the CPU, with a mask whose rows all select the same number
    of tokens (CTR_POINT, CTR_REC), only those rows are kept (returned mask None). Otherwise (a
    per-sample varying GT_BOX mask, an accelerator, torch.compile) the mask is returned for a weighted
    mean: finding the rows needs the mask on the host, a device sync per CE layer (and impossible
    inside a CUDA graph capture); for one selected row (CTR_POINT) both give identical bits."""
    if template_mask is None:
        return x_t, None
    template_mask = template_mask.to(torch.bool)
    if x_t.device.type != 'cpu' or torch.compiler.is_compiling():
        return x_t, template_mask
    counts = template_mask.sum(dim=1)
    if bool((counts == counts[0]).all()) and int(counts[0]) > 0:
        B, H = x_t.shape[:2]
        rows = template_mask.nonzero()[:, 1].view(B, int(counts[0]))
        index = rows[:, None, :, None].expand(-1, H, -1, x_t.shape[3])
        return x_t.gather(2, index), None
    return x_t, template_mask


def template_to_search_scores(q, k, lens_t, scale, template_mask=None):
    """Mean softmax weight from template queries to search keys: (B, heads, L, D) x2 -> (B, L - lens_t),
    computed in fp32 whatever the autocast.

    Only the selected template query rows are computed (see _select_template_rows)."""
    q_t, template_mask = _select_template_rows(q[:, :, :lens_t], template_mask)
    # In fp32 also under a bf16/fp16 autocast: the scores only rank tokens, and logits rounded to 8
    # mantissa bits flip the tokens near the keep threshold, which moves boxes (a trained tiny OSTrack-CE
    # under bf16: IoU >= 0.99 with the fp32 boxes on 91% of frames with half-precision scores, without
    # CE on 99.9%). Costs one (T' x L) product per CE layer.
    with without_autocast(q.device):
        probs = ((q_t.float() * scale) @ k.float().transpose(-2, -1)).softmax(dim=-1)[..., lens_t:]
    return reduce_ce_scores(probs, template_mask)


def ce_scores_from_map(attn, lens_t, template_mask=None):
    """The same scores sliced out of a full (B, heads, L, L) attention map (the official way)."""
    probs, template_mask = _select_template_rows(attn[:, :, :lens_t, lens_t:], template_mask)
    return reduce_ce_scores(probs, template_mask)


def reduce_ce_scores(probs, template_mask=None):
    """(B, heads, T, L_s) template-to-search weights -> (B, L_s): mean over the (masked) template rows,
    then over heads."""
    probs = probs.float()
    if template_mask is None:
        return probs.mean(dim=2).mean(dim=1)
    weights = template_mask.to(probs.dtype)[:, None, :, None]
    return ((probs * weights).sum(dim=2) / weights.sum(dim=2).clamp(min=1)).mean(dim=1)
