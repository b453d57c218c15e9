"""Tracker families: what each one declares for the shared core, and the one registry of them.

A family (OSTrack, LoRAT, ...) is one `Family` value, defined in its own folder and named once in
`BUILTIN` below. The config loader, build_model, build_tracker, the trainer, the test runner,
analysis, profiling, the benchmark and the quickstart ask `get_family(name)` for what they need; none of
them imports a family module by name or probes it for optional hooks. A field a family does not need
keeps the one default written here.

Families defined outside lib/ (a research fork, the toy family of the tests) are added with
`register(family)` in-process, or, for processes an entry point starts itself (torchrun workers,
tracking workers), by naming them in the environment variable ONESTREAM_FAMILIES as comma-separated
`module:attribute` references.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import os
from collections.abc import Callable
from typing import Any

# name -> 'module:attribute' of the family's Family; one registration line per family
BUILTIN = {
    'ostrack': 'lib.models.ostrack.family:OSTRACK',
    'droptrack': 'lib.models.droptrack.family:DROPTRACK',
    'compresstracker': 'lib.models.compresstracker.family:COMPRESSTRACKER',
    'lorat': 'lib.models.lorat.family:LORAT',
    'firstbox': 'lib.test.tracker.firstbox:FIRSTBOX',
}
# The family the lineage's commands use when none is named (tracking/profile_model.py, quickstart), and
# the tracker that keeps the first box, the floor a trained tracker must beat.
DEFAULT_FAMILY = 'ostrack'
BASELINE_TRACKER = 'firstbox'
PLUGINS_ENV = 'ONESTREAM_FAMILIES'
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class UnknownFamilyError(ValueError):
    """The family name is not registered."""


class Lazy:
    """A callable standing for 'module:attribute', imported on the first call, so that declaring a
    family (and importing the registry) loads no model, data or tracker code."""

    def __init__(self, target: str):
        module, _, attribute = target.partition(':')
        if not module or not attribute:
            raise ValueError(f"lazy reference {target!r} is not 'module:attribute'")
        self.target = target
        self._resolved = None

    def resolve(self) -> Callable[..., Any]:
        if self._resolved is None:
            module, _, attribute = self.target.partition(':')
            self._resolved = _import_attribute(module, attribute, self.target)
        return self._resolved

    def __call__(self, *args, **kwargs):
        return self.resolve()(*args, **kwargs)

    def __repr__(self) -> str:
        return f'lazy({self.target!r})'


def lazy(target: str) -> Callable[..., Any]:
    return Lazy(target)


def import_now(*functions: Callable[..., Any]) -> None:
    """Imports the code behind lazy references (also inside functools.partial) now: e.g. before building
    under `torch.device('meta')`, where tensors a module makes at import time would land on that device."""
    for function in functions:
        while isinstance(function, functools.partial):
            function = function.func
        if isinstance(function, Lazy):
            function.resolve()


def _import_attribute(module: str, attribute: str, target: str) -> Any:
    try:
        return getattr(importlib.import_module(module), attribute)
    except ModuleNotFoundError as e:
        if e.name and module.startswith(e.name):
            raise UnknownFamilyError(f'{target}: module {module} is not present') from None
        raise
    except AttributeError:
        raise UnknownFamilyError(f'{target}: {module} has no {attribute}') from None


@dataclasses.dataclass(frozen=True)
class ExportInputs:
    """The network's per-frame forward as an exporter (ONNX, TensorRT) sees it."""

    # argument name -> example tensor, in the order of the forward's positional arguments
    inputs: dict[str, Any]
    # keys of the forward's output dict that the exported graph returns, in that order
    outputs: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class Family:
    """Everything the shared core needs from one tracker family. Callables are plain functions or
    `lazy('module:attribute')` references; signatures are given beside each field."""

    name: str
    # () -> CfgNode: the declared defaults that experiments/<name>/*.yaml override (None: the tracker
    # reads no config, e.g. the first-box baseline)
    defaults: Callable[[], Any] | None
    # (cfg, training: bool) -> nn.Module; None: a tracker without a network
    build_model: Callable[..., Any] | None = None
    # (model, path) -> model with the weights of a checkpoint file in any layout the family reads
    load_checkpoint: Callable[..., Any] = lazy('lib.models:load_weights')
    # (tensors, source) -> the name of the checkpoint layout the tensors are in, ValueError naming what
    # was expected when it is none the family reads (tracking/convert_checkpoint.py records it; None: the
    # model's own state dict is the one layout, 'state-dict')
    checkpoint_layout: Callable[..., Any] | None = None
    # (cfg, path) -> (tensors, layout): a backbone initialisation file (MODEL.PRETRAIN_FILE) in our keys,
    # initialising the same model when written and set as MODEL.PRETRAIN_FILE (convert_checkpoint.py
    # --pretrained; None: not offered)
    pretrained_weights: Callable[..., Any] | None = None
    # (cfg, network, device=None, options=None, debug=0) -> tracker around a built network
    tracker: Callable[..., Any] | None = None
    # (config_name, checkpoint=None, device=None, debug=0) -> tracker; only for trackers without a network
    build_tracker: Callable[..., Any] | None = None
    # (cfg, net, settings) -> actor (lib.train.actors.base_actor.BaseActor): a batch to losses
    build_actor: Callable[..., Any] | None = None
    # (cfg, training: bool, fast: bool = True) -> the processing that turns sampled frames into a batch
    build_processing: Callable[..., Any] = lazy('lib.train.data.pipeline:build_processing')
    # (net, cfg) -> optimizer parameter groups
    param_groups: Callable[..., Any] = lazy('lib.train.trainers.optim:default_param_groups')
    # <checkpoint_name>_ep%04d.pth.tar: the file stem of training checkpoints
    checkpoint_name: str = ''
    # (cfg) -> (epoch, max_epochs) -> bool: which epochs keep a checkpoint
    checkpoint_schedule: Callable[..., Any] = lazy('lib.train.trainers.checkpoint:lineage_schedule')
    # (cfg, batch=1) -> tuple of forward arguments at the test crop sizes (profiling, FLOPs, benchmark)
    profile_inputs: Callable[..., Any] | None = None
    # (cfg, batch=1) -> ExportInputs: named example inputs and outputs of the forward (exporters;
    # None: the family cannot be exported)
    export_inputs: Callable[..., Any] | None = None
    # (network, peaked: bool) -> the network with random weights made a tracker's stand-in: boxes of about
    # the target's size, and with `peaked` a fixed score peak (lib/benchmark/agreement.py; None: as built)
    stand_in: Callable[..., Any] | None = None
    # (cfg, batch_size, generator) -> one training batch in the actor's format (training benchmark)
    synthetic_batch: Callable[..., Any] = lazy('lib.benchmark.training:lineage_batch')
    # the tiny config tracking/quickstart.py trains (None: the family has no quickstart)
    quickstart_config: str | None = None
    # (full-size config, tiny config) tracking/benchmark.py measures by default (None: only when named)
    benchmark_configs: tuple[str, str] | None = None
    # folder of the family's yaml files (default: experiments/<name>)
    experiments_dir: str | None = None

    @property
    def has_network(self) -> bool:
        return self.build_model is not None

    @property
    def config_dir(self) -> str:
        return self.experiments_dir or os.path.join(REPO_ROOT, 'experiments', self.name)

    def __post_init__(self):
        if self.has_network and self.tracker is None:
            raise ValueError(f'family {self.name!r}: a family with a network declares its tracker')
        if not self.has_network and self.build_tracker is None:
            raise ValueError(f'family {self.name!r}: a family without a network declares build_tracker')


_registered: dict[str, Family] = {}
_plugins_loaded: str | None = None


def register(family: Family) -> Family:
    """Adds (or replaces) a family in this process; returns it."""
    if not isinstance(family, Family):
        raise TypeError(f'register() takes a Family, got {type(family).__name__}')
    _registered[family.name] = family
    return family


def unregister(name: str) -> None:
    _registered.pop(name, None)


def _load_plugins() -> None:
    global _plugins_loaded
    value = os.environ.get(PLUGINS_ENV, '')
    if value == _plugins_loaded:
        return
    _plugins_loaded = value
    for target in filter(None, (t.strip() for t in value.split(','))):
        module, _, attribute = target.partition(':')
        family = _import_attribute(module, attribute, f'{PLUGINS_ENV}={target}')
        if not isinstance(family, Family):
            raise UnknownFamilyError(f'{PLUGINS_ENV}={target} is a {type(family).__name__}, not a Family')
        register(family)


def family_names() -> list[str]:
    _load_plugins()
    return sorted(set(BUILTIN) | set(_registered))


def get_family(name: str) -> Family:
    """The registered family `name`; UnknownFamilyError lists the known names."""
    _load_plugins()
    if name in _registered:
        return _registered[name]
    if name not in BUILTIN:
        raise UnknownFamilyError(f"unknown tracker script '{name}' (known: {', '.join(family_names())})")
    module, _, attribute = BUILTIN[name].partition(':')
    family = _import_attribute(module, attribute, BUILTIN[name])
    if family.name != name:
        raise UnknownFamilyError(
            f'{BUILTIN[name]} declares the family {family.name!r}, registered as {name!r}'
        )
    _registered[name] = family
    return family


def network_family_names() -> list[str]:
    return [name for name in family_names() if get_family(name).has_network]
