"""One-stream ViT (OSTrack): template and search patches share one transformer.

Token layout: [template tokens (L_z) | search tokens (L_x)], no cls token in the forward pass. Each
crop gets its own position embedding (pos_embed_z, pos_embed_x), bicubically interpolated from the
pretrained 14x14 grid. With candidate elimination (CE) the blocks at `ce_loc` drop the search tokens
the template attends to least; the survivors are scattered back to their grid positions at the end
(eliminated positions are zeros), so the head always sees the full search map. Without CE this is a
plain ViT (same parameters, so CE and non-CE checkpoints are interchangeable).

Parameter names and shapes equal the official OSTrack/DropTrack ones (cls_token and the 14x14
pos_embed are kept, unused in forward, so official checkpoints load strictly).
"""

from functools import partial

import torch
import torch.nn as nn
import torch.nn.functional as F
from timm.layers import trunc_normal_

from lib.models.layers.block import Block
from lib.models.layers.patch_embed import PatchEmbed
from lib.utils.ce import CE_TYPE_SUFFIX

# TYPE stem -> (embed_dim, depth, num_heads); 'vit_patch16' takes them from the config keys.
VIT_SIZES = {
    'vit_base_patch16_224': (768, 12, 12),
    'vit_large_patch16_224': (1024, 24, 16),
    'vit_patch16': (None, None, None),
}
PRETRAIN_GRID = 14  # 224 / 16: the grid of the ImageNet/MAE position embedding


def parse_backbone_type(type_name):
    """'vit_base_patch16_224_ce' -> ((768, 12, 12), True). Unknown names raise ValueError."""
    ce = type_name.endswith(CE_TYPE_SUFFIX)
    stem = type_name[: -len(CE_TYPE_SUFFIX)] if ce else type_name
    if stem not in VIT_SIZES:
        valid = sorted(list(VIT_SIZES) + [s + CE_TYPE_SUFFIX for s in VIT_SIZES])
        raise ValueError(f"MODEL.BACKBONE.TYPE '{type_name}' is not supported (valid: {', '.join(valid)})")
    return VIT_SIZES[stem], ce


def interpolate_pos_embed(grid_pos_embed, out_hw):
    """(1, H*W, C) position embedding on a square grid -> (1, h*w, C) on `out_hw`, bicubic with
    align_corners=False (the official finetune_track resampling)."""
    _, n, c = grid_pos_embed.shape
    side = int(round(n**0.5))
    if side * side != n:
        raise ValueError(f"position embedding with {n} tokens is not a square grid")
    if (side, side) == tuple(out_hw):
        return grid_pos_embed.clone()
    grid = grid_pos_embed.transpose(1, 2).reshape(1, c, side, side)
    grid = F.interpolate(grid.float(), size=tuple(out_hw), mode='bicubic', align_corners=False)
    return grid.flatten(2).transpose(1, 2).to(grid_pos_embed.dtype)


class VisionTransformerCE(nn.Module):
    def __init__(
        self,
        template_size=128,
        search_size=256,
        patch_size=16,
        embed_dim=768,
        depth=12,
        num_heads=12,
        mlp_ratio=4.0,
        qkv_bias=True,
        drop_rate=0.0,
        attn_drop_rate=0.0,
        drop_path_rate=0.0,
        ce_loc=None,
        ce_keep_ratio=None,
        frame_identity_embed=False,
    ):
        super().__init__()
        ce_loc = list(ce_loc or [])
        ce_keep_ratio = list(ce_keep_ratio or [])
        if len(ce_keep_ratio) < len(ce_loc):
            raise ValueError(f"CE_KEEP_RATIO {ce_keep_ratio} needs one ratio per CE_LOC entry {ce_loc}")
        if any(not 0 <= i < depth for i in ce_loc):
            raise ValueError(f"CE_LOC {ce_loc} has block indices outside 0..{depth - 1}")
        for name, size in (('template', template_size), ('search', search_size)):
            if size % patch_size:
                raise ValueError(f"{name} size {size} is not a multiple of the patch size {patch_size}")
        self.embed_dim = self.num_features = embed_dim
        self.patch_size = patch_size
        self.grid_z = (template_size // patch_size,) * 2
        self.grid_x = (search_size // patch_size,) * 2
        self.ce_loc = ce_loc
        norm_layer = partial(nn.LayerNorm, eps=1e-6)

        self.patch_embed = PatchEmbed(patch_size=patch_size, embed_dim=embed_dim)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, 1 + PRETRAIN_GRID**2, embed_dim))
        self.pos_embed_z = nn.Parameter(torch.zeros(1, self.grid_z[0] * self.grid_z[1], embed_dim))
        self.pos_embed_x = nn.Parameter(torch.zeros(1, self.grid_x[0] * self.grid_x[1], embed_dim))
        if frame_identity_embed:  # DropTrack: one learned vector per frame role, N(0, 1) init
            self.temporal_pos_embed_z = nn.Parameter(torch.randn(1, 1, embed_dim))
            self.temporal_pos_embed_x = nn.Parameter(torch.randn(1, 1, embed_dim))
        self.frame_identity_embed = frame_identity_embed
        self.pos_drop = nn.Dropout(p=drop_rate)

        dpr = torch.linspace(0, drop_path_rate, depth, device='cpu').tolist()  # stochastic depth rule
        keep = {loc: ratio for loc, ratio in zip(ce_loc, ce_keep_ratio)}
        self.blocks = nn.Sequential(
            *[
                Block(
                    embed_dim,
                    num_heads,
                    mlp_ratio=mlp_ratio,
                    qkv_bias=qkv_bias,
                    drop=drop_rate,
                    attn_drop=attn_drop_rate,
                    drop_path=dpr[i],
                    norm_layer=norm_layer,
                    keep_ratio_search=keep.get(i, 1.0),
                )
                for i in range(depth)
            ]
        )
        self.norm = norm_layer(embed_dim)
        self._init_weights()
        self.reset_track_pos_embed()

    @property
    def uses_ce(self):
        return any(blk.keep_ratio_search < 1 for blk in self.blocks)

    def _init_weights(self):
        trunc_normal_(self.pos_embed, std=0.02)
        trunc_normal_(self.cls_token, std=0.02)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                trunc_normal_(m.weight, std=0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.LayerNorm):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    @torch.no_grad()
    def reset_track_pos_embed(self, grid_pos_embed=None):
        """Sets pos_embed_z / pos_embed_x by interpolating a square-grid embedding (1, N, C) without
        prefix tokens; default: the patch part of self.pos_embed."""
        if grid_pos_embed is None:
            grid_pos_embed = self.pos_embed[:, 1:]
        self.pos_embed_z.copy_(interpolate_pos_embed(grid_pos_embed, self.grid_z))
        self.pos_embed_x.copy_(interpolate_pos_embed(grid_pos_embed, self.grid_x))

    def embed_template(self, z):
        """Template patch tokens with position (and frame identity) embeddings: (B, L_z, C)."""
        z = self.patch_embed(z) + self.pos_embed_z
        return z + self.temporal_pos_embed_z if self.frame_identity_embed else z

    def embed_search(self, x):
        x = self.patch_embed(x) + self.pos_embed_x
        return x + self.temporal_pos_embed_x if self.frame_identity_embed else x

    def embed(self, z, x):
        """Patch tokens with position (and frame identity) embeddings: (B, L_z, C), (B, L_x, C)."""
        return self.embed_template(z), self.embed_search(x)

    def forward(
        self, z, x, ce_template_mask=None, ce_keep_rate=None, return_last_attn=False, template_tokens=None
    ):
        """z (B,3,Hz,Wz), x (B,3,Hx,Wx) -> tokens (B, L_z + L_x, C) after the final norm, and an aux dict
        {'attn': last block's attention map or None, 'removed_indexes_s': per CE block (B, n) long or None}.

        ce_template_mask (B, L_z) bool selects the template rows whose attention ranks the search
        tokens (None = all); ce_keep_rate overrides every CE block's keep ratio (training schedule).
        template_tokens: embed_template(z) computed earlier (a tracker caches it per sequence); z is
        then ignored (may be None)."""
        z = self.embed_template(z) if template_tokens is None else template_tokens
        x = self.embed_search(x)
        lens_z, lens_x = z.shape[1], x.shape[1]
        tokens = self.pos_drop(torch.cat([z, x], dim=1))
        aux = {'attn': None, 'removed_indexes_s': []}
        if not self.uses_ce and not return_last_attn:
            return self.norm(self.blocks(tokens)), aux

        global_index_s = torch.arange(lens_x, device=tokens.device).expand(tokens.shape[0], -1)
        last = len(self.blocks) - 1
        for i, blk in enumerate(self.blocks):
            tokens, global_index_s, removed, attn = blk.forward_ce(
                tokens,
                lens_z,
                global_index_s,
                ce_template_mask,
                ce_keep_rate,
                return_attention=return_last_attn and i == last,
            )
            if blk.keep_ratio_search < 1:
                aux['removed_indexes_s'].append(removed)
        aux['attn'] = attn
        tokens = self.norm(tokens)
        z_out, x_out = tokens[:, :lens_z], tokens[:, lens_z:]
        if x_out.shape[1] < lens_x:
            x_out = restore_search_tokens(x_out, global_index_s, lens_x)
        return torch.cat([z_out, x_out], dim=1), aux


def restore_search_tokens(kept_tokens, kept_index, lens_x):
    """Scatters (B, n, C) kept search tokens to their original positions of a (B, lens_x, C) map;
    eliminated positions are zeros."""
    B, _, C = kept_tokens.shape
    out = kept_tokens.new_zeros(B, lens_x, C)
    return out.scatter(1, kept_index.unsqueeze(-1).expand(-1, -1, C), kept_tokens)
