"""The Family interface: a family defined outside lib/ (tests/toy_family.py) runs through every public
entry point once it is registered, and shared code names no family."""

import ast
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from lib import families
from lib.families import Family, UnknownFamilyError, get_family, lazy, register
from tests.toy_family import TOY

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def toy(monkeypatch):
    monkeypatch.setattr(families, '_registered', dict(families._registered))
    register(TOY)
    return TOY


@pytest.fixture(scope='module')
def synthetic_root(tmp_path_factory):
    from lib.utils.synthetic import ensure_default_dataset

    return ensure_default_dataset(str(tmp_path_factory.mktemp('synthetic')))


def toy_yaml(folder, epochs):
    data = yaml.safe_load((REPO / 'tests' / 'data' / 'toy' / 'tiny.yaml').read_text())
    data['TRAIN']['EPOCH'] = epochs
    path = folder / 'tiny.yaml'
    path.write_text(yaml.safe_dump(data))
    return str(path)


def test_toy_family_trains_resumes_tracks_and_is_analysed_and_profiled(
    toy, tmp_path, synthetic_root, capsys, monkeypatch
):
    from lib.test.analysis.cli import main as analysis_main
    from lib.test.evaluation import environment
    from lib.test.evaluation.cli import main as test_main
    from lib.test.evaluation.datasets import get_dataset
    from lib.test.tracker import build_tracker
    from lib.train.launch import main as train_main
    from lib.utils.profiling import profile_config

    args = [
        '--script',
        'toy',
        '--save_dir',
        str(tmp_path / 'out'),
        '--mode',
        'single',
        '--no_progress',
        '--set_path',
        f'synthetic_dir={synthetic_root}',
        '--set_path',
        f'tensorboard_dir={tmp_path / "tb"}',
    ]
    folder = tmp_path / 'out' / 'checkpoints' / 'train' / 'toy' / 'tiny'
    # one epoch, then the same run asked for two: it resumes after epoch 1
    assert train_main(args + ['--config', toy_yaml(tmp_path, epochs=1)]) == 0
    assert (folder / 'Toy_ep0001.pth.tar').is_file()
    capsys.readouterr()
    assert train_main(args + ['--config', toy_yaml(tmp_path, epochs=2)]) == 0
    out = capsys.readouterr().out
    assert '[train: 2, 2 / 2]' in out and '[train: 1,' not in out
    checkpoint = folder / 'Toy_ep0002.pth.tar'
    assert torch.load(checkpoint, weights_only=True)['epoch'] == 2

    # tracking/test.py on one synthetic sequence, then tracking/analysis_results.py on it
    settings = type(
        'Settings',
        (),
        {
            'synthetic_path': synthetic_root,
            'results_path': str(tmp_path / 'results'),
            'result_plot_path': str(tmp_path / 'plots'),
            'save_dir': str(tmp_path / 'out'),
        },
    )
    monkeypatch.setattr(environment, 'env_settings', lambda: settings())
    results = tmp_path / 'results'
    assert (
        test_main(
            [
                'toy',
                'tiny',
                '--dataset',
                'synthetic',
                '--sequence',
                '0',
                '--checkpoint',
                str(checkpoint),
                '--results_path',
                str(results),
            ]
        )
        == 0
    )
    sequence = get_dataset('synthetic')[0]
    boxes = np.loadtxt(results / 'toy' / 'tiny' / f'{sequence.name}.txt', delimiter='\t')
    assert boxes.shape == (len(sequence.frames), 4)
    assert (
        analysis_main(
            [
                '--tracker_name',
                'toy',
                '--tracker_param',
                'tiny',
                '--results_path',
                str(results),
                '--result_plot_path',
                str(tmp_path / 'plots'),
                '--csv',
                str(tmp_path / 'scores.csv'),
            ],
            dataset=[sequence],
        )
        == 0
    )
    assert 'AUC' in (tmp_path / 'scores.csv').read_text()

    # build_tracker finds the checkpoint where training put it (TEST.EPOCH 2 under save_dir)
    tracker = build_tracker('toy', 'tiny', device='cpu')
    frame = np.zeros((120, 160, 3), np.uint8)
    tracker.initialize(frame, {'init_bbox': [50, 40, 20, 16]})
    box = tracker.track(frame)['target_bbox']
    assert len(box) == 4 and all(np.isfinite(box))

    # profiling: conv 3->8 (4x4, stride 4) on the 32 and 64 px crops, then the 256 -> 4 head
    flops = 2 * 8 * 48 * (8 * 8 + 16 * 16) + 2 * 256 * 4
    assert profile_config('toy', 'tiny', timing=False)['flops'] == flops


def test_processes_an_entry_point_starts_find_families_named_in_the_environment():
    env = dict(os.environ, OMP_NUM_THREADS='1', ONESTREAM_FAMILIES='tests.toy_family:TOY')
    run = subprocess.run(
        [sys.executable, 'tracking/profile_model.py', '--script', 'toy', '--config', 'tiny', '--no_timing'],
        cwd=REPO,
        capture_output=True,
        text=True,
        env=env,
    )
    assert run.returncode == 0, run.stderr
    assert 'toy/tiny' in run.stdout and 'FLOPs (exact)' in run.stdout
    env['ONESTREAM_FAMILIES'] = 'tests.toy_family:ToyNet'
    bad = subprocess.run(
        [sys.executable, 'tracking/profile_model.py', '--script', 'toy', '--config', 'tiny', '--no_timing'],
        cwd=REPO,
        capture_output=True,
        text=True,
        env=env,
    )
    assert bad.returncode != 0 and 'tests.toy_family:ToyNet is a type, not a Family' in bad.stderr


def test_registry_errors_name_what_is_wrong(monkeypatch):
    with pytest.raises(
        UnknownFamilyError, match=r"unknown tracker script 'nosuch' \(known: .*lorat.*ostrack"
    ):
        get_family('nosuch')
    with pytest.raises(ValueError, match="'module:attribute'"):
        lazy('no_colon')
    with pytest.raises(ValueError, match='declares its tracker'):
        Family(name='half', defaults=dict, build_model=dict)
    monkeypatch.setattr(families, '_registered', {})
    monkeypatch.setitem(families.BUILTIN, 'renamed', 'lib.models.ostrack.family:OSTRACK')
    with pytest.raises(UnknownFamilyError, match="declares the family 'ostrack', registered as 'renamed'"):
        get_family('renamed')


def test_droptrack_is_ostrack_with_its_own_config_and_schedule():
    ostrack, droptrack = get_family('ostrack'), get_family('droptrack')
    assert droptrack.build_model is ostrack.build_model and droptrack.build_actor is ostrack.build_actor
    assert droptrack.defaults().MODEL.BACKBONE.FRAME_IDENTITY_EMBED
    assert not ostrack.defaults().MODEL.BACKBONE.FRAME_IDENTITY_EMBED


def shared_family_literals():
    """(file, line, literal) of every string literal equal to a family name in lib/ and tracking/, outside
    the registry and the files whose path names that family (its own folders and modules)."""
    names = set(families.family_names()) | {'spmtrack'}
    found = []
    for path in sorted([*REPO.glob('lib/**/*.py'), *REPO.glob('tracking/*.py')]):
        relative = str(path.relative_to(REPO))
        if relative == 'lib/families.py':
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                value = node.value.lower()
                if value in names and value not in relative.lower():
                    found.append((relative, node.lineno, node.value))
    return found


def test_shared_code_names_no_family():
    assert shared_family_literals() == []


def shared_family_imports():
    """(file, line, module) of every import of a module whose dotted path names a family, in files of
    lib/ and tracking/ whose own path names no family (the shared code)."""
    names = set(families.family_names()) | {'spmtrack'}
    found = []
    for path in sorted([*REPO.glob('lib/**/*.py'), *REPO.glob('tracking/*.py')]):
        relative = str(path.relative_to(REPO)).lower()
        if relative == 'lib/families.py' or any(name in relative for name in names):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            modules = []
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                modules = [node.module] + [f'{node.module}.{alias.name}' for alias in node.names]
            for module in modules:
                if names & set(module.lower().split('.')):
                    found.append((relative, node.lineno, module))
    return found


def test_shared_code_imports_no_family_module():
    assert shared_family_imports() == []


@pytest.mark.parametrize(
    'script, config',
    [
        ('ostrack', 'tiny_ce'),
        ('droptrack', 'vitb_384_mae_ce_32x4_ep300'),
        ('compresstracker', 'tiny'),
        ('lorat', 'tiny'),
    ],
)
def test_export_inputs_name_the_forward_arguments_and_outputs(script, config):
    import torch

    from lib.config import load_config
    from lib.families import ExportInputs
    from lib.models import build_model_from_cfg

    cfg = load_config(script, config)
    spec = get_family(script).export_inputs(cfg, batch=2)
    assert isinstance(spec, ExportInputs) and len(set(spec.inputs)) == len(spec.inputs) >= 2
    assert all(isinstance(t, torch.Tensor) and t.shape[0] == 2 for t in spec.inputs.values())
    model = build_model_from_cfg(script, cfg, training=False).eval()
    with torch.no_grad():
        positional = model(*spec.inputs.values())
        by_name = model(**spec.inputs)
    for name in spec.outputs:
        assert isinstance(positional[name], torch.Tensor) and positional[name].shape[0] == 2
        torch.testing.assert_close(positional[name], by_name[name])


def test_model_code_imports_no_training_or_evaluation_code():
    """lib/models builds networks and reads weights; paths come from lib/utils/local_settings.py, not from
    the training or test packages (the families' declarations name those lazily, as strings)."""
    found, paths = [], sorted(REPO.glob('lib/models/**/*.py'))
    assert len(paths) > 10
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text())):
            modules = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module:
                modules = [node.module]
            found += [
                (str(path.relative_to(REPO)), m) for m in modules if m.startswith(('lib.train', 'lib.test'))
            ]
    assert found == []
