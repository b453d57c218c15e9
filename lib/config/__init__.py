"""One config mechanism for every tracker.

A family's `Family.defaults()` (lib/families.py; the built-in families' are in
lib/config/<tracker>/config.py) returns its defaults as a `CfgNode`; the yaml files of its
`Family.config_dir` (experiments/<tracker>/<name>.yaml) override them. Merging is strict: a key the defaults
do not declare is an error naming the yaml file, the key path and the closest valid key, and a value
whose type differs from the default's is an error too. Every call builds a fresh tree, so no global
config is mutated behind the caller's back (the lineage's per-sequence re-merge into a module global).
"""

from __future__ import annotations

import copy
import difflib
import os

import yaml

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXPERIMENTS_DIR = os.path.join(REPO_ROOT, 'experiments')


class ConfigError(ValueError):
    """A yaml file does not fit the declared defaults."""


class CfgNode(dict):
    """A dict with attribute access (cfg.MODEL.BACKBONE.TYPE), like the lineage's EasyDict."""

    def __init__(self, init=None, **kwargs):
        super().__init__()
        for key, value in dict(init or {}, **kwargs).items():
            self[key] = value

    def __setitem__(self, key, value):
        if isinstance(value, dict) and not isinstance(value, CfgNode):
            value = CfgNode(value)
        super().__setitem__(key, value)

    def __getattr__(self, key):
        try:
            return self[key]
        except KeyError:
            raise AttributeError(f"config has no key '{key}' (valid: {', '.join(sorted(self))})") from None

    def __setattr__(self, key, value):
        self[key] = value

    def __deepcopy__(self, memo):
        return CfgNode({k: copy.deepcopy(v, memo) for k, v in self.items()})

    def to_dict(self):
        return {k: v.to_dict() if isinstance(v, CfgNode) else v for k, v in self.items()}


def _type_name(value):
    return type(value).__name__


def _check_value(default, value, where):
    """Returns `value` converted to the default's type, or raises ConfigError."""
    if default is None or value is None:
        return value
    if isinstance(default, bool):
        if isinstance(value, bool):
            return value
    elif isinstance(default, int):
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif isinstance(default, float):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif isinstance(default, str):
        if isinstance(value, str):
            return value
    elif isinstance(default, (list, tuple)):
        if isinstance(value, (list, tuple)):
            return list(value)
    else:
        return value
    raise ConfigError(
        f"{where}: expected a value of type {_type_name(default)} "
        f"(default {default!r}), got {value!r} ({_type_name(value)})"
    )


def merge_into(cfg, overrides, source, prefix=''):
    """Merges a nested dict into `cfg` in place, strictly. `source` names the yaml file in errors."""
    if not isinstance(overrides, dict):
        raise ConfigError(f"{source}: {prefix or 'the top level'} must be a mapping, got {overrides!r}")
    for key, value in overrides.items():
        path = f'{prefix}{key}'
        if key not in cfg:
            close = difflib.get_close_matches(str(key), [str(k) for k in cfg], n=1, cutoff=0.0)
            hint = f"; did you mean '{prefix}{close[0]}'?" if close else ''
            raise ConfigError(f"{source}: unknown key '{path}'{hint}")
        default = cfg[key]
        if isinstance(default, CfgNode):
            if not isinstance(value, dict):
                raise ConfigError(f"{source}: key '{path}' must be a mapping, got {value!r}")
            merge_into(default, value, source, prefix=path + '.')
        else:
            if isinstance(value, dict) and default is not None:
                raise ConfigError(f"{source}: key '{path}' is a value ({_type_name(default)}), not a mapping")
            cfg[key] = _check_value(default, value, f"{source}: key '{path}'")
    return cfg


# What the shared trainer reads from TRAIN beyond the lineage's keys, with the value a family that does
# not set it gets. Declared for every family, so the trainer reads each key directly.
SHARED_TRAIN_KEYS = {
    # AdamW kernel: 'auto' = torch's fused AdamW where this torch build supports it on the device (CUDA,
    # recent CPU builds), else the multi-tensor one; 'true' forces fused (error if unsupported); 'false'.
    # Quote the value in yaml files ('true'), the default being a string.
    'FUSED_OPTIMIZER': 'auto',
    # Recompute each transformer block in the backward pass instead of storing its activations: more
    # compute for far less activation memory; for ViT-L/g or large batches on small GPUs.
    'GRAD_CHECKPOINT': False,
    'AMP_DTYPE': 'float16',  # with AMP: float16 (+ GradScaler, the lineage's) or bfloat16 (--amp wins)
    'COMPILE': False,  # torch.compile the network for training (CLI --compile 0/1 wins)
    # The batch across all processes and accumulation steps (0: whatever BATCH_SIZE x processes is);
    # GLOBAL_BATCH_MODE 'accumulate', 'scale_lr' or 'none' (lib/train/trainers/optim.global_batch_plan).
    'GLOBAL_BATCH_SIZE': 0,
    'GLOBAL_BATCH_MODE': 'none',
}
# TRAIN.SCHEDULER keys of every scheduler TYPE: 'step' (DECAY_RATE), 'Mstep' (MILESTONES, GAMMA),
# 'cosine' (WARMUP_EPOCHS, WARMUP_LR_INIT, LR_MIN, WARMUP_PREFIX).
SHARED_SCHEDULER_KEYS = {
    'DECAY_RATE': 0.1,  # the gamma the lineage's StepLR used
    'MILESTONES': [],
    'GAMMA': 0.1,
    'WARMUP_EPOCHS': 0.0,
    'WARMUP_LR_INIT': 0.0,
    'LR_MIN': 0.0,
    'WARMUP_PREFIX': True,
}
AMP_DTYPES = {'float16': 'fp16', 'bfloat16': 'bf16', 'fp16': 'fp16', 'bf16': 'bf16'}


def add_shared_train_keys(train: CfgNode) -> CfgNode:
    """Declares in a family's TRAIN node the keys the shared trainer reads that the family has not set
    (its own values stay). Call it after the family's TRAIN and TRAIN.SCHEDULER values."""
    import copy

    for key, value in SHARED_TRAIN_KEYS.items():
        if key not in train:
            train[key] = value
    if 'SCHEDULER' not in train:
        train.SCHEDULER = CfgNode({'TYPE': 'step'})
    for key, value in SHARED_SCHEDULER_KEYS.items():
        if key not in train.SCHEDULER:
            train.SCHEDULER[key] = copy.copy(value)
    return train


def _family(script: str):
    from lib.families import UnknownFamilyError, get_family

    try:
        return get_family(script)
    except UnknownFamilyError as e:
        raise ConfigError(str(e)) from None


def experiment_file(script: str, config_name: str) -> str:
    return os.path.join(_family(script).config_dir, f'{config_name}.yaml')


def available_configs(script: str) -> list[str]:
    folder = _family(script).config_dir
    if not os.path.isdir(folder):
        return []
    return sorted(f[:-5] for f in os.listdir(folder) if f.endswith('.yaml'))


def default_config(script: str) -> CfgNode:
    """The declared defaults of a tracker family (a fresh tree)."""
    family = _family(script)
    if family.defaults is None:
        raise ConfigError(f"tracker script '{script}' reads no config")
    return family.defaults()


def load_yaml(path):
    try:
        with open(path) as f:
            data = yaml.safe_load(f)
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid yaml: {e}") from None
    return data or {}


def load_config(script: str, config_name: str | None = None, yaml_path: str | None = None) -> CfgNode:
    """Defaults of `script` merged with experiments/<script>/<config_name>.yaml (or `yaml_path`)."""
    cfg = default_config(script)
    path = yaml_path or (experiment_file(script, config_name) if config_name else None)
    if path is None:
        return cfg
    if not os.path.isfile(path):
        choices = available_configs(script)
        close = difflib.get_close_matches(config_name or '', choices, n=1, cutoff=0.0)
        hint = f"; did you mean '{close[0]}'?" if close else ''
        raise ConfigError(
            f"config file not found: {path}{hint} (available for {script}: {', '.join(choices) or 'none'})"
        )
    return check_crop_sizes(merge_into(cfg, load_yaml(path), path), path)


# (model size key, tracker crop key) pairs of the lineage's schema
CROP_SIZE_KEYS = (('DATA.TEMPLATE.SIZE', 'TEST.TEMPLATE_SIZE'), ('DATA.SEARCH.SIZE', 'TEST.SEARCH_SIZE'))


def _lookup(cfg: CfgNode, dotted: str):
    node = cfg
    for part in dotted.split('.'):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def check_crop_sizes(cfg: CfgNode, source: str) -> CfgNode:
    """The one rule for the two sets of crop sizes: the network is built for DATA.TEMPLATE.SIZE and
    DATA.SEARCH.SIZE (its position embeddings are sized for them and not resampled at test time), the
    tracker crops at TEST.TEMPLATE_SIZE and TEST.SEARCH_SIZE, so each pair must be equal. A config
    that declares neither key of a pair is not checked."""
    for model_key, test_key in CROP_SIZE_KEYS:
        model_size, test_size = _lookup(cfg, model_key), _lookup(cfg, test_key)
        if model_size is not None and test_size is not None and int(model_size) != int(test_size):
            raise ConfigError(
                f"{source}: {test_key}={test_size} differs from {model_key}={model_size}; the network is "
                f"built for {model_key} and the tracker crops at {test_key}, so set both to the same size"
            )
    return cfg
