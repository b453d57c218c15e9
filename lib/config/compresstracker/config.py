"""CompressTracker defaults: OSTrack's, plus the keys the official CompressTracker config adds.

MODEL.PRETRAIN_FILE names the trained OSTrack teacher checkpoint (the official yamls:
"./pretrained_models/OSTrack_ep0300.pth.tar"). MODEL.BACKBONE.TYPE is '<vit type>_compress' (e.g.
vit_base_patch16_224_compress); the part before '_compress' is the teacher's ViT, which
MODEL.BACKBONE.DISTILL_LAYER stages compress into one student block each.
"""

from lib.config.ostrack.config import defaults as ostrack_defaults


def defaults():
    cfg = ostrack_defaults()
    # The official builder loads this MAE file only when MODEL.PRETRAIN_FILE is not an OSTrack
    # checkpoint; with a teacher checkpoint every tensor it sets is overwritten, so OneStream keeps the
    # key (official yamls load unchanged) and initialises from the teacher alone.
    cfg.MODEL.BACKBONE.PRETRAIN_FILE = "mae_pretrain_vit_base.pth"
    cfg.MODEL.BACKBONE.DISTILL_LAYER = 4  # number of student stages (blocks); must divide the teacher depth
    cfg.TRAIN.SUP_LOGIT = False  # prediction guidance: GIoU + L1 of the student box against the teacher's
    cfg.TRAIN.SUP_FEAT = False  # feature mimicking: MSE of every stage output against the teacher's
    cfg.TRAIN.SUP_REPLACE = False  # replacement training: stages randomly run the teacher's blocks
    # OneStream additions, defaults = the official (hard-coded) loss weights.
    cfg.TRAIN.DISTILL_WEIGHT = 1.0  # 'dst': multiplies the sum of both distillation terms
    cfg.TRAIN.DISTILL_LOGIT_WEIGHT = 1.0  # 'dst_logit'
    cfg.TRAIN.DISTILL_FEAT_WEIGHT = 0.2  # 'dst_feat'
    return cfg
