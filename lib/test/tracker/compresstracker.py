"""CompressTracker tracker: OSTrack's inference step on the student network.

Default checkpoint: <save_dir>/checkpoints/train/compresstracker/<config>/CompressTracker_ep%04d.pth.tar
(TEST.EPOCH), the official name. Our training checkpoints and the released CompressTracker weights
load strictly; checkpoints written by the official trainer also hold the teacher (386 extra keys for
4 stages) and are rejected with the list of unexpected keys.
"""
from lib.test.tracker.ostrack import build_family_tracker, tracker_for_network  # noqa: F401

CHECKPOINT_NAME = 'CompressTracker'


def build_tracker(config_name, checkpoint=None, device=None, debug=0, options=None):
    """The CompressTracker tracker of experiments/compresstracker/<config_name>.yaml."""
    return build_family_tracker('compresstracker', config_name, checkpoint=checkpoint, device=device,
                                debug=debug, options=options, name=CHECKPOINT_NAME)
