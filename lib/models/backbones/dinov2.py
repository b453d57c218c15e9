"""DINOv2 ViT-S/14, B/14, L/14 and g/14 with the official parameter layout.

State-dict keys equal those of the released `dinov2_vit{s,b,l,g}14_pretrain.pth` files: cls_token,
pos_embed (1, 1 + 37*37, d), mask_token, patch_embed.proj.*, blocks.N.{norm1, attn.qkv, attn.proj,
ls1.gamma, norm2, mlp.fc1/fc2 (g: mlp.w12/w3), ls2.gamma}, norm.*. Files in timm's layout
(vit_*_patch14_dinov2: no mask_token, SwiGLU as mlp.fc1/fc2) load too; nothing is ever downloaded.

Attention is lib.models.layers.attention.Attention (F.scaled_dot_product_attention). LayerScale init
1e-5, LayerNorm eps 1e-6, biases everywhere, the same drop-path rate in every block; as in DINOv2, a
rate above 0.1 drops whole samples from the residual branch's batch and rescales the rest.
"""

import torch
import torch.nn as nn
import torch.nn.functional as F
from timm.layers import DropPath, LayerScale, Mlp
from torch.nn.init import trunc_normal_

from lib.models.layers.attention import Attention
from lib.models.layers.patch_embed import PatchEmbed
from lib.utils.checkpoint import load_tensors

DINOV2_ARCHS = {
    'ViT-S/14': dict(embed_dim=384, depth=12, num_heads=6, ffn='mlp'),
    'ViT-B/14': dict(embed_dim=768, depth=12, num_heads=12, ffn='mlp'),
    'ViT-L/14': dict(embed_dim=1024, depth=24, num_heads=16, ffn='mlp'),
    'ViT-g/14': dict(embed_dim=1536, depth=40, num_heads=24, ffn='swiglu'),
}
# Other spellings users know: torch-hub names and timm model names.
DINOV2_ALIASES = {
    **{f'dinov2_vit{s}14': n for s, n in zip('sblg', DINOV2_ARCHS)},
    **{f'vit_{s}_patch14_dinov2': n for s, n in zip(('small', 'base', 'large', 'giant'), DINOV2_ARCHS)},
}
PATCH_SIZE = 14
PRETRAINED_IMG_SIZE = 518  # 37 x 37 patch grid


def dinov2_arch(name):
    """Architecture dict of a DINOv2 name ('ViT-B/14', 'dinov2_vitb14', 'vit_base_patch14_dinov2')."""
    key = DINOV2_ALIASES.get(name.split('.')[0], name)
    if key not in DINOV2_ARCHS:
        raise ValueError(f"unknown DINOv2 backbone '{name}' (expected one of {', '.join(DINOV2_ARCHS)})")
    return dict(DINOV2_ARCHS[key])


def swiglu_hidden_features(dim, mlp_ratio=4.0):
    """DINOv2's fused SwiGLU width: 2/3 of the MLP width rounded up to a multiple of 8 (g: 4096)."""
    return (int(dim * mlp_ratio * 2 / 3) + 7) // 8 * 8


class SwiGLUFFN(nn.Module):
    """w12: in -> 2*hidden (gate half first), w3: hidden -> out; silu(x1) * x2."""

    def __init__(self, in_features, hidden_features, bias=True):
        super().__init__()
        self.w12 = nn.Linear(in_features, 2 * hidden_features, bias=bias)
        self.w3 = nn.Linear(hidden_features, in_features, bias=bias)

    def forward(self, x):
        x1, x2 = self.w12(x).chunk(2, dim=-1)
        return self.w3(F.silu(x1) * x2)


def _residual_on_sample_subset(x, residual_fn, drop_ratio):
    """DINOv2's batch stochastic depth: the branch runs on a random subset of the batch and its output
    is added back with weight batch / subset."""
    b = x.shape[0]
    keep = max(int(b * (1 - drop_ratio)), 1)
    idx = torch.randperm(b, device=x.device)[:keep]
    residual = residual_fn(x[idx]).flatten(1).to(x.dtype)
    return torch.index_add(x.flatten(1), 0, idx, residual, alpha=b / keep).view_as(x)


class DinoV2Block(nn.Module):
    def __init__(self, dim, num_heads, ffn='mlp', mlp_ratio=4.0, drop_path=0.0, init_values=1e-5):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, num_heads=num_heads, qkv_bias=True)
        self.ls1 = LayerScale(dim, init_values=init_values) if init_values else nn.Identity()
        self.drop_path1 = DropPath(drop_path) if drop_path > 0 else nn.Identity()
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        if ffn == 'swiglu':
            self.mlp = SwiGLUFFN(dim, swiglu_hidden_features(dim, mlp_ratio))
        elif ffn == 'mlp':
            self.mlp = Mlp(dim, int(dim * mlp_ratio), act_layer=nn.GELU)
        else:
            raise ValueError(f"unknown DINOv2 ffn '{ffn}' (expected 'mlp' or 'swiglu')")
        self.ls2 = LayerScale(dim, init_values=init_values) if init_values else nn.Identity()
        self.drop_path2 = DropPath(drop_path) if drop_path > 0 else nn.Identity()
        self.drop_path_rate = drop_path

    def _attn_branch(self, x):
        return self.ls1(self.attn(self.norm1(x)))

    def _ffn_branch(self, x):
        return self.ls2(self.mlp(self.norm2(x)))

    def forward(self, x):
        if self.training and self.drop_path_rate > 0.1:
            x = _residual_on_sample_subset(x, self._attn_branch, self.drop_path_rate)
            return _residual_on_sample_subset(x, self._ffn_branch, self.drop_path_rate)
        x = x + self.drop_path1(self._attn_branch(x))
        return x + self.drop_path2(self._ffn_branch(x))


def interpolate_pos_embed(pos_embed, old_hw, new_hw):
    """(1, old_h*old_w, d) grid (no prefix tokens) -> (1, new_h*new_w, d): bicubic to an explicit output
    size, computed in float32, returned in the input dtype."""
    if tuple(old_hw) == tuple(new_hw):
        return pos_embed
    d = pos_embed.shape[-1]
    grid = pos_embed.float().reshape(1, old_hw[0], old_hw[1], d).permute(0, 3, 1, 2)
    grid = F.interpolate(grid, size=tuple(new_hw), mode='bicubic', align_corners=False)
    return grid.permute(0, 2, 3, 1).reshape(1, -1, d).to(pos_embed.dtype)


class DinoVisionTransformer(nn.Module):
    def __init__(
        self,
        embed_dim,
        depth,
        num_heads,
        ffn='mlp',
        patch_size=PATCH_SIZE,
        img_size=PRETRAINED_IMG_SIZE,
        drop_path_rate=0.0,
        init_values=1e-5,
        mlp_ratio=4.0,
    ):
        super().__init__()
        self.embed_dim, self.patch_size = embed_dim, patch_size
        self.pos_grid = (img_size // patch_size, img_size // patch_size)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, 1 + self.pos_grid[0] * self.pos_grid[1], embed_dim))
        self.mask_token = nn.Parameter(torch.zeros(1, embed_dim))
        self.patch_embed = PatchEmbed(patch_size, 3, embed_dim)
        self.blocks = nn.ModuleList(
            DinoV2Block(embed_dim, num_heads, ffn, mlp_ratio, drop_path_rate, init_values)
            for _ in range(depth)
        )
        self.norm = nn.LayerNorm(embed_dim, eps=1e-6)
        trunc_normal_(self.pos_embed, std=0.02)
        nn.init.normal_(self.cls_token, std=1e-6)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                trunc_normal_(m.weight, std=0.02)
                nn.init.zeros_(m.bias)

    def forward_features(self, x):
        """Image (B, 3, H, W) -> final-norm tokens (B, 1 + H/14 * W/14, d), cls token first."""
        h, w = x.shape[-2] // self.patch_size, x.shape[-1] // self.patch_size
        x = self.patch_embed(x)
        pos = self.pos_embed
        pos = torch.cat([pos[:, :1], interpolate_pos_embed(pos[:, 1:], self.pos_grid, (h, w))], dim=1)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + pos.to(x.dtype)
        for block in self.blocks:
            x = block(x)
        return self.norm(x)


def build_dinov2(name, drop_path_rate=0.0, embed_dim=0, depth=0, num_heads=0, img_size=PRETRAINED_IMG_SIZE):
    """A randomly initialised DINOv2 ViT; non-zero embed_dim/depth/num_heads override the named size
    (small stand-ins for tests and CPU runs)."""
    arch = dinov2_arch(name)
    for key, value in (('embed_dim', embed_dim), ('depth', depth), ('num_heads', num_heads)):
        if value:
            arch[key] = value
    return DinoVisionTransformer(drop_path_rate=drop_path_rate, img_size=img_size, **arch)


# Checkpoint layouts of DINOv2 backbone files (MODEL.PRETRAIN_FILE of LoRAT), as recorded by
# tracking/convert_checkpoint.py: the official dinov2_vit*14_pretrain.pth (mask_token; ViT-g's fused
# SwiGLU as mlp.w12/w3), and timm's vit_*_patch14_dinov2 files (no mask_token; SwiGLU as mlp.fc1/fc2;
# maybe a classifier head / fc_norm). Our backbone's keys are the official ones.
DINOV2_LAYOUTS = ('dinov2-official', 'dinov2-timm')


def dinov2_layout(tensors: dict) -> str | None:
    """'dinov2-official' or 'dinov2-timm' for a DINOv2 backbone file, None for anything else. DINOv2 is
    told from other ViTs by its LayerScale (blocks.N.ls1.gamma); the official files alone carry
    mask_token (timm drops it) or name the SwiGLU layers w12/w3."""
    if 'patch_embed.proj.weight' not in tensors or not any(k.endswith('.ls1.gamma') for k in tensors):
        return None
    if 'mask_token' in tensors or any('.mlp.w12.' in k for k in tensors):
        return 'dinov2-official'
    return 'dinov2-timm'


def dinov2_checkpoint_filter(tensors: dict, swiglu: bool, source: str = 'state dict') -> dict:
    """Tensors in the official or timm DINOv2 layout -> our (official) keys: timm's classifier and
    pooling norm dropped, and for a SwiGLU model timm's mlp.fc1/fc2 renamed to w12/w3 (a plain MLP
    has fc1/fc2 in both layouts). Pure: nothing is loaded."""
    for bad in ('register_tokens', 'reg_token'):
        if bad in tensors:
            raise ValueError(
                f"{source}: '{bad}' found: DINOv2 with registers is a different model "
                f"(expected the plain dinov2_vit*14_pretrain weights)"
            )
    out = {}
    for key, value in tensors.items():
        if key.startswith('head.') or key in ('fc_norm.weight', 'fc_norm.bias'):
            continue  # classifier / pooling norm of a timm model: unused
        if swiglu and '.mlp.fc1.' in key:
            key = key.replace('.mlp.fc1.', '.mlp.w12.')
        elif swiglu and '.mlp.fc2.' in key:
            key = key.replace('.mlp.fc2.', '.mlp.w3.')
        out[key] = value
    return out


def dinov2_state_dict(tensors, model, source='state dict'):
    """Tensors in the official or timm DINOv2 layout -> the official layout of `model`."""
    return dinov2_checkpoint_filter(tensors, isinstance(model.blocks[0].mlp, SwiGLUFFN), source)


def read_weights(path):
    """lib.utils.checkpoint.load_tensors (which reads a file holding safetensors data as safetensors
    whatever its extension: the official LoRAT releases are safetensors named .bin)."""
    return load_tensors(path)


def load_dinov2_pretrained(model, path):
    """Loads a local DINOv2 file (official .pth or timm .safetensors/.bin layout) into `model`."""
    return load_dinov2_state_dict(model, read_weights(path), source=path)


def load_dinov2_state_dict(model, tensors, source='state dict'):
    """Official- or timm-layout DINOv2 tensors into `model`. mask_token (absent from timm files) may be
    missing; anything else missing, extra or mis-shaped is a ValueError naming `source`."""
    tensors = dinov2_state_dict(tensors, model, source=source)
    own = model.state_dict()
    missing = sorted(set(own) - set(tensors) - {'mask_token'})
    unexpected = sorted(set(tensors) - set(own))
    wrong = [
        f'{k}: file {tuple(tensors[k].shape)}, model {tuple(own[k].shape)}'
        for k in own
        if k in tensors and tensors[k].shape != own[k].shape
    ]
    if missing or unexpected or wrong:
        raise ValueError(
            f"{source} does not fit the DINOv2 model (embed_dim {model.embed_dim}, "
            f"{len(model.blocks)} blocks): missing {missing[:5]}, unexpected {unexpected[:5]}, "
            f"shape mismatch {wrong[:3]}"
        )
    model.load_state_dict(tensors, strict=False)
    return model
