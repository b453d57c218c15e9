"""Stand-ins for the training tests: a small in-memory video dataset (BaseVideoDataset API), an
image dataset, a tiny model with OSTrack's output dict, and a tiny lineage config."""

import numpy as np
import torch
import torch.nn as nn

from lib.config import load_config


def write_small_lasot(root, size):
    """Two short synthetic LaSOT-layout sequences of (w, h) JPEG frames (quality 90) under root."""
    from lib.utils.synthetic import write_lasot

    write_lasot(
        str(root), classes=1, seqs_per_class=2, test_per_class=0, size=size, frame_range=(24, 28), quality=90
    )
    return str(root)


class ToyVideoDataset:
    """Sequences of flat grey frames with a bright box moving right by 1 px per frame."""

    def __init__(
        self,
        name='TOY',
        num_sequences=3,
        length=30,
        image_size=(96, 128),
        invisible=(),
        video=True,
        fail_frames=(),
    ):
        self.name, self.num_sequences, self.length = name, num_sequences, length
        self.image_size, self.invisible, self.video = image_size, set(invisible), video
        self.fail_frames = set(fail_frames)
        self.frame_requests = []

    def get_name(self):
        return self.name

    def is_video_sequence(self):
        return self.video

    def has_class_info(self):
        return False

    def has_occlusion_info(self):
        return True

    def get_num_sequences(self):
        return self.num_sequences

    def __len__(self):
        return self.num_sequences

    def _boxes(self, seq_id):
        n = self.length if self.video else 1
        x = 20.0 + torch.arange(n, dtype=torch.float32) + 3 * seq_id
        const = [torch.full_like(x, v) for v in (30.0, 24.0, 18.0)]
        return torch.stack([x] + const, 1)

    def get_sequence_info(self, seq_id):
        bbox = self._boxes(seq_id)
        visible = torch.tensor([i not in self.invisible for i in range(len(bbox))])
        return {'bbox': bbox, 'valid': torch.ones(len(bbox), dtype=torch.bool), 'visible': visible}

    def get_frames(self, seq_id, frame_ids, anno=None, encoded=False):  # arrays even when encoded
        self.frame_requests.append((seq_id, list(frame_ids)))
        if self.fail_frames & set(frame_ids):
            raise OSError(f'cannot read frame {frame_ids} of sequence {seq_id}')
        anno = anno or self.get_sequence_info(seq_id)
        frames, boxes = [], []
        for f in frame_ids:
            f = f if self.video else 0
            img = np.full(self.image_size + (3,), 60, dtype=np.uint8)
            x, y, w, h = [int(v) for v in anno['bbox'][f].tolist()]
            img[y : y + h, x : x + w] = (200, 120, 40)
            frames.append(img)
            boxes.append(anno['bbox'][f].clone())
        out = {
            'bbox': boxes,
            'valid': [anno['valid'][0]] * len(boxes),
            'visible': [anno['visible'][0]] * len(boxes),
        }
        return frames, out, {'object_class_name': 'toy'}


def tiny_cfg(epochs=3, samples=4, batch=2, ce=True):
    cfg = load_config('ostrack')
    cfg.DATA.TEMPLATE.SIZE, cfg.DATA.SEARCH.SIZE = 32, 64
    cfg.DATA.SEARCH.FACTOR, cfg.DATA.SEARCH.CENTER_JITTER, cfg.DATA.SEARCH.SCALE_JITTER = 4.0, 3.0, 0.25
    cfg.DATA.MAX_SAMPLE_INTERVAL = 10
    cfg.DATA.TRAIN.SAMPLE_PER_EPOCH = samples
    cfg.DATA.VAL.DATASETS_NAME = []
    cfg.TRAIN.BATCH_SIZE, cfg.TRAIN.NUM_WORKER, cfg.TRAIN.EPOCH = batch, 0, epochs
    cfg.TRAIN.LR, cfg.TRAIN.LR_DROP_EPOCH, cfg.TRAIN.PRINT_INTERVAL = 1e-3, 2, 1
    cfg.TRAIN.CE_START_EPOCH, cfg.TRAIN.CE_WARM_EPOCH = 1, 2
    if ce:  # the '_ce' type switches candidate elimination on at CE_LOC
        cfg.MODEL.BACKBONE.TYPE = 'vit_base_patch16_224_ce'
        cfg.MODEL.BACKBONE.CE_LOC, cfg.MODEL.BACKBONE.CE_KEEP_RATIO = [0], [0.7]
        cfg.MODEL.BACKBONE.CE_TEMPLATE_RANGE = 'CTR_POINT'
    return cfg


class TinyOSTrackLike(nn.Module):
    """Same forward signature and output dict as OSTrack (pred_boxes cx,cy,w,h normalised, score_map,
    size_map, offset_map), with a dropout so that the RNG state matters."""

    def __init__(self, stride=16, dim=8):
        super().__init__()
        self.backbone = nn.Conv2d(3, dim, stride, stride)
        self.dropout = nn.Dropout(0.1)
        self.box_head = nn.Conv2d(2 * dim, 5, 3, padding=1)
        self.seen_keep_rates = []

    def forward(self, template, search, ce_template_mask=None, ce_keep_rate=None):
        self.seen_keep_rates.append(ce_keep_rate)
        z = self.backbone(template).mean((2, 3), keepdim=True)
        x = self.dropout(self.backbone(search))
        out = self.box_head(torch.cat([x, z.expand_as(x)], 1))
        score = out[:, :1].sigmoid().clamp(1e-4, 1 - 1e-4)
        size, offset = out[:, 1:3].sigmoid(), out[:, 3:5].sigmoid()
        b, _, h, w = score.shape
        idx = score.flatten(1).argmax(1)
        iy, ix = idx // w, idx % w
        sel = torch.arange(b)
        cx = (ix.float() + offset[sel, 0, iy, ix]) / w
        cy = (iy.float() + offset[sel, 1, iy, ix]) / h
        boxes = torch.stack([cx, cy, size[sel, 0, iy, ix], size[sel, 1, iy, ix]], 1)
        return {'pred_boxes': boxes[:, None], 'score_map': score, 'size_map': size, 'offset_map': offset}
