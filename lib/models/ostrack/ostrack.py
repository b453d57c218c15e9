"""OSTrack: one-stream ViT backbone + center head (DropTrack = the same with frame identity embeddings)."""

import os

import torch
import torch.nn as nn

from lib.models.backbones.pretrained import load_pretrained_vit
from lib.models.backbones.vit_ce import VisionTransformerCE, parse_backbone_type
from lib.models.layers.head import CenterPredictor
from lib.models.ostrack.weights import WHOLE_OSTRACK_LAYOUTS, lineage_layout
from lib.utils.ce import ce_layers
from lib.utils.checkpoint import load_tensors
from lib.utils.local_settings import resolve_pretrained_path


class OSTrack(nn.Module):
    def __init__(self, backbone, box_head):
        super().__init__()
        self.backbone = backbone
        self.box_head = box_head
        self.feat_sz_s = int(box_head.feat_sz)
        self.feat_len_s = self.feat_sz_s**2

    def forward(
        self,
        template,
        search,
        ce_template_mask=None,
        ce_keep_rate=None,
        return_last_attn=False,
        template_tokens=None,
    ):
        """template (B,3,Hz,Wz), search (B,3,Hx,Wx) -> dict:
        'pred_boxes' (B,1,4) cx,cy,w,h normalized to the search crop; 'score_map' (B,1,H,W) sigmoid;
        'size_map' (B,2,H,W); 'offset_map' (B,2,H,W); 'backbone_feat' (B, L_z+L_x, C);
        'aux_dict' {'attn', 'removed_indexes_s'} (the latter also at top level, as in the official model).
        template_tokens: embed_template(template) computed once per sequence (template may be None)."""
        feat, aux = self.backbone(
            template,
            search,
            ce_template_mask=ce_template_mask,
            ce_keep_rate=ce_keep_rate,
            return_last_attn=return_last_attn,
            template_tokens=template_tokens,
        )
        out = self.forward_head(feat)
        out.update(aux_dict=aux, backbone_feat=feat, removed_indexes_s=aux['removed_indexes_s'])
        return out

    def embed_template(self, template):
        """The template's tokens (B, L_z, C) for forward(..., template_tokens=...)."""
        return self.backbone.embed_template(template)

    def forward_head(self, cat_feature, gt_score_map=None):
        """Runs the head on the last feat_sz^2 tokens (the search map)."""
        search = cat_feature[:, -self.feat_len_s :]
        fmap = search.transpose(1, 2).reshape(search.shape[0], -1, self.feat_sz_s, self.feat_sz_s)
        score_map, bbox, size_map, offset_map = self.box_head(fmap, gt_score_map)
        return {
            'pred_boxes': bbox.view(bbox.shape[0], 1, 4),
            'score_map': score_map,
            'size_map': size_map,
            'offset_map': offset_map,
        }


def _check_supported(cfg):
    bb = cfg.MODEL.BACKBONE
    unsupported = [
        (f'MODEL.BACKBONE.CAT_MODE={bb.CAT_MODE!r}', bb.CAT_MODE != 'direct'),
        ('MODEL.BACKBONE.SEP_SEG=True', bb.SEP_SEG),
        ('MODEL.RETURN_INTER=True', cfg.MODEL.RETURN_INTER),
        (f'MODEL.HEAD.TYPE={cfg.MODEL.HEAD.TYPE!r}', cfg.MODEL.HEAD.TYPE != 'CENTER'),
    ]
    bad = [name for name, is_set in unsupported if is_set]
    if bad:
        raise ValueError(
            f"unsupported OSTrack option(s): {', '.join(bad)} (no published config uses them; "
            f"supported: CAT_MODE 'direct', SEP_SEG False, RETURN_INTER False, "
            f"HEAD.TYPE 'CENTER')"
        )


def build_backbone(cfg):
    bb = cfg.MODEL.BACKBONE
    (embed_dim, depth, num_heads), _ = parse_backbone_type(bb.TYPE)
    ce_loc = ce_layers(cfg)
    embed_dim, depth, num_heads = bb.EMBED_DIM or embed_dim, bb.DEPTH or depth, bb.NUM_HEADS or num_heads
    if not (embed_dim and depth and num_heads):
        raise ValueError(
            f"MODEL.BACKBONE.TYPE '{bb.TYPE}' needs MODEL.BACKBONE.EMBED_DIM, DEPTH and NUM_HEADS"
        )
    return VisionTransformerCE(
        template_size=cfg.DATA.TEMPLATE.SIZE,
        search_size=cfg.DATA.SEARCH.SIZE,
        patch_size=bb.STRIDE,
        embed_dim=embed_dim,
        depth=depth,
        num_heads=num_heads,
        drop_path_rate=cfg.TRAIN.DROP_PATH_RATE,
        ce_loc=ce_loc or None,
        ce_keep_ratio=bb.CE_KEEP_RATIO if ce_loc else None,
        frame_identity_embed=bb.FRAME_IDENTITY_EMBED,
    )


def build_ostrack(cfg, training=True):
    """The model of a merged OSTrack/DropTrack config. With training and MODEL.PRETRAIN_FILE set, the
    backbone starts from that MAE/DropMAE/timm ViT file, or, when the name contains 'OSTrack' or the file
    holds a whole OSTrack/DropTrack model (e.g. a converted one), the whole model from that checkpoint
    (non-strict, differences printed)."""
    _check_supported(cfg)
    backbone = build_backbone(cfg)
    head = CenterPredictor(
        inplanes=backbone.embed_dim,
        channel=cfg.MODEL.HEAD.NUM_CHANNELS,
        feat_sz=cfg.DATA.SEARCH.SIZE // cfg.MODEL.BACKBONE.STRIDE,
        stride=cfg.MODEL.BACKBONE.STRIDE,
    )
    model = OSTrack(backbone, head)
    name = cfg.MODEL.PRETRAIN_FILE
    if training and name:
        path = resolve_pretrained_path(name)
        tensors = load_tensors(path)
        # The official test is the file name; a converted whole-model file may be named anything, so
        # its content (an OSTrack / DropTrack model's keys) counts too.
        if 'OSTrack' in os.path.basename(name) or lineage_layout(tensors) in WHOLE_OSTRACK_LAYOUTS:
            result = model.load_state_dict(tensors, strict=False)
            print(
                f"Initialised from {path}; missing: {result.missing_keys or 'none'}; "
                f"unexpected: {result.unexpected_keys or 'none'}"
            )
        else:
            load_pretrained_vit(backbone, path, tensors=tensors)
    return model


build = build_ostrack

__all__ = ['OSTrack', 'build_ostrack', 'build', 'build_backbone']


def profile_inputs(cfg, batch=1):
    """Random (template, search) crops at the test sizes: the forward arguments the profiler times."""
    z, x = cfg.TEST.TEMPLATE_SIZE, cfg.TEST.SEARCH_SIZE
    return torch.randn(batch, 3, z, z), torch.randn(batch, 3, x, x)


# What the lineage's forward returns for the box: the exported graph's outputs.
EXPORT_OUTPUTS = ('pred_boxes', 'score_map', 'size_map', 'offset_map')


def export_inputs(cfg, batch: int = 1):
    """The forward's named example inputs at the test crop sizes: template and search crops, and with
    candidate elimination the template-token mask of MODEL.BACKBONE.CE_TEMPLATE_RANGE ('ALL': none)."""
    from lib.families import ExportInputs
    from lib.utils.ce import generate_ce_template_mask

    template, search = profile_inputs(cfg, batch)
    inputs = {'template': template, 'search': search}
    if ce_layers(cfg):
        # the target fills the middle half of a template cropped at the lineage's factor 2
        centred_box = torch.tensor([[0.25, 0.25, 0.5, 0.5]]).repeat(batch, 1)
        mask = generate_ce_template_mask(cfg, batch, 'cpu', centred_box)
        if mask is not None:
            inputs['ce_template_mask'] = mask
    return ExportInputs(inputs=inputs, outputs=EXPORT_OUTPUTS)
