"""DropTrack tracker: OSTrack's inference step on a DropTrack network (frame identity embeddings).

The official DropTrack tracker differs from OSTrack's only in where it finds its checkpoint; here the
default is <save_dir>/checkpoints/train/droptrack/<config>/OSTrack_ep%04d.pth.tar (TEST.EPOCH).
"""
from lib.test.tracker.ostrack import build_family_tracker, tracker_for_network  # noqa: F401


def build_tracker(config_name, checkpoint=None, device=None, debug=0, options=None):
    """The DropTrack tracker of experiments/droptrack/<config_name>.yaml."""
    return build_family_tracker('droptrack', config_name, checkpoint=checkpoint, device=device, debug=debug,
                                options=options)
