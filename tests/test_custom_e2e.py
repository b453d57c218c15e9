"""A custom dataset end to end, kept small: synthetic videos (mp4, avi) and an image folder become a
dataset through tracking/create_custom_dataset.py, the tiny OSTrack trains on CUSTOM:<name>:train for
one short epoch (tracking/train.py's main), tracking/test.py tracks custom:<name> with the checkpoint
and tracking/analysis_results.py scores it."""

import os
import subprocess
import sys

import numpy as np
import yaml
from custom_fixtures import synthetic_inputs

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def short_yaml(folder, dataset):
    with open(os.path.join(REPO, 'experiments', 'ostrack', 'tiny_ce.yaml')) as f:
        data = yaml.safe_load(f)
    data['TRAIN'].update(EPOCH=1, BATCH_SIZE=2, NUM_WORKER=0, PRINT_INTERVAL=1, VAL_EPOCH_INTERVAL=1)
    for split in ('TRAIN', 'VAL'):
        data['DATA'][split].update(DATASETS_NAME=[dataset], DATASETS_RATIO=[1], SAMPLE_PER_EPOCH=2)
    path = os.path.join(folder, 'tiny_custom.yaml')
    with open(path, 'w') as f:
        yaml.safe_dump(data, f)
    return path


def test_custom_dataset_trains_tracks_and_scores(tmp_path, monkeypatch, capsys):
    from lib.test.analysis.cli import main as analysis_main
    from lib.test.evaluation import environment
    from lib.test.evaluation.cli import main as test_main
    from lib.train.launch import main as train_main

    inputs = synthetic_inputs(str(tmp_path / 'videos'), kinds=('mp4', 'avi', 'jpg'), frames=(20, 22))
    dst = str(tmp_path / 'birds')
    build = subprocess.run(
        [sys.executable, 'tracking/create_custom_dataset.py', '--src', str(tmp_path / 'videos'), '--dst', dst]
        + ['--split', 'train', '--no_progress'],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert build.returncode == 0, build.stderr

    config = short_yaml(str(tmp_path), 'CUSTOM:birds:train')
    args = [
        '--script',
        'ostrack',
        '--config',
        config,
        '--save_dir',
        str(tmp_path / 'out'),
        '--mode',
        'single',
    ]
    args += ['--no_progress', '--set_path', f'custom_datasets.birds={dst}']
    args += ['--set_path', f'tensorboard_dir={tmp_path / "tb"}']
    assert train_main(args) == 0
    log = (tmp_path / 'out' / 'logs' / 'ostrack-tiny_custom.log').read_text()
    assert '[train: 1, 1 / 1]' in log and '[val: 1, 1 / 1]' in log
    checkpoint = (
        tmp_path / 'out' / 'checkpoints' / 'train' / 'ostrack' / 'tiny_custom' / 'OSTrack_ep0001.pth.tar'
    )
    assert checkpoint.is_file()

    settings = environment.EnvSettings()
    settings.custom_datasets = {'birds': dst}
    settings.results_path, settings.result_plot_path = str(tmp_path / 'results'), str(tmp_path / 'plots')
    monkeypatch.setattr(environment, 'env_settings', lambda: settings)
    results = tmp_path / 'results'
    # tiny_ce is the network the short config trained (only its schedule and data differ)
    test_args = ['ostrack', 'tiny_ce', '--dataset', 'custom:birds', '--checkpoint', str(checkpoint)]
    assert test_main(test_args + ['--results_path', str(results)]) == 0
    for name, boxes in inputs.items():
        tracked = np.loadtxt(results / 'ostrack' / 'tiny_ce' / f'{name}.txt', delimiter='\t')
        assert tracked.shape == boxes.shape and np.allclose(tracked[0], boxes[0])
    capsys.readouterr()
    csv = tmp_path / 'scores.csv'
    analysis = ['--tracker_name', 'ostrack', '--tracker_param', 'tiny_ce', '--dataset', 'custom:birds']
    assert analysis_main(analysis + ['--results_path', str(results), '--csv', str(csv)]) == 0
    assert 'AUC' in csv.read_text() and 'custom_birds' in os.listdir(tmp_path / 'plots')
    assert f'Reporting results over {len(inputs)} / {len(inputs)} sequences' in capsys.readouterr().out
