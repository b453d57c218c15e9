"""Conv patch embedding that accepts any input size (template and search crops differ)."""

import torch.nn as nn


class PatchEmbed(nn.Module):
    def __init__(self, patch_size=16, in_chans=3, embed_dim=768):
        super().__init__()
        self.patch_size = patch_size
        self.proj = nn.Conv2d(in_chans, embed_dim, kernel_size=patch_size, stride=patch_size)

    def forward(self, x):
        """(B, 3, H, W) -> (B, H/p * W/p, C), row-major over the patch grid."""
        return self.proj(x).flatten(2).transpose(1, 2)
