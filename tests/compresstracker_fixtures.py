"""Shared by the CompressTracker tests: a tiny OSTrack teacher checkpoint and the tiny config using it."""

import os

import torch

from lib.config import load_config
from lib.models import build_model_from_cfg
from lib.utils.io import atomic_torch_save


def tiny_teacher_checkpoint(folder, seed=0):
    """A tiny OSTrack teacher (experiments/ostrack/tiny_ce.yaml, random weights) saved as a checkpoint."""
    torch.manual_seed(seed)
    teacher = build_model_from_cfg('ostrack', load_config('ostrack', 'tiny_ce'), training=False)
    path = os.path.join(str(folder), 'OSTrack_ep0010.pth.tar')
    atomic_torch_save({'net': teacher.state_dict()}, path)
    return path, teacher


def tiny_cfg(teacher_path):
    cfg = load_config('compresstracker', 'tiny')
    cfg.MODEL.PRETRAIN_FILE = teacher_path
    return cfg
