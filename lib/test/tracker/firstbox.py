"""FirstBox: a baseline that reports the initial box in every frame.

It is the floor for "does this tracker actually track" checks: a real tracker must beat its
success/precision on any sequence where the target moves. It has no config; any name is accepted.
"""

from lib.families import Family
from lib.test.tracker.base_tracker import BaseTracker


class FirstBoxTracker(BaseTracker):
    def __init__(self, device=None, debug=0):
        super().__init__('firstbox', device=device, debug=debug)
        self.box = None

    def initialize(self, image, info):
        box = [float(v) for v in info['init_bbox']]
        if len(box) != 4:
            raise ValueError(f"init_bbox must be [x, y, w, h], got {info['init_bbox']!r}")
        self.box = box
        if self.debug_sink is not None:
            self.debug_sink.image('tracking', image, boxes=[box])

    def track(self, image, info=None):
        if self.box is None:
            raise RuntimeError('FirstBoxTracker.track() called before initialize()')
        if self.debug_sink is not None:
            gt = info.get('gt_bbox') if info else None
            self.debug_sink.image('tracking', image, boxes=[self.box, gt])
        return {'target_bbox': list(self.box)}


def build_tracker(config_name='default', checkpoint=None, device=None, debug=0):
    return FirstBoxTracker(device=device, debug=debug)


FIRSTBOX = Family(name='firstbox', defaults=None, build_tracker=build_tracker)
