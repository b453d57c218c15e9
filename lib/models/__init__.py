"""Model registry: one line per tracker family (script name -> module exposing `build(cfg, training)`).

    build_model('ostrack', 'vitb_256_mae_ce_32x4_ep300', checkpoint='.../OSTrack_ep0300.pth.tar')

Family modules are imported lazily, so importing lib.models is cheap.
"""
import importlib

FAMILIES = {
    'ostrack': 'lib.models.ostrack',
    'droptrack': 'lib.models.droptrack',
    'compresstracker': 'lib.models.compresstracker',
    'lorat': 'lib.models.lorat',
}


def family_module(script):
    if script not in FAMILIES:
        raise ValueError(f"unknown tracker script '{script}' (known: {', '.join(sorted(FAMILIES))})")
    return importlib.import_module(FAMILIES[script])


def build_model_from_cfg(script, cfg, training=True):
    """The model of a merged config; with training, pretrained init per the config (MODEL.PRETRAIN_FILE)."""
    model = family_module(script).build(cfg, training=training)
    model.cfg = cfg
    return model


def load_weights(model, checkpoint, strict=True):
    """Loads a checkpoint file (tensor-only; 'net'/'model'/'state_dict' unwrapped) into `model`. A strict
    mismatch raises ValueError naming the file and the first missing / unexpected / mis-shaped keys."""
    from lib.utils.checkpoint import load_tensors
    state = load_tensors(checkpoint)
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shapes = [f'{k} {tuple(state[k].shape)} vs model {tuple(own[k].shape)}'
              for k in own if k in state and state[k].shape != own[k].shape]
    if shapes or (strict and (missing or unexpected)):
        parts = [f'{len(missing)} missing (e.g. {missing[:4]})' if missing else '',
                 f'{len(unexpected)} unexpected (e.g. {unexpected[:4]})' if unexpected else '',
                 f'shape mismatches: {shapes[:4]}' if shapes else '']
        raise ValueError(f"checkpoint {checkpoint} does not fit the model: "
                         f"{'; '.join(p for p in parts if p)}")
    model.load_state_dict(state, strict=strict)
    return model


def build_model(script, config_name, checkpoint=None, training=False):
    """Builds experiments/<script>/<config_name>.yaml's model, loads `checkpoint` strictly if given, and
    puts it in eval mode unless training. The merged config is at model.cfg. A family whose weights come
    in several layouts (LoRAT: trainable-only, unmerged, merged) loads them with its own
    `load_checkpoint(model, checkpoint)`."""
    from lib.config import load_config
    model = build_model_from_cfg(script, load_config(script, config_name), training=training)
    if checkpoint:
        loader = getattr(family_module(script), 'load_checkpoint', None)
        if loader is not None:
            loader(model, checkpoint)
        else:
            load_weights(model, checkpoint, strict=True)
    return model.train(training)
