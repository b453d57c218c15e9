"""Building CompressTracker: the student alone (test) or student + frozen teacher (training).

Training initialisation (the official one, made strict): the teacher is the OSTrack network of the
config's teacher ViT, loaded from MODEL.PRETRAIN_FILE; the student takes the teacher's patch
embedding, position embeddings, final norm and head, and each student block the weights of the last
teacher block of its stage.
"""

import copy
import os

from lib.config import ConfigError
from lib.models.compresstracker.distill import CompressTrackerDistill
from lib.models.compresstracker.student import build_student, stage_last_blocks, teacher_backbone_type

TEACHER_BLOCK_PREFIX = 'backbone.blocks.'
STUDENT_BLOCK_PREFIX = 'backbone.distill_blocks.'


def teacher_config(cfg):
    """The OSTrack config of the teacher: the same config with the teacher's ViT type, no CE."""
    tcfg = copy.deepcopy(cfg)
    tcfg.MODEL.BACKBONE.TYPE = teacher_backbone_type(cfg.MODEL.BACKBONE.TYPE)
    tcfg.MODEL.BACKBONE.CE_LOC = []
    tcfg.MODEL.BACKBONE.CE_KEEP_RATIO = []
    tcfg.MODEL.PRETRAIN_FILE = ''
    return tcfg


class TeacherCheckpointMissing(ConfigError, FileNotFoundError):
    """MODEL.PRETRAIN_FILE does not name an existing file (a config error: the CLIs print it, no
    traceback)."""


def resolve_teacher_checkpoint(name):
    """MODEL.PRETRAIN_FILE as given (absolute, or relative to the working directory), relative to the
    repository root, or its file name in the pretrained_networks folder of lib/train/admin/local.py
    (so the official "./pretrained_models/OSTrack_ep0300.pth.tar" works from anywhere)."""
    from lib.utils.local_settings import REPO_ROOT, resolve_pretrained_path

    for candidate in (name, os.path.join(REPO_ROOT, name), os.path.basename(name)):
        try:
            return resolve_pretrained_path(candidate, cfg_key='MODEL.PRETRAIN_FILE')
        except FileNotFoundError:
            continue
    raise TeacherCheckpointMissing(
        f"CompressTracker teacher checkpoint MODEL.PRETRAIN_FILE='{name}' not found (looked relative to the "
        f"working directory and the repository root, and for '{os.path.basename(name)}' in the "
        f"pretrained_networks folder of lib/train/admin/local.py). It must be a trained OSTrack checkpoint "
        f"of the teacher architecture; train one (python tracking/train.py --script ostrack ...) or set "
        f"MODEL.PRETRAIN_FILE to its path."
    )


def build_teacher(cfg):
    """The frozen OSTrack teacher, loaded strictly from MODEL.PRETRAIN_FILE (random when it is '')."""
    from lib.models import load_state_checked
    from lib.models.conversion import CONTENT_MODEL, CONTENT_PRETRAINED, check_sidecar
    from lib.models.ostrack.ostrack import build_ostrack
    from lib.utils.checkpoint import load_tensors

    teacher = build_ostrack(teacher_config(cfg), training=False)
    name = cfg.MODEL.PRETRAIN_FILE
    if name:
        path = resolve_teacher_checkpoint(name)
        # a converted teacher: an OSTrack model file, or this family's --pretrained conversion of one
        check_sidecar(path, teacher, contents=(CONTENT_MODEL, CONTENT_PRETRAINED))
        load_state_checked(teacher, load_tensors(path), path)
        print(f'CompressTracker teacher: {path}')
    else:
        print('WARNING: MODEL.PRETRAIN_FILE is empty: the CompressTracker teacher is randomly initialised')
    return teacher.eval()


def teacher_weights(cfg, path: str) -> tuple[dict, str]:
    """The OSTrack teacher checkpoint of a CompressTracker config (its MODEL.PRETRAIN_FILE), any lineage
    layout that holds an OSTrack model, as the complete teacher state dict, and its layout: what
    tracking/convert_checkpoint.py --pretrained writes for this family. build_teacher loads the result
    strictly, so the teacher and the student initialised from it are the original's."""
    from lib.models.ostrack.ostrack import build_ostrack
    from lib.models.ostrack.weights import detect_layout, load_checkpoint
    from lib.utils.checkpoint import load_tensors

    layout = detect_layout(load_tensors(path), path)
    if layout != 'ostrack-model':
        raise ValueError(
            f"{path}: layout '{layout}', expected an OSTrack checkpoint (layout 'ostrack-model') of the "
            f"teacher ViT {teacher_config(cfg).MODEL.BACKBONE.TYPE} to initialise CompressTracker from"
        )
    teacher = load_checkpoint(build_ostrack(teacher_config(cfg), training=False), path)
    return teacher.state_dict(), layout


def student_state_from_teacher(teacher_state, depth, num_stages):
    """The student's state dict taken from a teacher state dict: the last block of each stage becomes
    that stage's student block, the other blocks are dropped, everything else is kept."""
    lasts = stage_last_blocks(depth, num_stages)
    state = {}
    for key, value in teacher_state.items():
        if not key.startswith(TEACHER_BLOCK_PREFIX):
            state[key] = value
            continue
        index, rest = key[len(TEACHER_BLOCK_PREFIX) :].split('.', 1)
        if int(index) in lasts:
            state[f'{STUDENT_BLOCK_PREFIX}{lasts.index(int(index))}.{rest}'] = value
    return state


def init_student_from_teacher(student, teacher):
    depth = len(teacher.backbone.blocks)
    state = student_state_from_teacher(teacher.state_dict(), depth, student.backbone.num_stages)
    student.load_state_dict(state, strict=True)
    return student


def build_compresstracker(cfg, training=True):
    """training=False: the student network (CompressTracker), random init, for tracking/profiling.
    training=True: CompressTrackerDistill, student initialised from the teacher checkpoint."""
    from lib.models.ostrack.ostrack import _check_supported

    _check_supported(cfg)
    student = build_student(cfg)
    if not training:
        return student
    teacher = build_teacher(cfg)
    init_student_from_teacher(student, teacher)
    return CompressTrackerDistill(
        student.backbone,
        student.box_head,
        teacher,
        replace=cfg.TRAIN.SUP_REPLACE,
        teacher_outputs=cfg.TRAIN.SUP_LOGIT or cfg.TRAIN.SUP_FEAT,
        drop_path_rate=cfg.TRAIN.DROP_PATH_RATE,
    )
