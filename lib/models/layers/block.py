"""Pre-norm ViT block (timm parameter names: norm1, attn.qkv, attn.proj, norm2, mlp.fc1, mlp.fc2) with
optional candidate elimination (CE) of search tokens between the attention and MLP sub-blocks."""

import math

import torch
import torch.nn as nn
from timm.layers import DropPath, Mlp

from lib.models.layers.attention import Attention, ce_scores_from_map


class Block(nn.Module):
    def __init__(
        self,
        dim,
        num_heads,
        mlp_ratio=4.0,
        qkv_bias=True,
        drop=0.0,
        attn_drop=0.0,
        drop_path=0.0,
        act_layer=nn.GELU,
        norm_layer=nn.LayerNorm,
        keep_ratio_search=1.0,
    ):
        super().__init__()
        self.norm1 = norm_layer(dim)
        self.attn = Attention(
            dim, num_heads=num_heads, qkv_bias=qkv_bias, attn_drop=attn_drop, proj_drop=drop
        )
        self.drop_path = DropPath(drop_path) if drop_path > 0.0 else nn.Identity()
        self.norm2 = norm_layer(dim)
        self.mlp = Mlp(in_features=dim, hidden_features=int(dim * mlp_ratio), act_layer=act_layer, drop=drop)
        # < 1 makes this block eliminate search tokens (a CE block)
        self.keep_ratio_search = keep_ratio_search

    def forward(self, x):
        x = x + self.drop_path(self.attn(self.norm1(x)))
        return x + self.drop_path(self.mlp(self.norm2(x)))

    def effective_keep_ratio(self, ce_keep_rate=None):
        """The ratio this block keeps, or None when it eliminates nothing. A training-schedule
        `ce_keep_rate` overrides the configured ratio of every CE block (the official behaviour);
        a rate >= 1 switches elimination off."""
        if self.keep_ratio_search >= 1:
            return None
        if ce_keep_rate is None:
            return self.keep_ratio_search
        return ce_keep_rate if ce_keep_rate < 1 else None

    def forward_ce(
        self, x, lens_t, global_index_s, ce_template_mask=None, ce_keep_rate=None, return_attention=False
    ):
        """x (B, lens_t + L_s, C); global_index_s (B, L_s) long: original search positions of x's search
        tokens. Returns (x, global_index_s, removed_index_s or None, attention map or None)."""
        keep_ratio = self.effective_keep_ratio(ce_keep_rate)
        lens_s = x.shape[1] - lens_t
        lens_keep = math.ceil(keep_ratio * lens_s) if keep_ratio is not None else lens_s
        attn_map = None
        if return_attention:
            x_attn, attn_map = self.attn(self.norm1(x), return_attention=True)
            scores = None
            if lens_keep < lens_s:
                scores = ce_scores_from_map(attn_map, lens_t, ce_template_mask)
        elif lens_keep < lens_s:
            x_attn, scores = self.attn.forward_with_ce_scores(self.norm1(x), lens_t, ce_template_mask)
        else:
            x_attn = self.attn(self.norm1(x))
        x = x + self.drop_path(x_attn)

        removed_index_s = None
        if lens_keep < lens_s:
            x, global_index_s, removed_index_s = eliminate_candidates(
                x, lens_t, scores, lens_keep, global_index_s
            )
        x = x + self.drop_path(self.mlp(self.norm2(x)))
        return x, global_index_s, removed_index_s, attn_map


def eliminate_candidates(x, lens_t, scores, lens_keep, global_index_s):
    """Keeps the template tokens and the `lens_keep` search tokens with the highest scores (in
    descending score order); returns (tokens, kept global indices, removed global indices)."""
    order = torch.sort(scores, dim=1, descending=True).indices
    keep, drop = order[:, :lens_keep], order[:, lens_keep:]
    search = x[:, lens_t:]
    kept_tokens = search.gather(1, keep.unsqueeze(-1).expand(-1, -1, x.shape[-1]))
    return (
        torch.cat([x[:, :lens_t], kept_tokens], dim=1),
        global_index_s.gather(1, keep),
        global_index_s.gather(1, drop),
    )
