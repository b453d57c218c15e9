"""A complete tracker family defined outside lib/: the worked example of docs/architecture.md.

A tiny network (one conv feature map per crop, a linear box head), the lineage's data processing, an
L1 actor and a tracker that re-centres its search crop on the last box. Registering TOY (in-process
with lib.families.register, or ONESTREAM_FAMILIES=tests.toy_family:TOY for processes an entry point
starts) is all it takes for training, test.py, analysis, profiling and build_tracker to run it.
"""

import os

import torch
import torch.nn as nn
import torch.nn.functional as F

from lib.families import Family
from lib.test.tracker.base_tracker import BaseTracker, clip_to_image, crop_box_to_image
from lib.train.actors.base_actor import BaseActor
from lib.utils.box_ops import box_xywh_to_cxcywh
from lib.utils.crop import sample_target


def defaults():
    from lib.config.ostrack.config import defaults as lineage_defaults

    return lineage_defaults()  # the lineage's DATA, TRAIN and TEST keys; the toy reads no MODEL key


class ToyNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 8, 4, stride=4), nn.ReLU(), nn.AdaptiveAvgPool2d(4))
        self.head = nn.Linear(2 * 8 * 16, 4)

    def forward(self, template, search):
        """-> {'pred_boxes': (B, 4)} cx, cy, w, h in the search crop, normalised to [0, 1]."""
        features = torch.cat([self.features(template).flatten(1), self.features(search).flatten(1)], 1)
        return {'pred_boxes': self.head(features).sigmoid()}


def build_model(cfg, training=True):
    return ToyNet()


def profile_inputs(cfg, batch=1):
    return (
        torch.randn(batch, 3, cfg.TEST.TEMPLATE_SIZE, cfg.TEST.TEMPLATE_SIZE),
        torch.randn(batch, 3, cfg.TEST.SEARCH_SIZE, cfg.TEST.SEARCH_SIZE),
    )


class ToyActor(BaseActor):
    def __call__(self, data):
        out = self.net(data['template_images'][0], data['search_images'][0])
        loss = F.l1_loss(out['pred_boxes'], box_xywh_to_cxcywh(data['search_anno'][0]))
        return loss, {'Loss/total': loss.item()}


def build_actor(cfg, net, settings):
    return ToyActor(net, settings, cfg)


class ToyTracker(BaseTracker):
    def __init__(self, cfg, network, device=None, debug=0):
        super().__init__('toy', device=device, debug=debug)
        self.cfg, self.network = cfg.TEST, network.to(self.device).eval()
        # the normalisation the lineage's training processing applies
        self.mean, self.std = (
            torch.tensor(v, device=self.device).view(1, 3, 1, 1) for v in (cfg.DATA.MEAN, cfg.DATA.STD)
        )

    def _crop(self, image, factor, size):
        crop, resize_factor, _ = sample_target(image, self.box, factor, size)
        pixels = torch.from_numpy(crop).to(self.device).permute(2, 0, 1)[None].float().div(255)
        return (pixels - self.mean) / self.std, resize_factor

    def initialize(self, image, info):
        self.box = [float(v) for v in info['init_bbox']]
        self.template, _ = self._crop(image, self.cfg.TEMPLATE_FACTOR, self.cfg.TEMPLATE_SIZE)

    def track(self, image, info=None):
        search, resize_factor = self._crop(image, self.cfg.SEARCH_FACTOR, self.cfg.SEARCH_SIZE)
        with torch.no_grad():
            box = self.network(self.template, search)['pred_boxes'][0].tolist()
        self.box = clip_to_image(crop_box_to_image(box, self.box, resize_factor, self.cfg.SEARCH_SIZE), image)
        return {'target_bbox': self.box}


def tracker(cfg, network, device=None, options=None, debug=0):
    return ToyTracker(cfg, network, device=device, debug=debug)


TOY = Family(
    name='toy',
    defaults=defaults,
    build_model=build_model,
    tracker=tracker,
    build_actor=build_actor,
    checkpoint_name='Toy',
    profile_inputs=profile_inputs,
    experiments_dir=os.path.join(os.path.dirname(os.path.abspath(__file__)), 'data', 'toy'),
)
