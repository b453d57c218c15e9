"""tracking/convert_checkpoint.py: every official layout the project reads (files generated here with the
official key names) converts to safetensors that load strictly and give the same outputs; the sidecar
holds independently computed values; bad input exits with 2 naming the file.

Sizes: the OSTrack / DropTrack files use the official configs with a thin ViT (the official key names,
12 blocks, the official token grids), CompressTracker's released student the full official config, and
LoRAT the tiny models whose outputs were recorded from the official code
(tests/data/lorat_official_parity.json)."""

import copy
import hashlib
import json
import os
import subprocess
import sys

import pytest
import torch
import yaml
from safetensors.torch import load_file, save_file

from lib.config import experiment_file, load_config
from lib.families import get_family
from lib.models import build_model, build_model_from_cfg
from lib.models.conversion import main
from lib.models.lorat import build, merged_model
from lib.utils.io import atomic_torch_save
from tests.compresstracker_fixtures import tiny_cfg as compresstracker_tiny_cfg
from tests.compresstracker_fixtures import tiny_teacher_checkpoint
from tests.test_lorat_model_parity import DATA as LORAT_PARITY
from tests.test_lorat_model_parity import TYPES as LORAT_TYPES
from tests.test_lorat_model_parity import inputs as lorat_parity_inputs
from tests.test_lorat_model_parity import official_dinov2_tensors, timm_layout, trainable_tensors
from tests.test_ostrack_model_weights import _vit_tensors

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(REPO, 'tests', 'data')
ENTRY_POINT = os.path.join(REPO, 'tracking', 'convert_checkpoint.py')
LINEAGE_OUTPUTS = ('pred_boxes', 'score_map', 'size_map', 'offset_map')


class Settings:  # stands for the pickled settings object of the official OSTrack-lineage trainers
    def __init__(self):
        self.env = {'workspace_dir': '/somewhere'}


def official_names(name):
    with open(os.path.join(DATA, name)) as f:
        return json.load(f)['shapes']


def sha256(path):
    with open(path, 'rb') as f:
        return hashlib.sha256(f.read()).hexdigest()


def write_config(tmp_path, script, base, overrides, name='config.yaml'):
    """experiments/<script>/<base>.yaml with `overrides` merged in, as a yaml file the converter reads."""
    with open(experiment_file(script, base)) as f:
        data = yaml.safe_load(f)

    def merge(into, new):
        for key, value in new.items():
            if isinstance(value, dict):
                merge(into.setdefault(key, {}), value)
            else:
                into[key] = value

    merge(data, overrides)
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data))
    return str(path)


THIN = {'MODEL': {'BACKBONE': {'EMBED_DIM': 32, 'NUM_HEADS': 2}, 'HEAD': {'NUM_CHANNELS': 16}}}


def random_state(names, own, seed=0):
    """Random tensors under the given (official) names, with the shapes of `own`; BatchNorm statistics
    valid (positive variances), counters integers."""
    gen = torch.Generator().manual_seed(seed)
    state = {}
    for key in names:
        shape = own[key].shape
        if key.endswith('num_batches_tracked'):
            state[key] = torch.randint(0, 5, shape, generator=gen)
        elif key.endswith('running_var'):
            state[key] = torch.rand(shape, generator=gen) + 0.5
        else:
            state[key] = torch.randn(shape, generator=gen) * 0.2
    return state


def lineage_outputs(model, z_size, x_size, seed=1):
    gen = torch.Generator().manual_seed(seed)
    z, x = torch.randn(2, 3, z_size, z_size, generator=gen), torch.randn(2, 3, x_size, x_size, generator=gen)
    with torch.no_grad():
        out = model.eval()(z, x)
    return {k: out[k] for k in LINEAGE_OUTPUTS}


def assert_same_outputs(a, b, atol=0.0):
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], atol=atol, rtol=0 if atol == 0 else 1e-4)


def read_sidecar(path):
    with open(str(path)[: -len('.safetensors')] + '.json') as f:
        return json.load(f)


def assert_sidecar(meta, family, config, source, layout, keys, content='model'):
    assert meta['onestream_format'] == 1
    assert meta['family'] == family and meta['config'] == config and meta['content'] == content
    assert meta['source'] == os.path.basename(source) and meta['source_sha256'] == sha256(source)
    assert meta['layout'] == layout and meta['keys'] == keys
    assert meta['torch'] == torch.__version__


def strict_copy(cfg, script, tensors):
    """A fresh inference model of `cfg` with `tensors` loaded by plain torch, strictly."""
    model = build_model_from_cfg(script, copy.deepcopy(cfg), training=False)
    model.load_state_dict(tensors, strict=True)
    return model


# --- OSTrack lineage -------------------------------------------------------------------------------------


def test_ostrack_official_checkpoint_round_trip_by_the_entry_point(tmp_path):
    config = write_config(tmp_path, 'ostrack', 'vitb_256_mae_ce_32x4_ep300', THIN)
    cfg = load_config('ostrack', yaml_path=config)
    names = official_names('ostrack_vitb_256_mae_ce_state_dict.json')
    own = build_model_from_cfg('ostrack', cfg, training=False).state_dict()
    assert sorted(own) == sorted(names)  # the thin model has the official key names
    state = random_state(names, own)
    source = tmp_path / 'OSTrack_ep0300.pth.tar'
    torch.save({'net': state, 'epoch': 300, 'net_type': 'OSTrack', 'settings': Settings()}, source)
    out = tmp_path / 'out' / 'converted.safetensors'
    run = subprocess.run(
        [sys.executable, ENTRY_POINT, 'ostrack', config, str(source), '-o', str(out)],
        cwd=str(tmp_path),
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr
    converted = load_file(str(out))
    assert sorted(converted) == sorted(names)
    assert_sidecar(read_sidecar(out), 'ostrack', config, source, 'ostrack-model', len(names))
    reference = lineage_outputs(strict_copy(cfg, 'ostrack', state), 128, 256)
    assert_same_outputs(lineage_outputs(strict_copy(cfg, 'ostrack', converted), 128, 256), reference)
    family = get_family('ostrack')
    from_original = family.load_checkpoint(build_model_from_cfg('ostrack', cfg, training=False), str(source))
    from_converted = family.load_checkpoint(build_model_from_cfg('ostrack', cfg, training=False), str(out))
    assert_same_outputs(lineage_outputs(from_converted, 128, 256), lineage_outputs(from_original, 128, 256))
    # as MODEL.PRETRAIN_FILE the converted file (no 'OSTrack' in its name) initialises the whole model
    init = copy.deepcopy(cfg)
    init.MODEL.PRETRAIN_FILE = str(out)
    trained = build_model_from_cfg('ostrack', init, training=True).state_dict()
    assert all(torch.equal(trained[k], state[k]) for k in names)


def test_ostrack_tiny_converted_file_loads_in_build_model_and_the_tracker(tmp_path):
    torch.manual_seed(3)
    source_model = build_model_from_cfg('ostrack', load_config('ostrack', 'tiny_ce'), training=False)
    source = tmp_path / 'OSTrack_ep0045.pth.tar'
    torch.save({'net': source_model.state_dict(), 'settings': Settings()}, source)
    out = tmp_path / 'tiny.safetensors'
    assert main(['ostrack', 'tiny_ce', str(source), '-o', str(out)]) == 0
    model = build_model('ostrack', 'tiny_ce', checkpoint=str(out))
    assert_same_outputs(lineage_outputs(model, 64, 128), lineage_outputs(source_model, 64, 128))
    from lib.test.tracker import build_tracker

    tracker = build_tracker('ostrack', 'tiny_ce', checkpoint=str(out), device='cpu')
    network = tracker.network.state_dict()
    assert all(torch.equal(network[k].cpu(), v) for k, v in source_model.state_dict().items())


def test_droptrack_official_checkpoint_round_trip(tmp_path):
    config = write_config(tmp_path, 'droptrack', 'vitb_384_mae_ce_32x4_ep300', THIN)
    cfg = load_config('droptrack', yaml_path=config)
    names = official_names('droptrack_vitb_384_mae_ce_state_dict.json')
    own = build_model_from_cfg('droptrack', cfg, training=False).state_dict()
    assert sorted(own) == sorted(names)
    state = random_state(names, own, seed=4)
    source = tmp_path / 'OSTrack_ep0300.pth.tar'  # DropTrack's trainer names its files so too
    torch.save({'net': state, 'settings': Settings()}, source)
    out = tmp_path / 'droptrack.safetensors'
    assert main(['droptrack', config, str(source), '-o', str(out)]) == 0
    assert_sidecar(read_sidecar(out), 'droptrack', config, source, 'droptrack-model', len(names))
    converted = get_family('droptrack').load_checkpoint(
        build_model_from_cfg('droptrack', cfg, training=False), str(out)
    )
    assert torch.equal(converted.backbone.temporal_pos_embed_z, state['backbone.temporal_pos_embed_z'])
    reference = lineage_outputs(strict_copy(cfg, 'droptrack', state), 192, 384)
    assert_same_outputs(lineage_outputs(converted, 192, 384), reference)


def test_compresstracker_released_student_round_trip(tmp_path):
    shapes = official_names('compresstracker_vitb_256_4_official_keys.json')
    gen = torch.Generator().manual_seed(5)
    released = {}
    for k, s in shapes.items():
        if not s:
            released[k] = torch.tensor(3)
        elif k.endswith('running_var'):
            released[k] = torch.rand(s, generator=gen) + 0.5
        else:
            released[k] = torch.randn(s, generator=gen) * 0.05
    source = tmp_path / 'CompressTracker_ep0500.pth.tar'
    atomic_torch_save({'net': released}, str(source))
    out = tmp_path / 'ct4.safetensors'
    assert main(['compresstracker', 'compresstracker_vitb_256_4', str(source), '-o', str(out)]) == 0
    meta = read_sidecar(out)
    cfg_name = 'compresstracker_vitb_256_4'
    assert_sidecar(meta, 'compresstracker', cfg_name, source, 'compresstracker-student', len(shapes))
    model = build_model('compresstracker', cfg_name, checkpoint=str(out))
    cfg = load_config('compresstracker', cfg_name)
    reference = lineage_outputs(strict_copy(cfg, 'compresstracker', released), 128, 256)
    assert_same_outputs(lineage_outputs(model, 128, 256), reference)


def test_compresstracker_official_training_checkpoint_loses_its_teacher(tmp_path):
    """The official training checkpoint: the student, the teacher's block copy (backbone.blocks.*) and
    the teacher (ori_backbone.*, ori_box_head.*)."""
    teacher_path, teacher = tiny_teacher_checkpoint(tmp_path)
    cfg = load_config('compresstracker', 'tiny')
    torch.manual_seed(6)
    student = build_model_from_cfg('compresstracker', cfg, training=False).state_dict()
    teacher_state = teacher.state_dict()
    training = dict(student)
    training.update({k: v for k, v in teacher_state.items() if k.startswith('backbone.blocks.')})
    training.update({f'ori_{k}': v for k, v in teacher_state.items()})
    source = tmp_path / 'CompressTracker_ep0010.pth.tar'
    torch.save({'net': training, 'settings': Settings()}, source)
    out = tmp_path / 'student.safetensors'
    assert main(['compresstracker', 'tiny', str(source), '-o', str(out)]) == 0
    assert sorted(load_file(str(out))) == sorted(student)
    assert_sidecar(
        read_sidecar(out), 'compresstracker', 'tiny', source, 'compresstracker-train', len(student)
    )
    model = build_model('compresstracker', 'tiny', checkpoint=str(out))
    reference = lineage_outputs(strict_copy(cfg, 'compresstracker', student), 64, 128)
    assert_same_outputs(lineage_outputs(model, 64, 128), reference)


@pytest.mark.parametrize('script,kind', [('ostrack', 'mae'), ('ostrack', 'timm'), ('droptrack', 'dropmae')])
def test_backbone_init_files_convert_to_the_same_initialisation(tmp_path, script, kind):
    overrides = {'MODEL': {'BACKBONE': {'EMBED_DIM': 128, 'NUM_HEADS': 4}}}  # _vit_tensors' size
    config = write_config(tmp_path, 'ostrack', 'tiny_ce', overrides)
    if kind == 'timm':  # a 384-px timm ViT without class token, classifier head: another grid resampled
        vit = _vit_tensors(grid=24, prefix_tokens=0)
        vit.update({'head.weight': torch.zeros(10, 128), 'head.bias': torch.zeros(10)})
        source = tmp_path / 'vit_base_patch16_384.safetensors'
        save_file(vit, str(source))
        layout, file_keys = 'vit', len(vit) - 2
    else:
        vit = _vit_tensors()
        extra = {'mask_token': torch.zeros(1, 1, 128), 'decoder_embed.weight': torch.zeros(64, 128)}
        if kind == 'dropmae':
            vit['temporal_pos_embed_x'] = torch.full((1, 1, 128), 0.5)
            vit['temporal_pos_embed_z'] = torch.full((1, 1, 128), -0.5)
        source = tmp_path / f'{kind}_pretrain_vit.pth'
        torch.save({'model': dict(vit, **extra), 'args': {'note': kind}}, source)
        layout, file_keys = kind, len(vit)
    out = tmp_path / 'init.safetensors'
    assert main([script, config, str(source), '-o', str(out), '--pretrained']) == 0
    assert sorted(load_file(str(out))) == sorted(k for k in vit if not k.startswith('head.'))
    assert_sidecar(read_sidecar(out), script, config, source, layout, file_keys, content='pretrained')

    def initialised(path):
        cfg = load_config(script, yaml_path=config)
        cfg.MODEL.PRETRAIN_FILE = str(path)
        torch.manual_seed(0)  # the parts the file does not hold start from the same random init
        return build_model_from_cfg(script, cfg, training=True)

    original, converted = initialised(source).state_dict(), initialised(out).state_dict()
    assert original.keys() == converted.keys()
    assert all(torch.equal(original[k], converted[k]) for k in original)
    assert torch.equal(original['backbone.blocks.3.mlp.fc2.weight'], vit['blocks.3.mlp.fc2.weight'])
    # a backbone initialisation is not a tracker checkpoint: the loaders say so, naming the file
    model = build_model_from_cfg(script, load_config(script, yaml_path=config), training=False)
    with pytest.raises(ValueError, match=r'init\.safetensors.*MODEL\.PRETRAIN_FILE'):
        get_family(script).load_checkpoint(model, str(out))


def test_compresstracker_teacher_converts_to_the_same_student_initialisation(tmp_path):
    teacher_path, teacher = tiny_teacher_checkpoint(tmp_path)
    out = tmp_path / 'teacher.safetensors'
    assert main(['compresstracker', 'tiny', teacher_path, '-o', str(out), '--pretrained']) == 0
    meta = read_sidecar(out)
    assert_sidecar(
        meta,
        'compresstracker',
        'tiny',
        teacher_path,
        'ostrack-model',
        len(teacher.state_dict()),
        'pretrained',
    )
    original = build_model_from_cfg('compresstracker', compresstracker_tiny_cfg(teacher_path), training=True)
    converted = build_model_from_cfg('compresstracker', compresstracker_tiny_cfg(str(out)), training=True)
    a, b = original.state_dict(), converted.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    t = teacher.state_dict()
    assert all(torch.equal(v, t[k]) for k, v in converted.teacher.state_dict().items())


# --- LoRAT -----------------------------------------------------------------------------------------------


def lorat_parity_config(tmp_path, case, pretrain_file=''):
    rec = LORAT_PARITY[case]
    overrides = {
        'MODEL': {
            'PRETRAIN_FILE': str(pretrain_file),
            'BACKBONE': {
                'TYPE': LORAT_TYPES[case],
                'EMBED_DIM': rec['dim'],
                'DEPTH': rec['depth'],
                'NUM_HEADS': rec['num_heads'],
            },
            'LORA': {'R': 4, 'ALPHA': 4.0},
        },
        'DATA': {'TEMPLATE': {'SIZE': 28}, 'SEARCH': {'SIZE': 56}},
        'TEST': {'TEMPLATE_SIZE': 28, 'SEARCH_SIZE': 56},
    }
    return write_config(tmp_path, 'lorat', 'tiny', overrides, name=f'lorat_{case}.yaml')


def lorat_outputs(model, inputs):
    with torch.no_grad():
        out = model.eval()(*inputs)
    return {k: out[k] for k in ('score_map', 'boxes')}


@pytest.mark.parametrize('case,dinov2', [('mlp', 'official'), ('swiglu', 'timm')])
def test_lorat_trainable_only_release_converts_to_a_complete_file(tmp_path, case, dinov2):
    tensors = official_dinov2_tensors(case)
    if dinov2 == 'official':
        base = tmp_path / 'dinov2_vits14_pretrain.pth'
        torch.save(tensors, base)
    else:
        base = tmp_path / 'model.safetensors'
        save_file(timm_layout(tensors), str(base))
    release = tmp_path / 'giant-378.bin'  # the released .bin files are safetensors inside
    save_file(trainable_tensors(case), str(release))
    config = lorat_parity_config(tmp_path, case)  # no DINOv2 in the config: --pretrain_file gives it
    out = tmp_path / 'complete.safetensors'
    assert main(['lorat', config, str(release), '-o', str(out), '--pretrain_file', str(base)]) == 0
    cfg = load_config('lorat', yaml_path=config)  # MODEL.PRETRAIN_FILE '': the file needs no DINOv2
    fresh = build_model_from_cfg('lorat', cfg, training=False)
    meta = read_sidecar(out)
    assert_sidecar(meta, 'lorat', config, release, 'lorat-trainable', len(fresh.state_dict()))
    assert meta['pretrain_file'] == base.name
    converted = get_family('lorat').load_checkpoint(fresh, str(out))
    expected = LORAT_PARITY[case]['merged_from_trainable_only']  # recorded from the official code
    out_converted = lorat_outputs(converted, lorat_parity_inputs())
    for key in ('score_map', 'boxes'):
        torch.testing.assert_close(out_converted[key], torch.tensor(expected[key]), atol=2e-5, rtol=1e-4)
    with_base = load_config('lorat', yaml_path=config)
    with_base.MODEL.PRETRAIN_FILE = str(base)
    original = build(with_base, training=False, checkpoint=str(release))
    assert_same_outputs(out_converted, lorat_outputs(original, lorat_parity_inputs()))
    strict = build(cfg, training=False)
    strict.load_state_dict(load_file(str(out)), strict=True)
    assert_same_outputs(lorat_outputs(strict, lorat_parity_inputs()), out_converted)


def trained_lorat(tmp_path):
    """experiments/lorat/tiny.yaml's LoRA training model on a DINOv2 file, trained-looking weights."""
    cfg = load_config('lorat', 'tiny')
    bb = cfg.MODEL.BACKBONE
    from lib.models.backbones.dinov2 import build_dinov2

    backbone = build_dinov2(bb.TYPE, embed_dim=bb.EMBED_DIM, depth=bb.DEPTH, num_heads=bb.NUM_HEADS)
    torch.save(backbone.state_dict(), tmp_path / 'dinov2_vits14_pretrain.pth')
    cfg.MODEL.PRETRAIN_FILE = str(tmp_path / 'dinov2_vits14_pretrain.pth')
    model = build(cfg, training=True)
    gen = torch.Generator().manual_seed(7)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=gen) * 0.05)
    return model.eval()


def tiny_lorat_inputs(seed=3):
    gen = torch.Generator().manual_seed(seed)
    return (
        torch.randn(2, 3, 56, 56, generator=gen),
        torch.randn(2, 3, 112, 112, generator=gen),
        torch.randint(0, 2, (2, 4, 4), generator=gen),
    )


@pytest.mark.parametrize('layout', ['lorat-unmerged', 'lorat-merged'])
def test_lorat_complete_files_convert(tmp_path, layout):
    model = trained_lorat(tmp_path)
    reference = lorat_outputs(model, tiny_lorat_inputs())  # the LoRA model itself, no file involved
    if layout == 'lorat-unmerged':  # a full training dump, with the lora_alpha / use_rslora scalars
        state = model.state_dict()
        assert 'lora_alpha' in state
        source = tmp_path / 'LoRAT_ep0002.pth.tar'
    else:  # the pytracking reproduction's .pth: the merged model's state dict under 'net'
        state = merged_model(model).state_dict()
        source = tmp_path / 'base_224.pth'
    torch.save({'net': state}, source)
    out = tmp_path / f'{layout}.safetensors'
    assert main(['lorat', 'tiny', str(source), '-o', str(out)]) == 0
    fresh = build(load_config('lorat', 'tiny'), training=False)
    assert_sidecar(read_sidecar(out), 'lorat', 'tiny', source, layout, len(fresh.state_dict()))
    converted = build_model('lorat', 'tiny', checkpoint=str(out))
    assert_same_outputs(lorat_outputs(converted, tiny_lorat_inputs()), reference, atol=2e-5)
    fresh.load_state_dict(load_file(str(out)), strict=True)
    assert_same_outputs(lorat_outputs(fresh, tiny_lorat_inputs()), reference, atol=2e-5)


@pytest.mark.parametrize('case,dinov2', [('mlp', 'official'), ('mlp', 'timm'), ('swiglu', 'timm')])
def test_dinov2_files_convert_to_the_same_initialisation(tmp_path, case, dinov2):
    tensors = official_dinov2_tensors(case)
    if dinov2 == 'official':
        source = tmp_path / 'dinov2_vitg14_pretrain.pth'
        torch.save(tensors, source)
        keys = len(LORAT_PARITY[case]['dinov2_keys'])
    else:
        source = tmp_path / 'model.safetensors'
        save_file(timm_layout(tensors), str(source))
        keys = len(LORAT_PARITY[case]['dinov2_keys']) - 1  # timm has no mask_token
    config = lorat_parity_config(tmp_path, case)
    out = tmp_path / 'dinov2.safetensors'
    assert main(['lorat', config, str(source), '-o', str(out), '--pretrained']) == 0
    assert_sidecar(read_sidecar(out), 'lorat', config, source, f'dinov2-{dinov2}', keys, 'pretrained')
    if case == 'swiglu':  # our (official) names for the fused SwiGLU
        assert any('.mlp.w12.' in k for k in load_file(str(out)))

    def training_model(path):
        cfg = load_config('lorat', yaml_path=config)
        cfg.MODEL.PRETRAIN_FILE = str(path)
        return build(cfg, training=True)  # seeded: the same LoRA init both times

    original, converted = training_model(source), training_model(out)
    a, b = original.state_dict(), converted.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    # and the official outputs of the unmerged model with the trainable tensors on this base
    from lib.models.lorat import load_checkpoint

    load_checkpoint(converted, trainable_tensors(case))
    out_converted = lorat_outputs(converted, lorat_parity_inputs())
    for key in ('score_map', 'boxes'):
        expected = torch.tensor(LORAT_PARITY[case]['unmerged'][key])
        torch.testing.assert_close(out_converted[key], expected, atol=2e-5, rtol=1e-4)


# --- errors ----------------------------------------------------------------------------------------------


def tiny_ostrack_file(tmp_path, name='OSTrack_ep0045.pth.tar'):
    torch.manual_seed(8)
    model = build_model_from_cfg('ostrack', load_config('ostrack', 'tiny_ce'), training=False)
    path = tmp_path / name
    torch.save({'net': model.state_dict(), 'settings': Settings()}, path)
    return path


def error_line(capsys):
    err = capsys.readouterr().err.strip()
    assert err.startswith('error: ') and '\n' not in err, err
    return err


def test_a_file_in_no_known_layout_exits_2_naming_it(tmp_path, capsys):
    path = tmp_path / 'resnet50.pth'
    torch.save({'model': {'conv1.weight': torch.zeros(3, 3)}}, path)
    out = tmp_path / 'x.safetensors'
    assert main(['ostrack', 'tiny_ce', str(path), '-o', str(out)]) == 2
    err = error_line(capsys)
    assert 'resnet50.pth' in err and 'expected' in err
    assert main(['lorat', 'tiny', str(path), '-o', str(out)]) == 2
    assert 'resnet50.pth' in error_line(capsys)
    truncated = tmp_path / 'truncated.pth.tar'
    truncated.write_bytes(b'\x80\x02not a checkpoint')
    assert main(['ostrack', 'tiny_ce', str(truncated), '-o', str(out)]) == 2
    assert 'truncated.pth.tar' in error_line(capsys)
    assert not out.exists()


def test_another_familys_checkpoint_is_named(tmp_path, capsys):
    source = tiny_ostrack_file(tmp_path)
    assert main(['lorat', 'tiny', str(source), '-o', str(tmp_path / 'x.safetensors')]) == 2
    err = error_line(capsys)
    assert 'OSTrack_ep0045.pth.tar' in err and 'ostrack-model' in err and '`ostrack CONFIG`' in err
    # a DINOv2 backbone file is not a LoRAT checkpoint: --pretrained is the way
    dinov2 = tmp_path / 'dinov2_vits14_pretrain.pth'
    torch.save(official_dinov2_tensors('mlp'), dinov2)
    assert main(['lorat', lorat_parity_config(tmp_path, 'mlp'), str(dinov2)]) == 2
    assert '--pretrained' in error_line(capsys)


def test_sidecar_of_another_family_or_key_count_is_refused(tmp_path, capsys):
    source = tiny_ostrack_file(tmp_path)
    out = tmp_path / 'tiny.safetensors'
    assert main(['ostrack', 'tiny_ce', str(source), '-o', str(out)]) == 0
    capsys.readouterr()
    droptrack_config = write_config(tmp_path, 'ostrack', 'tiny_ce', {}, name='droptrack_tiny.yaml')
    assert main(['droptrack', droptrack_config, str(out), '-o', str(tmp_path / 'dt.safetensors')]) == 2
    err = error_line(capsys)
    assert 'tiny.safetensors' in err and "'ostrack'" in err and "expected 'droptrack'" in err
    droptrack = build_model_from_cfg('droptrack', load_config('droptrack', yaml_path=droptrack_config), False)
    with pytest.raises(ValueError, match=r"tiny\.safetensors.*family 'ostrack'.*expected 'droptrack'"):
        get_family('droptrack').load_checkpoint(droptrack, str(out))
    # a sidecar whose key count is not the model's
    sidecar = tmp_path / 'tiny.json'
    meta = json.loads(sidecar.read_text())
    keys = len(build_model('ostrack', 'tiny_ce').state_dict())
    meta['keys'] = keys + 1
    sidecar.write_text(json.dumps(meta))
    with pytest.raises(ValueError, match=rf'tiny\.safetensors.*{keys + 1} keys.*expected {keys}'):
        build_model('ostrack', 'tiny_ce', checkpoint=str(out))
    # a JSON file this converter did not write is no sidecar
    sidecar.write_text(json.dumps({'family': 'other'}))
    build_model('ostrack', 'tiny_ce', checkpoint=str(out))


def test_the_input_is_never_overwritten(tmp_path, capsys, monkeypatch):
    source = tiny_ostrack_file(tmp_path)
    out = tmp_path / 'tiny.safetensors'
    assert main(['ostrack', 'tiny_ce', str(source), '-o', str(out)]) == 0
    before = sha256(out)
    monkeypatch.chdir(tmp_path)  # the default output, <input name>.safetensors here, is the input
    assert main(['ostrack', 'tiny_ce', 'tiny.safetensors']) == 2
    err = error_line(capsys)
    assert 'tiny.safetensors' in err and 'overwrite' in err
    assert main(['ostrack', 'tiny_ce', str(out), '-o', str(out)]) == 2
    assert 'overwrite' in error_line(capsys)
    assert sha256(out) == before
    # the default output of another input goes to the current directory
    assert main(['ostrack', 'tiny_ce', str(source)]) == 0
    assert (tmp_path / 'OSTrack_ep0045.safetensors').is_file() and (
        tmp_path / 'OSTrack_ep0045.json'
    ).is_file()


def test_bad_arguments_exit_2(tmp_path, capsys):
    source = tiny_ostrack_file(tmp_path)
    out = str(tmp_path / 'x.safetensors')
    assert main(['nosuch', 'tiny_ce', str(source), '-o', out]) == 2
    assert 'nosuch' in error_line(capsys)
    assert main(['ostrack', 'nosuch_config', str(source), '-o', out]) == 2
    assert 'nosuch_config' in error_line(capsys)
    assert main(['ostrack', 'tiny_ce', str(tmp_path / 'missing.pth'), '-o', out]) == 2
    assert 'missing.pth' in error_line(capsys)
    assert main(['ostrack', 'tiny_ce', str(source), '-o', str(tmp_path / 'x.pth')]) == 2
    assert 'safetensors' in error_line(capsys)
    # a LoRAT trainable-only file without the DINOv2 it goes on top of
    release = tmp_path / 'model.safetensors'
    save_file(trainable_tensors('mlp'), str(release))
    assert main(['lorat', lorat_parity_config(tmp_path, 'mlp'), str(release), '-o', out]) == 2
    err = error_line(capsys)
    assert 'model.safetensors' in err and 'PRETRAIN_FILE' in err
    assert not os.path.exists(out)
