"""The LoRAT model (LoRAT_DINOv2 of the official code) and its MLP anchor-free head.

Only the DINOv2 patch embedding, blocks and final norm are kept (no cls token). The pretrained 37x37
position embedding is resized once to the search grid and stored as the parameter `pos_embed`
(1, Hx*Wx, d); the template reuses its top-left Hz x Wz window. A token type embedding (3, d) marks
template background (0), template foreground (1) and search (2) tokens. Template and search tokens run
jointly through every block; the head reads the normed search tokens.
"""

import numpy as np
import torch
import torch.nn as nn
from torch.nn.init import trunc_normal_

from lib.models.backbones.dinov2 import interpolate_pos_embed

TYPE_TEMPLATE_BACKGROUND, TYPE_TEMPLATE_FOREGROUND, TYPE_SEARCH = 0, 1, 2


def cell_centres(map_hw):
    """(H, W, 2) normalised (x, y) centres of the cells of an H x W map: ((j + 0.5) / W, (i + 0.5) / H)."""
    h, w = map_hw
    xs = torch.linspace(0.5, w - 0.5, w) / w
    ys = torch.linspace(0.5, h - 0.5, h) / h
    grid_y, grid_x = torch.meshgrid(ys, xs, indexing='ij')
    return torch.stack((grid_x, grid_y), dim=-1)


class MlpStack(nn.Module):
    """Linear layers (`layers.{i}`) with GELU between them."""

    def __init__(self, in_features, hidden_features, out_features, num_layers=3):
        super().__init__()
        dims = [in_features] + [hidden_features] * (num_layers - 1) + [out_features]
        self.layers = nn.ModuleList(nn.Linear(dims[i], dims[i + 1]) for i in range(num_layers))
        self.act = nn.GELU()

    def forward(self, x):
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < len(self.layers) - 1:
                x = self.act(x)
        return x


class MlpAnchorFreeHead(nn.Module):
    """Per search token: a score logit (cls_mlp) and four sigmoid distances l, t, r, b (reg_mlp) from the
    cell centre, in units of the search crop; boxes are x1y1x2y2 normalised to the crop."""

    def __init__(self, dim, map_hw):
        super().__init__()
        self.map_hw = tuple(map_hw)
        self.cls_mlp = MlpStack(dim, dim, 1)
        self.reg_mlp = MlpStack(dim, dim, 4)
        self.register_buffer('bbox_offset', cell_centres(self.map_hw), persistent=False)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                trunc_normal_(m.weight, std=0.02)
                nn.init.zeros_(m.bias)

    def forward(self, x):
        """x (B, H*W, C) -> {'score_map': (B, H, W) float32 logits, 'boxes': (B, H, W, 4) float32}."""
        h, w = self.map_hw
        score_map = self.cls_mlp(x).float().view(-1, h, w)
        lt, rb = self.reg_mlp(x).float().view(-1, h, w, 4).sigmoid().chunk(2, dim=-1)
        centres = self.bbox_offset.unsqueeze(0)
        return {'score_map': score_map, 'boxes': torch.cat((centres - lt, centres + rb), dim=-1)}


class LoRAT(nn.Module):
    def __init__(self, backbone, template_feat_hw, search_feat_hw):
        super().__init__()
        self.z_hw, self.x_hw = tuple(template_feat_hw), tuple(search_feat_hw)
        if self.z_hw[0] > self.x_hw[0] or self.z_hw[1] > self.x_hw[1]:
            raise ValueError(f"template feature grid {self.z_hw} must fit inside the search grid {self.x_hw}")
        self.embed_dim = dim = backbone.embed_dim
        pretrained = backbone.pos_embed.detach()[:, 1:]
        self.pos_embed = nn.Parameter(interpolate_pos_embed(pretrained, backbone.pos_grid, self.x_hw).clone())
        self.token_type_embed = nn.Parameter(torch.empty(3, dim))
        trunc_normal_(self.token_type_embed, std=0.02)
        self.patch_embed = backbone.patch_embed
        self.blocks = backbone.blocks
        self.norm = backbone.norm
        self.head = MlpAnchorFreeHead(dim, self.x_hw)

    @property
    def patch_size(self):
        return self.patch_embed.patch_size

    def template_pos_embed(self):
        (zh, zw), (xh, xw) = self.z_hw, self.x_hw
        return self.pos_embed.view(1, xh, xw, -1)[:, :zh, :zw].reshape(1, zh * zw, -1)

    def embed_template(self, z, z_feat_mask):
        """Template tokens (B, Hz*Wz, d): patch + position + token type (foreground / background)."""
        tokens = self.patch_embed(z) + self.template_pos_embed()
        return tokens + self.token_type_embed[z_feat_mask.flatten(1).long()]

    def embed_search(self, x):
        return self.patch_embed(x) + self.pos_embed + self.token_type_embed[TYPE_SEARCH].view(1, 1, -1)

    def forward_features(self, z, x, z_feat_mask, template_tokens=None):
        """Normed search tokens (B, Hx*Wx, d) after the joint blocks."""
        z_tokens = self.embed_template(z, z_feat_mask) if template_tokens is None else template_tokens
        tokens = torch.cat((z_tokens, self.embed_search(x)), dim=1)
        for block in self.blocks:
            tokens = block(tokens)
        return self.norm(tokens)[:, z_tokens.shape[1] :]

    def forward(self, z, x, z_feat_mask, template_tokens=None):
        """z (B,3,Hz*14,Wz*14), x (B,3,Hx*14,Wx*14) normalised crops; z_feat_mask (B,Hz,Wz) int (1 where
        the template patch touches the target box). Returns {'score_map': (B,Hx,Wx) logits,
        'boxes': (B,Hx,Wx,4) x1y1x2y2 normalised to the search crop}. template_tokens:
        embed_template(z, z_feat_mask) computed once per sequence (z and z_feat_mask may be None)."""
        return self.head(self.forward_features(z, x, z_feat_mask, template_tokens))


def template_foreground_mask(boxes_xyxy, template_size, feat_hw):
    """Template token types from target boxes in template-crop pixels: boxes (B, 4) x1y1x2y2 ->
    (B, H, W) int64 with 1 on every patch the box touches (x1, y1 floored; x2, y2 -> floor(x2 + 1 - 1e-4),
    end exclusive), clipped to the grid; 0 elsewhere. template_size is (H, W) in pixels."""
    # numpy: boxes come from the host, and a data-loader worker calls this once per sample (torch's
    # per-op dispatch on these few values cost more than the arithmetic)
    boxes = np.asarray(
        boxes_xyxy.cpu() if isinstance(boxes_xyxy, torch.Tensor) else boxes_xyxy, dtype=np.float64
    ).reshape(-1, 4)
    h, w = feat_hw
    cells = boxes / np.array([template_size[1] / w, template_size[0] / h] * 2, dtype=np.float64)
    cells[:, 2:] += 1 - 1e-4
    cells = np.floor(cells).astype(np.int64)
    x1, x2 = cells[:, 0].clip(0, w), cells[:, 2].clip(0, w)
    y1, y2 = cells[:, 1].clip(0, h), cells[:, 3].clip(0, h)
    cols, rows = np.arange(w), np.arange(h)
    in_x = (cols[None] >= x1[:, None]) & (cols[None] < x2[:, None])
    in_y = (rows[None] >= y1[:, None]) & (rows[None] < y2[:, None])
    return torch.from_numpy((in_y[:, :, None] & in_x[:, None, :]).astype(np.int64))
