"""Training and validation loaders from a lineage-style config (DATA.*, TRAIN.BATCH_SIZE, ...), shared by
every family; a family with another crop recipe declares its own Family.build_processing, and
`build_processing` here is the lineage's (the default).

`settings` needs: use_lmdb, rank, world_size, seed, device (set by lib/train/run_training.py).
"""

from lib.train.data.loader import build_loader
from lib.train.data.processing import TemplateSearchProcessing
from lib.train.data.sampler import TrackingSampler
from lib.train.data.transforms import lineage_transforms


def build_datasets(names, settings):
    from lib.train.dataset import build_train_dataset

    return [
        build_train_dataset(name, settings, use_lmdb=bool(getattr(settings, 'use_lmdb', False)))
        for name in names
    ]


def processing_params(cfg):
    """The per-kind crop parameters of a lineage config (what the lineage's update_settings copied)."""
    data = cfg.DATA
    return dict(
        search_area_factor={'template': data.TEMPLATE.FACTOR, 'search': data.SEARCH.FACTOR},
        output_sz={'template': data.TEMPLATE.SIZE, 'search': data.SEARCH.SIZE},
        center_jitter={'template': data.TEMPLATE.CENTER_JITTER, 'search': data.SEARCH.CENTER_JITTER},
        scale_jitter={'template': data.TEMPLATE.SCALE_JITTER, 'search': data.SEARCH.SCALE_JITTER},
        stride=cfg.MODEL.BACKBONE.STRIDE,
    )


def build_processing(cfg, training=True, fast=True):
    joint, per_crop = lineage_transforms(cfg.DATA.MEAN, cfg.DATA.STD, training=training)
    return TemplateSearchProcessing(
        joint_transform=joint, transform=per_crop, fast=fast, **processing_params(cfg)
    )


def build_sampler(cfg, split_cfg, datasets, processing, seed):
    return TrackingSampler(
        datasets,
        split_cfg.DATASETS_RATIO,
        split_cfg.SAMPLE_PER_EPOCH,
        cfg.DATA.MAX_SAMPLE_INTERVAL,
        num_search_frames=cfg.DATA.SEARCH.NUMBER,
        num_template_frames=cfg.DATA.TEMPLATE.NUMBER,
        processing=processing,
        frame_sample_mode=cfg.DATA.SAMPLER_MODE,
        seed=seed,
    )


def build_dataloaders(cfg, settings, with_val=True, make_processing=build_processing):
    """[train loader] or [train loader, val loader] (val runs every TRAIN.VAL_EPOCH_INTERVAL epochs).

    The sampler seeds differ between train and val and are shared by all ranks (ranks draw disjoint
    indices). make_processing(cfg, training) builds the per-sample processing (a family with its own
    crops and labels, e.g. LoRAT, passes its own)."""
    common = dict(
        batch_size=cfg.TRAIN.BATCH_SIZE,
        num_workers=cfg.TRAIN.NUM_WORKER,
        rank=getattr(settings, 'rank', 0),
        world_size=getattr(settings, 'world_size', 1),
        seed=getattr(settings, 'seed', 0),
        device=getattr(settings, 'device', None),
    )
    seed = getattr(settings, 'seed', 0)
    train = build_sampler(
        cfg,
        cfg.DATA.TRAIN,
        build_datasets(cfg.DATA.TRAIN.DATASETS_NAME, settings),
        make_processing(cfg, training=True),
        seed=seed * 2,
    )
    loaders = [build_loader(train, name='train', training=True, **common)]
    if with_val and cfg.DATA.VAL.DATASETS_NAME:
        val = build_sampler(
            cfg,
            cfg.DATA.VAL,
            build_datasets(cfg.DATA.VAL.DATASETS_NAME, settings),
            make_processing(cfg, training=False),
            seed=seed * 2 + 1,
        )
        loaders.append(
            build_loader(
                val, name='val', training=False, epoch_interval=cfg.TRAIN.VAL_EPOCH_INTERVAL, **common
            )
        )
    return loaders
