"""The README's main job (tracking/quickstart.py) end to end, cut down to seconds: synthetic data, CPU
training, tracking of the held-out synthetic sequences with the trained tracker and the first-box
baseline, the table and the plots; then a second run that resumes instead of redoing the work.
(The full-length job and its learning claim: tests/test_learning_claims.py.)"""

import os

import yaml

from lib.config import EXPERIMENTS_DIR
from lib.quickstart import run


def test_quickstart_runs_end_to_end_and_resumes(tmp_path):
    with open(os.path.join(EXPERIMENTS_DIR, 'ostrack', 'tiny_ce.yaml')) as f:
        data = yaml.safe_load(f)
    data['DATA']['TRAIN']['SAMPLE_PER_EPOCH'] = 16
    data['TRAIN'].update(BATCH_SIZE=8, EPOCH=1, LR_DROP_EPOCH=1, NUM_WORKER=0)
    data['TEST']['EPOCH'] = 1
    name = f'_pytest_quickstart_{os.getpid()}'
    path = os.path.join(EXPERIMENTS_DIR, 'ostrack', f'{name}.yaml')  # quickstart takes config names
    with open(path, 'w') as f:
        yaml.safe_dump(data, f)
    try:
        lines = []
        summary, aucs, _ = run(config=name, save_dir=str(tmp_path / 'qs'), print_fn=lines.append)
        ckpt = tmp_path / 'qs' / 'checkpoints' / 'train' / 'ostrack' / name / 'OSTrack_ep0001.pth.tar'
        box_file = next((tmp_path / 'qs' / 'tracking_results' / 'ostrack' / name).glob('*[!e].txt'))
        stamps = ckpt.stat().st_mtime_ns, box_file.stat().st_mtime_ns
        _, aucs_again, _ = run(config=name, save_dir=str(tmp_path / 'qs'), print_fn=lambda *a: None)
    finally:
        os.remove(path)
    assert (ckpt.stat().st_mtime_ns, box_file.stat().st_mtime_ns) == stamps  # resumed, nothing redone
    assert aucs_again == aucs
    assert set(aucs) == {f'OSTrack {name}', 'first box (baseline)'}
    assert all(0 <= v <= 100 for v in aucs.values())
    assert 'AUC' in summary.columns and 'Norm Precision' in summary.columns
    qs = tmp_path / 'qs'
    assert (qs / 'checkpoints' / 'train' / 'ostrack' / name / 'OSTrack_ep0001.pth.tar').is_file()
    results = qs / 'tracking_results'
    n_test = len(os.listdir(results / 'firstbox' / 'default')) // 2
    assert n_test > 0 and len(os.listdir(results / 'ostrack' / name)) == 2 * n_test  # boxes + times
    plots = os.listdir(qs / 'result_plots' / 'quickstart_synthetic')
    assert {'success_plot.png', 'success_plot.pdf', 'precision_plot.png', 'scores.csv'} <= set(plots)
    assert any('tracked' in line for line in lines)


def test_quickstart_lorat_runs_end_to_end(tmp_path):
    with open(os.path.join(EXPERIMENTS_DIR, 'lorat', 'tiny_quickstart.yaml')) as f:
        data = yaml.safe_load(f)
    data['DATA']['TRAIN']['SAMPLE_PER_EPOCH'] = 16
    data['DATA']['VAL']['SAMPLE_PER_EPOCH'] = 8
    data['TRAIN'].update(BATCH_SIZE=8, EPOCH=1, NUM_WORKER=0, SAVE_EPOCH_INTERVAL=1)
    data['TRAIN']['SCHEDULER']['WARMUP_EPOCHS'] = 0
    data['TEST']['EPOCH'] = 1
    name = f'_pytest_quickstart_{os.getpid()}'
    path = os.path.join(EXPERIMENTS_DIR, 'lorat', f'{name}.yaml')
    with open(path, 'w') as f:
        yaml.safe_dump(data, f)
    try:
        _, aucs, _ = run(config=name, save_dir=str(tmp_path / 'qs'), print_fn=lambda *a: None, script='lorat')
    finally:
        os.remove(path)
    assert set(aucs) == {f'LoRAT {name}', 'first box (baseline)'}
    assert all(0 <= v <= 100 for v in aucs.values())
    assert (tmp_path / 'qs' / 'checkpoints' / 'train' / 'lorat' / name / 'LoRAT_ep0001.pth.tar').is_file()
    assert len(os.listdir(tmp_path / 'qs' / 'tracking_results' / 'lorat' / name)) > 0
