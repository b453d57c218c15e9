"""Multi-head self-attention with the timm/ViT parameter layout (qkv, proj).

The output always comes from F.scaled_dot_product_attention. Candidate elimination needs attention
weights only from the template queries to the search keys, so `forward_with_ce_scores` computes just
those rows of the softmax (a few template rows x all keys) instead of the full (L x L) map.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F


class Attention(nn.Module):
    def __init__(self, dim, num_heads=8, qkv_bias=False, attn_drop=0., proj_drop=0.):
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"attention dim {dim} is not divisible by num_heads {num_heads}")
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.scale = self.head_dim ** -0.5
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.attn_drop_p = attn_drop
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)

    def _qkv(self, x):
        B, N, C = x.shape
        qkv = self.qkv(x).reshape(B, N, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        return qkv.unbind(0)  # each (B, heads, N, head_dim)

    def _out(self, x):
        B, H, N, D = x.shape
        return self.proj_drop(self.proj(x.transpose(1, 2).reshape(B, N, H * D)))

    def forward(self, x, return_attention=False):
        """x (B, N, C) -> (B, N, C); with return_attention also the full (B, heads, N, N) softmax map
        (explicit product, for visualisation only)."""
        q, k, v = self._qkv(x)
        if return_attention:
            attn = ((q * self.scale) @ k.transpose(-2, -1)).softmax(dim=-1)
            out = F.dropout(attn, self.attn_drop_p, self.training) @ v
            return self._out(out), attn
        drop = self.attn_drop_p if self.training else 0.
        return self._out(F.scaled_dot_product_attention(q, k, v, dropout_p=drop))

    def forward_with_ce_scores(self, x, lens_t, template_mask=None):
        """Attention output plus the candidate-elimination scores.

        scores (B, L_s): softmax attention from the template queries (all, or those where
        template_mask (B, L_t) bool is True) to each search key, averaged over those queries and heads.
        """
        q, k, v = self._qkv(x)
        drop = self.attn_drop_p if self.training else 0.
        out = F.scaled_dot_product_attention(q, k, v, dropout_p=drop)
        with torch.no_grad():
            scores = template_to_search_scores(q, k, lens_t, self.scale, template_mask)
        return self._out(out), scores


def template_to_search_scores(q, k, lens_t, scale, template_mask=None):
    """Mean softmax weight from template queries to search keys: (B, heads, L, D) x2 -> (B, L - lens_t).

    With a mask whose rows all select the same number of tokens (CTR_POINT, CTR_REC) only those query
    rows are computed; a per-sample varying mask (GT_BOX) is applied as a weighted mean.
    """
    q_t = q[:, :, :lens_t]
    if template_mask is not None:
        template_mask = template_mask.to(torch.bool)
        counts = template_mask.sum(dim=1)
        if bool((counts == counts[0]).all()) and int(counts[0]) > 0:
            rows = template_mask.nonzero()[:, 1].view(q.shape[0], int(counts[0]))
            q_t = q_t.gather(2, rows[:, None, :, None].expand(-1, q.shape[1], -1, q.shape[3]))
            template_mask = None
    probs = ((q_t * scale) @ k.transpose(-2, -1)).float().softmax(dim=-1)[..., lens_t:]  # (B, H, T', L_s)
    return reduce_ce_scores(probs, template_mask)


def reduce_ce_scores(probs, template_mask=None):
    """(B, heads, T, L_s) template-to-search weights -> (B, L_s): mean over the (masked) template rows,
    then over heads."""
    probs = probs.float()
    if template_mask is None:
        return probs.mean(dim=2).mean(dim=1)
    weights = template_mask.to(probs.dtype)[:, None, :, None]
    return ((probs * weights).sum(dim=2) / weights.sum(dim=2).clamp(min=1)).mean(dim=1)
