"""Training checkpoints: names, schedule, and full training state that loads with
torch.load(weights_only=True) (tensors, numbers, strings, lists and dicts only; RNG states as tensors).

Layout: <save_dir>/checkpoints/train/<script>/<config>/<NAME>_ep%04d.pth.tar, the lineage's path and
name, with keys 'net', 'optimizer', 'lr_scheduler', 'scaler', 'rng', 'epoch', 'net_type', 'cfg',
'stats'. <NAME>_resume.pth.tar holds the same state after the latest epoch (overwritten every epoch)
so that a crash between scheduled checkpoints loses at most one epoch.
"""

import collections
import glob
import os
import random
import re

import numpy as np
import torch

from lib.utils.io import atomic_torch_save

RESUME_SUFFIX = '_resume.pth.tar'


def checkpoint_dir(save_dir, script, config):
    return os.path.join(save_dir, 'checkpoints', 'train', script, config)


def checkpoint_path(folder, name, epoch):
    return os.path.join(folder, f'{name}_ep{epoch:04d}.pth.tar')


def resume_path(folder, name):
    return os.path.join(folder, name + RESUME_SUFFIX)


def lineage_checkpoint_due(epoch, max_epochs, last_n=4):
    """OSTrack's schedule: every 40th epoch, epochs 79/159/239, and the last `last_n` epochs
    (OSTrack 4, DropTrack 10)."""
    return (
        epoch >= max_epochs or epoch % 40 == 0 or epoch in (79, 159, 239) or epoch > max_epochs - 1 - last_n
    )


def lineage_schedule(cfg):
    """The default Family.checkpoint_schedule: OSTrack's epochs, whatever the config."""
    return lineage_checkpoint_due


def list_checkpoints(folder, name):
    """{epoch: path} of <name>_ep%04d.pth.tar files in folder."""
    pattern = re.compile(re.escape(name) + r'_ep(\d+)\.pth\.tar$')
    found = {}
    for path in glob.glob(os.path.join(glob.escape(folder), f'{glob.escape(name)}_ep*.pth.tar')):
        match = pattern.search(os.path.basename(path))
        if match:
            found[int(match.group(1))] = path
    return found


def read_state(path):
    try:
        return torch.load(path, map_location='cpu', weights_only=True)
    except Exception as e:
        raise RuntimeError(f'cannot load training checkpoint {path}: {type(e).__name__}: {e}') from e


def latest_state_path(folder, name):
    """The checkpoint to resume from: the newest epoch checkpoint, or the resume file if it is newer."""
    found = list_checkpoints(folder, name)
    best = (max(found), found[max(found)]) if found else None
    resume = resume_path(folder, name)
    if os.path.isfile(resume):
        epoch = int(read_state(resume).get('epoch', 0))
        if best is None or epoch > best[0]:
            best = (epoch, resume)
    return None if best is None else best[1]


def rng_state(device=None):
    """Python, numpy and torch (CPU and current CUDA device) RNG states as tensors and numbers."""
    version, mt_state, gauss = random.getstate()
    np_kind, np_keys, np_pos, np_has_gauss, np_gauss = np.random.get_state()
    state = {
        'python_version': version,
        'python': torch.tensor(mt_state, dtype=torch.int64),
        'python_gauss': gauss,
        'numpy_kind': np_kind,
        'numpy': torch.from_numpy(np_keys.astype(np.int64)),
        'numpy_pos': int(np_pos),
        'numpy_has_gauss': int(np_has_gauss),
        'numpy_gauss': float(np_gauss),
        'torch': torch.get_rng_state(),
    }
    if device is not None and torch.device(device).type == 'cuda':
        state['cuda'] = torch.cuda.get_rng_state(device)
    return state


def set_rng_state(state, device=None):
    random.setstate(
        (state['python_version'], tuple(int(v) for v in state['python'].tolist()), state['python_gauss'])
    )
    np.random.set_state(
        (
            state['numpy_kind'],
            state['numpy'].numpy().astype(np.uint32),
            state['numpy_pos'],
            state['numpy_has_gauss'],
            state['numpy_gauss'],
        )
    )
    torch.set_rng_state(state['torch'])
    if 'cuda' in state and device is not None and torch.device(device).type == 'cuda':
        torch.cuda.set_rng_state(state['cuda'], device)


def plain(obj):
    """Converts containers the weights-only unpickler refuses (Counter, defaultdict, OrderedDict
    subclasses, tuples of those) to plain dicts and lists; tensors and scalars pass through."""
    if isinstance(obj, dict):
        return {k: plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(plain(v) for v in obj) if type(obj) in (list, tuple) else [plain(v) for v in obj]
    return obj


def scheduler_state(scheduler):
    return plain(scheduler.state_dict())


def load_scheduler_state(scheduler, state):
    if isinstance(scheduler, torch.optim.lr_scheduler.MultiStepLR) and 'milestones' in state:
        state = dict(state, milestones=collections.Counter(state['milestones']))
    scheduler.load_state_dict(state)


def save_state(path, state):
    atomic_torch_save(plain(state), path)
