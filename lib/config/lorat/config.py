"""LoRAT defaults: the lineage's key names (MODEL.*, TRAIN.*, DATA.*, TEST.*) carrying the official
LoRAT recipe (LitingLin/LoRAT config/LoRAT/B-224 + run.yaml); the defaults are B-224.

Facts encoded here (see the experiments/lorat/*.yaml variants for S/L/g and 378):
- model: DINOv2 ViT-B/14, template 112 px (8x8), search 224 px (16x16); LoRA r 64, alpha 64, dropout 0,
  'bert' init (A and B trunc-normal 0.02), no rsLoRA; drop path 0 (L: 0.1, g: 0.4).
- data: LaSOT, GOT-10k train minus the VOT overlap, COCO 2017, TrackingNet, sampled equally; 131072
  pairs per epoch; pairs within +-100 frames ('interval'); val GOT-10k val, 4096 pairs.
- crops: template area factor 2, search 4 (378: 5); search scale jitter 0.25 (per axis, exp(N(0,1)*s)),
  translation jitter 3 (uniform(-1,1) * 0.5 * 3 * (w+h) output pixels), min object size 10 px.
- augmentation: horizontal flip p 0.5 decided per image; colour jitter 0.4 per image; DeiT-3 aug
  (one of grayscale / solarize / Gaussian blur sigma U(0.1, 2), the same for both images).
- optimisation: 170 epochs of global batch 128 (1024 iterations per epoch), AdamW lr 1e-4 wd 0.1
  (0 for 1-D params and embeddings), timm cosine per iteration with a 2-epoch warmup prefix from 1e-7,
  lr_min 1e-6; clip grad norm 1.0; float16 autocast + GradScaler; loss = 1 * IoU-aware BCE + 1 * GIoU,
  both summed over cells and divided by the number of positives.
- test: Hann window penalty 0.45, fp16 autocast on CUDA.
"""

from lib.config import CfgNode, add_shared_train_keys


def defaults():
    cfg = CfgNode()

    cfg.MODEL = CfgNode()
    # DINOv2 weights, official dinov2_vit{s,b,l,g}14_pretrain.pth or timm layout; resolved against the
    # `pretrained_networks` path of lib/train/admin/local.py (absolute paths as given). Empty: seeded
    # random weights (CPU tests). A LoRAT checkpoint here initialises the whole model instead.
    cfg.MODEL.PRETRAIN_FILE = "dinov2_vitb14_pretrain.pth"
    cfg.MODEL.SEED = 42  # parameter init seed (LoRA, head, type embedding, random backbone)
    cfg.MODEL.BACKBONE = CfgNode()
    cfg.MODEL.BACKBONE.TYPE = "ViT-B/14"  # ViT-S/14, ViT-B/14, ViT-L/14, ViT-g/14
    cfg.MODEL.BACKBONE.STRIDE = 14
    # OneStream additions: 0 = the size of TYPE; non-zero builds a small stand-in of TYPE's kind.
    cfg.MODEL.BACKBONE.EMBED_DIM = 0
    cfg.MODEL.BACKBONE.DEPTH = 0
    cfg.MODEL.BACKBONE.NUM_HEADS = 0
    # LayerScale gamma of a randomly initialised backbone (MODEL.PRETRAIN_FILE empty; a pretrained file
    # overwrites it). DINOv2 trains from 1e-5, but a frozen random stand-in needs O(1): at 1e-5 its blocks
    # (and every LoRA update, scaled by the frozen gamma) barely reach the residual stream.
    cfg.MODEL.BACKBONE.LAYER_SCALE_INIT = 1.0e-5
    cfg.MODEL.HEAD = CfgNode()
    cfg.MODEL.HEAD.TYPE = "MLP"  # the official MLP anchor-free head (score logit + l,t,r,b)
    cfg.MODEL.LORA = CfgNode()
    cfg.MODEL.LORA.ENABLED = True  # False: full fine-tuning of the same architecture (official baseline)
    cfg.MODEL.LORA.R = 64
    cfg.MODEL.LORA.ALPHA = 64.0
    cfg.MODEL.LORA.DROPOUT = 0.0
    cfg.MODEL.LORA.USE_RSLORA = False
    cfg.MODEL.LORA.INIT = "bert"  # bert (official), lora (kaiming A, zero B), gaussian (N(0,1/r) A, zero B)

    cfg.TRAIN = CfgNode()
    cfg.TRAIN.LR = 0.0001
    cfg.TRAIN.WEIGHT_DECAY = 0.1
    cfg.TRAIN.EPOCH = 170
    # Per-process batch; GLOBAL_BATCH_SIZE is the recipe's batch across all processes and steps.
    # GLOBAL_BATCH_MODE 'accumulate': accumulate gradients over GLOBAL / (BATCH_SIZE * world size) steps
    # (must divide); 'scale_lr': one step per batch, LR (and warmup/min LR) scaled by the actual global
    # batch / GLOBAL_BATCH_SIZE; 'none': ignore GLOBAL_BATCH_SIZE.
    cfg.TRAIN.BATCH_SIZE = 16
    cfg.TRAIN.GLOBAL_BATCH_SIZE = 128
    cfg.TRAIN.GLOBAL_BATCH_MODE = "accumulate"
    cfg.TRAIN.NUM_WORKER = 8
    cfg.TRAIN.OPTIMIZER = "ADAMW"
    cfg.TRAIN.BACKBONE_MULTIPLIER = 1.0  # the official recipe uses one LR for every trainable tensor
    cfg.TRAIN.DROP_PATH_RATE = 0.0  # official: 0 (S, B), 0.1 (L), 0.4 (g)
    cfg.TRAIN.GRAD_CLIP_NORM = 1.0
    cfg.TRAIN.AMP = True
    cfg.TRAIN.AMP_DTYPE = "float16"  # float16 (with GradScaler, official) or bfloat16
    cfg.TRAIN.COMPILE = False  # torch.compile the network for training (official: on; CLI --compile 0/1)
    cfg.TRAIN.BCE_WEIGHT = 1.0
    cfg.TRAIN.GIOU_WEIGHT = 1.0
    cfg.TRAIN.IOU_AWARE_CLASSIFICATION_SCORE = True
    # Weight decay 0 for 1-D tensors (biases, norms) and names matching these patterns.
    cfg.TRAIN.NO_WEIGHT_DECAY_PATTERNS = ["embed"]
    cfg.TRAIN.PRINT_INTERVAL = 50
    cfg.TRAIN.VAL_EPOCH_INTERVAL = 1
    cfg.TRAIN.SAVE_EPOCH_INTERVAL = 10
    cfg.TRAIN.SCHEDULER = CfgNode()
    cfg.TRAIN.SCHEDULER.TYPE = "cosine"  # timm CosineLRScheduler, stepped every iteration
    cfg.TRAIN.SCHEDULER.WARMUP_EPOCHS = 2
    cfg.TRAIN.SCHEDULER.WARMUP_LR_INIT = 1.0e-7
    cfg.TRAIN.SCHEDULER.WARMUP_PREFIX = True
    cfg.TRAIN.SCHEDULER.LR_MIN = 1.0e-6
    add_shared_train_keys(cfg.TRAIN)  # FUSED_OPTIMIZER, GRAD_CHECKPOINT (the official L/g runs need memory)

    cfg.DATA = CfgNode()
    cfg.DATA.SAMPLER_MODE = "interval"  # search frame within +-MAX_SAMPLE_INTERVAL of the template frame
    cfg.DATA.MAX_SAMPLE_INTERVAL = 100
    cfg.DATA.MEAN = [0.485, 0.456, 0.406]
    cfg.DATA.STD = [0.229, 0.224, 0.225]
    cfg.DATA.TRAIN = CfgNode()
    cfg.DATA.TRAIN.DATASETS_NAME = ["LASOT", "GOT10K_vottrain", "COCO17", "TRACKINGNET"]
    cfg.DATA.TRAIN.DATASETS_RATIO = [1, 1, 1, 1]
    cfg.DATA.TRAIN.SAMPLE_PER_EPOCH = 131072
    cfg.DATA.VAL = CfgNode()
    cfg.DATA.VAL.DATASETS_NAME = ["GOT10K_official_val"]
    cfg.DATA.VAL.DATASETS_RATIO = [1]
    cfg.DATA.VAL.SAMPLE_PER_EPOCH = 4096
    cfg.DATA.SEARCH = CfgNode()
    cfg.DATA.SEARCH.SIZE = 224
    cfg.DATA.SEARCH.FACTOR = 4.0
    cfg.DATA.SEARCH.CENTER_JITTER = 3.0  # official translation jitter (see the module doc)
    cfg.DATA.SEARCH.SCALE_JITTER = 0.25
    cfg.DATA.SEARCH.NUMBER = 1
    cfg.DATA.SEARCH.MIN_OBJECT_SIZE = 10
    cfg.DATA.TEMPLATE = CfgNode()
    cfg.DATA.TEMPLATE.NUMBER = 1
    cfg.DATA.TEMPLATE.SIZE = 112
    cfg.DATA.TEMPLATE.FACTOR = 2.0
    cfg.DATA.TEMPLATE.CENTER_JITTER = 0.0
    cfg.DATA.TEMPLATE.SCALE_JITTER = 0.0
    cfg.DATA.JITTER_RETRY = 10  # failed jitter draws before the pair is discarded and redrawn
    cfg.DATA.AUG = CfgNode()
    cfg.DATA.AUG.HFLIP_PROB = 0.5
    cfg.DATA.AUG.HFLIP_JOINT = False
    cfg.DATA.AUG.COLOR_JITTER = 0.4  # brightness, contrast, saturation; random order; per image
    cfg.DATA.AUG.DEIT3 = True  # one of grayscale / solarize / blur, the same for template and search
    cfg.DATA.AUG.BLUR_SIGMA = [0.1, 2.0]

    cfg.TEST = CfgNode()
    cfg.TEST.TEMPLATE_FACTOR = 2.0
    cfg.TEST.TEMPLATE_SIZE = 112
    cfg.TEST.SEARCH_FACTOR = 4.0
    cfg.TEST.SEARCH_SIZE = 224
    cfg.TEST.MIN_OBJECT_SIZE = 10
    cfg.TEST.WINDOW_PENALTY = 0.45
    cfg.TEST.AMP = True  # float16 autocast on CUDA (ignored on CPU)
    cfg.TEST.EPOCH = 170
    return cfg
