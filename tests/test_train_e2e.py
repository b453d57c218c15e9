"""End to end: tracking/train.py on the synthetic data set with the tiny OSTrack-CE model, in one
process (--mode single), and with the tiny OSTrack-CE and LoRAT models as two gloo processes under
torchrun (--mode multiple)."""

import os
import subprocess
import sys

import pytest
import torch
import yaml

from lib.config import load_config
from lib.models import build_model_from_cfg, load_weights
from lib.train.launch import main as train_main
from lib.utils.synthetic import ensure_default_dataset

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope='module')
def synthetic_root(tmp_path_factory):
    return ensure_default_dataset(str(tmp_path_factory.mktemp('synthetic')))


def short_tiny_yaml(folder, epochs=1, workers=0, script='ostrack'):
    """The family's tiny yaml (ostrack: tiny_ce.yaml, lorat: tiny.yaml) cut down to a couple of
    iterations, validation included."""
    name = {'ostrack': 'tiny_ce', 'lorat': 'tiny'}[script]
    with open(os.path.join(REPO, 'experiments', script, f'{name}.yaml')) as f:
        data = yaml.safe_load(f)
    data['TRAIN'].update(EPOCH=epochs, BATCH_SIZE=2, NUM_WORKER=workers, PRINT_INTERVAL=1)
    if script == 'ostrack':
        data['TRAIN'].update(VAL_EPOCH_INTERVAL=1, CE_START_EPOCH=1, CE_WARM_EPOCH=1)
    else:
        data['TRAIN'].update(SAVE_EPOCH_INTERVAL=1)
    data['DATA']['TRAIN']['SAMPLE_PER_EPOCH'] = 4
    data['DATA']['VAL']['SAMPLE_PER_EPOCH'] = 4
    path = os.path.join(folder, 'tiny_short.yaml')
    with open(path, 'w') as f:
        yaml.safe_dump(data, f)
    return path


def common_args(tmp_path, synthetic_root, config, script='ostrack'):
    return [
        '--script',
        script,
        '--config',
        config,
        '--save_dir',
        str(tmp_path / 'out'),
        '--set_path',
        f'synthetic_dir={synthetic_root}',
        '--set_path',
        f'tensorboard_dir={tmp_path / "tb"}',
        '--no_progress',
    ]


def test_single_process_training_writes_a_checkpoint_the_model_loads(tmp_path, synthetic_root):
    config = short_tiny_yaml(str(tmp_path), workers=1)
    assert train_main(common_args(tmp_path, synthetic_root, config) + ['--mode', 'single']) == 0
    folder = tmp_path / 'out' / 'checkpoints' / 'train' / 'ostrack' / 'tiny_short'
    path = folder / 'OSTrack_ep0001.pth.tar'
    state = torch.load(path, weights_only=True, map_location='cpu')
    assert state['epoch'] == 1 and state['net_type'] == 'OSTrack'
    model = build_model_from_cfg('ostrack', load_config('ostrack', yaml_path=config), training=False)
    load_weights(model, str(path), strict=True)
    log = (tmp_path / 'out' / 'logs' / 'ostrack-tiny_short.log').read_text()
    assert '[train: 1, 2 / 2]' in log and '[val: 1, 2 / 2]' in log
    assert os.listdir(tmp_path / 'tb' / 'train' / 'ostrack' / 'tiny_short' / 'train')


@pytest.mark.parametrize('script, checkpoint_name', [('ostrack', 'OSTrack'), ('lorat', 'LoRAT')])
def test_two_process_gloo_training_under_torchrun(tmp_path, synthetic_root, script, checkpoint_name):
    config = short_tiny_yaml(str(tmp_path), epochs=2, script=script)
    args = common_args(tmp_path, synthetic_root, config, script)
    cmd = [sys.executable, 'tracking/train.py', '--mode', 'multiple', '--nproc_per_node', '2'] + args
    result = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert 'on 2 process(es)' in result.stdout
    folder = tmp_path / 'out' / 'checkpoints' / 'train' / script / 'tiny_short'
    state = torch.load(folder / f'{checkpoint_name}_ep0002.pth.tar', weights_only=True, map_location='cpu')
    assert len(state['rng']) == 2 and not torch.equal(state['rng'][0]['torch'], state['rng'][1]['torch'])
    # 4 samples per epoch over 2 ranks with batch 2: one iteration per rank and epoch.
    assert '[train: 2, 1 / 1]' in result.stdout
    # the saved weights load into a fresh model of the family, through the family's own loader
    from lib.families import get_family

    model = build_model_from_cfg(script, load_config(script, yaml_path=config), training=True)
    get_family(script).load_checkpoint(model, str(folder / f'{checkpoint_name}_ep0002.pth.tar'))
    own = model.state_dict()
    assert len(set(state['net']) & set(own)) > len(state['net']) // 2
    assert all(torch.equal(own[k], v) for k, v in state['net'].items() if k in own)


@pytest.mark.parametrize('script, checkpoint_name', [('ostrack', 'OSTrack'), ('lorat', 'LoRAT')])
def test_compiled_training_runs_and_saves_the_plain_layout(
    tmp_path, synthetic_root, monkeypatch, script, checkpoint_name
):
    # --compile 1 goes through torch.compile: Dynamo captures the forward and AOT autograd the backward.
    # The aot_eager backend runs the captured graphs with eager kernels, which keeps C++ code generation
    # (minutes on two cores) out of the test; the wiring under test is the same.
    from torch._dynamo.utils import counters

    compiled, original = [], torch.nn.Module.compile

    def compile_with_aot_eager(self, *args, **kwargs):
        compiled.append(type(self).__name__)
        return original(self, backend='aot_eager')

    monkeypatch.setattr(torch.nn.Module, 'compile', compile_with_aot_eager)
    torch._dynamo.reset()
    counters.clear()
    config = short_tiny_yaml(str(tmp_path), epochs=1, script=script)
    args = common_args(tmp_path, synthetic_root, config, script)
    assert train_main(args + ['--mode', 'single', '--compile', '1']) == 0
    assert len(compiled) == 1 and counters['stats']['unique_graphs'] >= 1  # the network was captured
    path = (
        tmp_path
        / 'out'
        / 'checkpoints'
        / 'train'
        / script
        / 'tiny_short'
        / f'{checkpoint_name}_ep0001.pth.tar'
    )
    state = torch.load(path, weights_only=True, map_location='cpu')
    assert not any('_orig_mod' in k for k in state['net'])  # keys as without --compile
    model = build_model_from_cfg(script, load_config(script, yaml_path=config), training=True)
    assert set(state['net']) == set(model.state_dict())
