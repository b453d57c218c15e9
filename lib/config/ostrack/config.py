"""OSTrack defaults: the official cfg keys and default values, plus the few keys OneStream adds.

Keys the official config declares but never reads (EXTRA_MERGER, MID_PE, MERGE_LAYER, ADD_CLS_TOKEN,
CLS_TOKEN_USE_MODE, FREEZE_LAYERS, SCHEDULER.DECAY_RATE) stay declared so the official yaml files load
unchanged under the strict merge.
"""

from lib.config import CfgNode, add_shared_train_keys


def defaults():
    cfg = CfgNode()

    cfg.MODEL = CfgNode()
    # Resolved against the `pretrained_networks` path of lib/train/admin/local.py (absolute paths as given).
    # A name containing 'OSTrack' initialises the whole model from that checkpoint's 'net' instead.
    cfg.MODEL.PRETRAIN_FILE = "mae_pretrain_vit_base.pth"
    cfg.MODEL.EXTRA_MERGER = False
    cfg.MODEL.RETURN_INTER = False
    cfg.MODEL.RETURN_STAGES = []

    cfg.MODEL.BACKBONE = CfgNode()
    # vit_base_patch16_224[_ce], vit_large_patch16_224[_ce], or vit_patch16[_ce] (sizes from the keys below).
    # The '_ce' suffix turns candidate elimination on at CE_LOC.
    cfg.MODEL.BACKBONE.TYPE = "vit_base_patch16_224"
    cfg.MODEL.BACKBONE.STRIDE = 16
    cfg.MODEL.BACKBONE.MID_PE = False
    cfg.MODEL.BACKBONE.SEP_SEG = False
    cfg.MODEL.BACKBONE.CAT_MODE = 'direct'
    cfg.MODEL.BACKBONE.MERGE_LAYER = 0
    cfg.MODEL.BACKBONE.ADD_CLS_TOKEN = False
    cfg.MODEL.BACKBONE.CLS_TOKEN_USE_MODE = 'ignore'
    cfg.MODEL.BACKBONE.CE_LOC = []
    cfg.MODEL.BACKBONE.CE_KEEP_RATIO = []
    cfg.MODEL.BACKBONE.CE_TEMPLATE_RANGE = 'ALL'  # ALL, CTR_POINT, CTR_REC or GT_BOX
    # OneStream additions. 0 = take the value from TYPE (ViT-B: 768/12/12, ViT-L: 1024/24/16).
    cfg.MODEL.BACKBONE.EMBED_DIM = 0
    cfg.MODEL.BACKBONE.DEPTH = 0
    cfg.MODEL.BACKBONE.NUM_HEADS = 0
    # DropTrack's two frame identity embeddings (backbone.temporal_pos_embed_{z,x}); on for droptrack.
    cfg.MODEL.BACKBONE.FRAME_IDENTITY_EMBED = False

    cfg.MODEL.HEAD = CfgNode()
    cfg.MODEL.HEAD.TYPE = "CENTER"
    cfg.MODEL.HEAD.NUM_CHANNELS = 256

    cfg.TRAIN = CfgNode()
    cfg.TRAIN.LR = 0.0001
    cfg.TRAIN.WEIGHT_DECAY = 0.0001
    cfg.TRAIN.EPOCH = 500
    cfg.TRAIN.LR_DROP_EPOCH = 400
    cfg.TRAIN.BATCH_SIZE = 16
    cfg.TRAIN.NUM_WORKER = 8
    cfg.TRAIN.OPTIMIZER = "ADAMW"
    cfg.TRAIN.BACKBONE_MULTIPLIER = 0.1
    cfg.TRAIN.GIOU_WEIGHT = 2.0
    cfg.TRAIN.L1_WEIGHT = 5.0
    cfg.TRAIN.FREEZE_LAYERS = [0]
    cfg.TRAIN.PRINT_INTERVAL = 50
    cfg.TRAIN.VAL_EPOCH_INTERVAL = 20
    cfg.TRAIN.GRAD_CLIP_NORM = 0.1
    cfg.TRAIN.AMP = False
    cfg.TRAIN.CE_START_EPOCH = 20
    cfg.TRAIN.CE_WARM_EPOCH = 80
    cfg.TRAIN.DROP_PATH_RATE = 0.1
    cfg.TRAIN.SCHEDULER = CfgNode()
    cfg.TRAIN.SCHEDULER.TYPE = "step"
    cfg.TRAIN.SCHEDULER.DECAY_RATE = 0.1
    add_shared_train_keys(cfg.TRAIN)  # FUSED_OPTIMIZER, GRAD_CHECKPOINT, GLOBAL_BATCH_*, SCHEDULER.*

    cfg.DATA = CfgNode()
    cfg.DATA.SAMPLER_MODE = "causal"
    cfg.DATA.MEAN = [0.485, 0.456, 0.406]
    cfg.DATA.STD = [0.229, 0.224, 0.225]
    cfg.DATA.MAX_SAMPLE_INTERVAL = 200
    cfg.DATA.TRAIN = CfgNode()
    cfg.DATA.TRAIN.DATASETS_NAME = ["LASOT", "GOT10K_vottrain"]
    cfg.DATA.TRAIN.DATASETS_RATIO = [1, 1]
    cfg.DATA.TRAIN.SAMPLE_PER_EPOCH = 60000
    cfg.DATA.VAL = CfgNode()
    cfg.DATA.VAL.DATASETS_NAME = ["GOT10K_votval"]
    cfg.DATA.VAL.DATASETS_RATIO = [1]
    cfg.DATA.VAL.SAMPLE_PER_EPOCH = 10000
    cfg.DATA.SEARCH = CfgNode()
    cfg.DATA.SEARCH.SIZE = 320
    cfg.DATA.SEARCH.FACTOR = 5.0
    cfg.DATA.SEARCH.CENTER_JITTER = 4.5
    cfg.DATA.SEARCH.SCALE_JITTER = 0.5
    cfg.DATA.SEARCH.NUMBER = 1
    cfg.DATA.TEMPLATE = CfgNode()
    cfg.DATA.TEMPLATE.NUMBER = 1
    cfg.DATA.TEMPLATE.SIZE = 128
    cfg.DATA.TEMPLATE.FACTOR = 2.0
    # The official defaults are the ints 0; floats here so a yaml may give either 0 or 0.5.
    cfg.DATA.TEMPLATE.CENTER_JITTER = 0.0
    cfg.DATA.TEMPLATE.SCALE_JITTER = 0.0

    cfg.TEST = CfgNode()
    cfg.TEST.TEMPLATE_FACTOR = 2.0
    cfg.TEST.TEMPLATE_SIZE = 128
    cfg.TEST.SEARCH_FACTOR = 5.0
    cfg.TEST.SEARCH_SIZE = 320
    cfg.TEST.EPOCH = 500
    return cfg
