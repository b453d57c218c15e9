"""Checkpoint conversion: any layout a family reads -> one safetensors file in our keys, with a sidecar.

    python tracking/convert_checkpoint.py SCRIPT CONFIG INPUT [-o OUTPUT.safetensors] [--pretrained]

The family's network for experiments/SCRIPT/CONFIG.yaml is built for inference, INPUT is loaded with the
family's own load_checkpoint (so the conversion reads exactly what build_model and the trackers read,
whatever the layout), and the model's complete state dict is written as safetensors, atomically. With
--pretrained, INPUT is a backbone-initialisation file (MODEL.PRETRAIN_FILE: MAE, DropMAE, timm ViT,
DINOv2; CompressTracker: the OSTrack teacher) and the family's `pretrained_weights` writes it in our
keys, so that the converted file as MODEL.PRETRAIN_FILE initialises the same model as the original.

Beside OUTPUT.safetensors, OUTPUT.json records what the file is: family, config, source file name and
sha256, the source's layout (the families' detectors: lib/models/ostrack/weights.py,
lib/models/backbones/pretrained.py, lib/models/backbones/dinov2.py, lib/models/lorat/weights.py), the key
count, the format version and the torch version; the same fields go into the safetensors metadata, so
they survive when the sidecar is lost. The loaders check a sidecar when there is one (`check_sidecar`).

Exit codes: 0 written, 2 bad arguments or an input that is not what the family reads.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys

FORMAT_VERSION = 1
CONTENT_MODEL = 'model'  # the complete state dict of a family's inference model
CONTENT_PRETRAINED = 'pretrained'  # a backbone initialisation (MODEL.PRETRAIN_FILE)
# Endings stripped from INPUT's name to get the default output name.
_WEIGHT_SUFFIXES = ('.pth.tar', '.safetensors', '.pth', '.bin', '.pt', '.tar', '.ckpt')


class ConversionError(ValueError):
    """The arguments or the input do not allow a conversion; the message names the file."""


def sidecar_path(weights_path: str) -> str:
    """OUTPUT.json for OUTPUT.safetensors (another name: name + '.json')."""
    weights_path = os.fspath(weights_path)
    stem = weights_path[: -len('.safetensors')] if weights_path.endswith('.safetensors') else weights_path
    return stem + '.json'


def read_sidecar(weights_path: str) -> dict | None:
    """The sidecar of a converted file, or None when there is none. A JSON file of that name that this
    converter did not write (no 'onestream_format') is not a sidecar and is ignored."""
    path = sidecar_path(weights_path)
    if not os.path.isfile(path):
        return None
    try:
        with open(path) as f:
            data = json.load(f)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and 'onestream_format' in data else None


def check_sidecar(
    weights_path: str, model, family: str | None = None, contents: tuple[str, ...] = (CONTENT_MODEL,)
) -> dict | None:
    """Before loading `weights_path` into `model`: when a sidecar is next to it, it must describe one of
    `contents` (default: a whole model, not a backbone initialisation), of `family` (when given), with the
    model's key count. Raises ValueError naming the file, the sidecar's value and the expected one;
    returns the sidecar or None."""
    meta = read_sidecar(weights_path)
    if meta is None:
        return None
    where = f"{weights_path} (sidecar {os.path.basename(sidecar_path(weights_path))})"
    if meta.get('content', CONTENT_MODEL) not in contents:
        raise ValueError(
            f"{where}: content '{meta.get('content')}' (a backbone initialisation of layout "
            f"'{meta.get('layout')}'), expected a whole model: set it as MODEL.PRETRAIN_FILE instead"
        )
    if family is not None and meta.get('family') != family:
        raise ValueError(
            f"{where}: family '{meta.get('family')}' (config '{meta.get('config')}'), expected '{family}'"
        )
    keys = len(model.state_dict())
    if meta.get('keys') != keys:
        raise ValueError(
            f"{where}: {meta.get('keys')} keys (family '{meta.get('family')}', config "
            f"'{meta.get('config')}'), expected {keys}, the key count of this model"
        )
    return meta


def file_sha256(path: str, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def default_output(input_path: str) -> str:
    """<INPUT name without its weights suffix>.safetensors in the current directory."""
    name = os.path.basename(input_path)
    for suffix in _WEIGHT_SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix):
            name = name[: -len(suffix)]
            break
    return os.path.abspath(name + '.safetensors')


def _load_cfg(script: str, config: str):
    """experiments/<script>/<config>.yaml, or `config` itself when it is a yaml path."""
    from lib.config import ConfigError, load_config

    if config.endswith(('.yaml', '.yml')):
        if not os.path.isfile(config):
            raise ConfigError(f'config file not found: {config}')
        return load_config(script, yaml_path=config)
    return load_config(script, config)


def _family_of_layout(layout: str, fallback: str) -> str:
    """Layouts of whole models start with their family's name ('droptrack-model'); others (a shared
    detector's) belong to the family whose detector named them."""
    from lib.families import network_family_names

    prefix = layout.split('-')[0]
    return prefix if prefix in network_family_names() else fallback


def _layout_hint(script: str, tensors: dict, source: str) -> str:
    """'; its layout is ...: convert it with `<family> CONFIG`' when another family reads the tensors."""
    from lib.families import get_family, network_family_names

    for name in network_family_names():
        detect = get_family(name).checkpoint_layout
        if name == script or detect is None:
            continue
        try:
            layout = detect(tensors, source)
        except ValueError:
            continue
        return f"; its layout is '{layout}': convert it with `{_family_of_layout(layout, name)} CONFIG`"
    return ''


def _source_layout(family, tensors: dict, path: str) -> str:
    if family.checkpoint_layout is None:
        return 'state-dict'
    try:
        return family.checkpoint_layout(tensors, path)
    except ValueError as e:
        raise ConversionError(f'{e}{_layout_hint(family.name, tensors, path)}') from None


def _read_tensors(path: str) -> dict:
    """The file's tensors; a file that is no readable checkpoint at all (truncated, another format) is a
    ConversionError naming it, whatever the reader raised."""
    from lib.utils.checkpoint import load_tensors

    try:
        return load_tensors(path)
    except Exception as e:  # safetensors, pickle and zip readers each raise their own kinds
        message = str(e) if path in str(e) else f'{type(e).__name__}: {e}'
        raise ConversionError(
            f'{path}: cannot be read as a checkpoint (.safetensors, .pth, .pth.tar, .bin): {message}'
        ) from None


def _read_input(family, cfg, input_path: str, pretrained: bool) -> tuple[str, str, dict]:
    """(source layout, content, tensors to write) of the input."""
    from lib.models import build_model_from_cfg

    script = family.name
    if pretrained:
        if family.pretrained_weights is None:
            raise ConversionError(
                f"{input_path}: the {script} family has no backbone initialisation file to convert "
                f"(--pretrained); convert its checkpoints without it"
            )
        state, layout = family.pretrained_weights(cfg, input_path)
        return layout, CONTENT_PRETRAINED, {k: v.detach().cpu() for k, v in state.items()}
    # the loaders read the file themselves; the tensors read here tell the layout and show that the file
    # is readable, and are not kept (two copies of a large checkpoint would be)
    tensors = _read_tensors(input_path)
    layout = _source_layout(family, tensors, input_path)
    del tensors
    model = build_model_from_cfg(script, cfg, training=False)
    try:
        family.load_checkpoint(model, input_path)
    except ValueError as e:
        other = _family_of_layout(layout, script)
        hint = f"; its layout is '{layout}': convert it with `{other} CONFIG`" if other != script else ''
        raise ConversionError(f'{e}{hint}') from None
    return layout, CONTENT_MODEL, {k: v.detach().cpu() for k, v in model.state_dict().items()}


def convert_checkpoint(
    script: str,
    config: str,
    input_path: str,
    output: str | None = None,
    pretrained: bool = False,
    pretrain_file: str | None = None,
) -> dict:
    """Converts `input_path` (module doc); returns the sidecar written beside `output` (default:
    default_output(input_path)). ConversionError / ValueError / OSError on bad input, naming the file."""
    import torch

    from lib.families import get_family
    from lib.utils.io import atomic_save_safetensors, atomic_write_text

    family = get_family(script)
    if not family.has_network:
        raise ConversionError(f"tracker '{script}' has no network, so no checkpoint to convert")
    cfg = _load_cfg(script, config)
    if pretrain_file is not None:
        cfg.MODEL.PRETRAIN_FILE = pretrain_file
    if not os.path.isfile(input_path):
        raise ConversionError(f'{input_path}: no such file (expected a checkpoint of the {script} family)')
    output = os.path.abspath(output) if output else default_output(input_path)
    if not output.endswith('.safetensors'):
        raise ConversionError(f'{output}: the output is a safetensors file; name it *.safetensors')
    if os.path.exists(output) and os.path.samefile(output, input_path):
        raise ConversionError(f'{input_path}: the output would overwrite the input; choose another -o OUTPUT')
    if sidecar_path(output) == os.path.abspath(input_path):
        raise ConversionError(f'{input_path}: the sidecar {sidecar_path(output)} would overwrite the input')

    try:
        layout, content, state = _read_input(family, cfg, input_path, pretrained)
    except (ValueError, KeyError) as e:  # name the file in every message about its content
        message = str(e.args[0]) if isinstance(e, KeyError) and e.args else str(e)
        if os.path.basename(input_path) not in message:
            message = f'{input_path}: {message}'
        raise ConversionError(message) from None

    meta = {
        'onestream_format': FORMAT_VERSION,
        'content': content,
        'family': script,
        'config': config,
        'source': os.path.basename(input_path),
        'source_sha256': file_sha256(input_path),
        'layout': layout,
        'keys': len(state),
        'torch': torch.__version__,
    }
    if pretrain_file is not None:
        meta['pretrain_file'] = os.path.basename(pretrain_file)
    side = sidecar_path(output)
    if os.path.exists(side):  # a stale sidecar must never describe the new weights
        os.remove(side)
    atomic_save_safetensors(state, output, metadata={k: str(v) for k, v in meta.items()})
    atomic_write_text(side, json.dumps(meta, indent=2) + '\n')
    return dict(meta, output=output, sidecar=side)


def build_parser() -> argparse.ArgumentParser:
    from lib.families import network_family_names

    parser = argparse.ArgumentParser(
        prog='tracking/convert_checkpoint.py',
        description='Convert a checkpoint in any layout the family reads to safetensors in our keys, '
        'with a JSON sidecar.',
    )
    parser.add_argument('script', help=f"tracker family ({', '.join(network_family_names())})")
    parser.add_argument('config', help='config name (experiments/<script>/<config>.yaml) or a yaml path')
    parser.add_argument('input', help='the checkpoint (.pth.tar, .pth, .bin, .safetensors)')
    parser.add_argument(
        '-o',
        '--output',
        default=None,
        help='output .safetensors (default: <input name>.safetensors in the current directory); '
        'the sidecar is <output without .safetensors>.json',
    )
    parser.add_argument(
        '--pretrained',
        action='store_true',
        help='INPUT is a backbone initialisation file (MODEL.PRETRAIN_FILE: MAE, DropMAE, timm ViT, '
        'DINOv2; CompressTracker: the OSTrack teacher): write it in our keys, the same init',
    )
    parser.add_argument(
        '--pretrain_file',
        default=None,
        help="overrides MODEL.PRETRAIN_FILE (LoRAT trainable-only checkpoints go on top of that DINOv2 file)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from lib.families import UnknownFamilyError

    try:
        meta = convert_checkpoint(
            args.script,
            args.config,
            args.input,
            output=args.output,
            pretrained=args.pretrained,
            pretrain_file=args.pretrain_file,
        )
    except (UnknownFamilyError, ValueError, KeyError, OSError, RuntimeError) as e:
        message = str(e.args[0]) if isinstance(e, KeyError) and e.args else str(e)
        print('error: ' + ' '.join(str(message).split()), file=sys.stderr)  # one line
        return 2
    print(
        f"wrote {meta['output']} ({meta['keys']} tensors, {meta['content']} of {meta['family']}, "
        f"from layout '{meta['layout']}') and {meta['sidecar']}"
    )
    return 0
