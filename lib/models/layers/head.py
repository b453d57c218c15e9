"""OSTrack's center head: three conv towers predicting a center score map, box size and sub-cell offset.

Parameter names follow the official CenterPredictor (conv{1..4}_{ctr,offset,size}.{0: conv, 1: BN},
conv5_*) so official checkpoints load strictly.
"""

import torch
import torch.nn as nn


def conv_bn_relu(in_planes, out_planes):
    return nn.Sequential(
        nn.Conv2d(in_planes, out_planes, kernel_size=3, stride=1, padding=1, bias=True),
        nn.BatchNorm2d(out_planes),
        nn.ReLU(inplace=True),
    )


class CenterPredictor(nn.Module):
    BRANCHES = (('ctr', 1), ('offset', 2), ('size', 2))

    def __init__(self, inplanes=768, channel=256, feat_sz=16, stride=16):
        super().__init__()
        self.feat_sz = feat_sz
        self.stride = stride
        widths = [inplanes, channel, channel // 2, channel // 4, channel // 8]
        for branch, out_ch in self.BRANCHES:
            for i in range(4):
                self.add_module(f'conv{i + 1}_{branch}', conv_bn_relu(widths[i], widths[i + 1]))
            self.add_module(f'conv5_{branch}', nn.Conv2d(widths[4], out_ch, kernel_size=1))
        for p in self.parameters():
            if p.dim() > 1:
                nn.init.xavier_uniform_(p)

    def _branch(self, name, x):
        for i in range(1, 6):
            x = getattr(self, f'conv{i}_{name}')(x)
        return x

    def get_score_map(self, x):
        """x (B, C, H, W) -> score (B,1,H,W) and size (B,2,H,W) in (1e-4, 1-1e-4); raw offset (B,2,H,W)."""
        score = torch.sigmoid(self._branch('ctr', x)).clamp(1e-4, 1 - 1e-4)
        size = torch.sigmoid(self._branch('size', x)).clamp(1e-4, 1 - 1e-4)
        return score, size, self._branch('offset', x)

    def forward(self, x, gt_score_map=None):
        """Returns (score_map, bbox (B,4) cx,cy,w,h normalized, size_map, offset_map). With a GT score map
        (B,H,W) the box is read at its peak instead of the predicted one."""
        score_map, size_map, offset_map = self.get_score_map(x)
        peak_map = score_map if gt_score_map is None else gt_score_map.unsqueeze(1)
        return score_map, self.cal_bbox(peak_map, size_map, offset_map), size_map, offset_map

    @staticmethod
    def cal_bbox(score_map, size_map, offset_map, return_score=False):
        """Box at the score peak: score (B,1,H,W), size (B,2,H,W) normalized w,h, offset (B,2,H,W) in cells
        -> (B,4) normalized cx,cy,w,h with cx = (col + dx) / W, cy = (row + dy) / H. With return_score
        also the peak score (B,1)."""
        B, _, H, W = score_map.shape
        max_score, idx = score_map.flatten(1).max(dim=1, keepdim=True)
        idx_y = torch.div(idx, W, rounding_mode='floor')
        idx_x = idx % W
        gather_idx = idx.unsqueeze(1).expand(B, 2, 1)
        size = size_map.flatten(2).gather(2, gather_idx).squeeze(-1)
        offset = offset_map.flatten(2).gather(2, gather_idx).squeeze(-1)
        cx = (idx_x.to(offset.dtype) + offset[:, :1]) / W
        cy = (idx_y.to(offset.dtype) + offset[:, 1:]) / H
        bbox = torch.cat([cx, cy, size], dim=1)
        return (bbox, max_score) if return_score else bbox
