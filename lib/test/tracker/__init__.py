"""Tracker registry: `build_tracker(script, config_name, ...)` builds a ready-to-run tracker.

Each tracker lives in lib/test/tracker/<script>.py and exposes
`build_tracker(config_name, checkpoint=None, device=None, debug=0, options=None)` and, when it wraps a
network, `tracker_for_network(script, cfg, network, device=None, options=None, debug=0)`. Modules are
imported only when asked for, so importing lib.test.tracker stays cheap (no model code, no visdom).
"""
import importlib

# script name -> whether it reads experiments/<script>/<config>.yaml (firstbox takes any name).
TRACKERS = {
    'ostrack': True,
    'droptrack': True,
    'lorat': True,
    'compresstracker': True,
    'firstbox': False,
}


class UnknownTrackerError(ValueError):
    """The tracker script name is not registered or its module is absent."""


def known_trackers():
    return sorted(TRACKERS)


def tracker_module(script):
    """Imports lib.test.tracker.<script>, with an error listing the known names."""
    if script not in TRACKERS:
        raise UnknownTrackerError(f"unknown tracker '{script}' (known: {', '.join(known_trackers())})")
    module_name = f'{__name__}.{script}'
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        if e.name != module_name:
            raise
        raise UnknownTrackerError(f"tracker '{script}' is registered but {module_name.replace('.', '/')}.py "
                                  f"is not present in this checkout") from None


def tracker_has_network(script):
    """Whether the tracker wraps a network (and so takes InferenceOptions and batched evaluation)."""
    return TRACKERS.get(script, False)


def check_tracker(script, config_name):
    """Fails early, without building a network, on an unknown tracker or a missing/invalid config."""
    tracker_module(script)
    if TRACKERS[script]:
        from lib.config import load_config
        load_config(script, config_name)


def build_tracker(script, config_name, checkpoint=None, device=None, debug=0, options=None):
    """Builds the tracker `script` with experiments/<script>/<config_name>.yaml.

    checkpoint: weights file (default: the tracker's own default path); device: torch device or
    string (default: cuda if available, else cpu); debug > 0 enables visualisation; options:
    lib.test.tracker.options.InferenceOptions (None: the fast defaults; InferenceOptions.plain(): the
    reference path). Trackers without a network (firstbox) ignore options.
    """
    module = tracker_module(script)
    if options is None or not TRACKERS[script]:
        return module.build_tracker(config_name, checkpoint=checkpoint, device=device, debug=debug)
    return module.build_tracker(config_name, checkpoint=checkpoint, device=device, debug=debug,
                                options=options)


def build_tracker_for_network(script, cfg, network, device=None, options=None, debug=0):
    """A tracker of family `script` around an already built network and its merged config (no
    checkpoint: e.g. random weights for benchmarks and tests)."""
    module = tracker_module(script)
    factory = getattr(module, 'tracker_for_network', None)
    if factory is None:
        raise UnknownTrackerError(f"tracker '{script}' has no network (known network trackers: "
                                  f"{', '.join(s for s in known_trackers() if TRACKERS[s])})")
    return factory(script, cfg, network, device=device, options=options, debug=debug)
