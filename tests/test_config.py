import pytest

from lib.config import CfgNode, ConfigError, load_config, merge_into


def _defaults():
    return CfgNode(
        {
            'MODEL': {
                'PRETRAIN_FILE': 'mae.pth',
                'BACKBONE': {'TYPE': 'vit', 'CE_LOC': [3, 6, 9], 'STRIDE': 16},
            },
            'TRAIN': {'LR': 0.0004, 'EPOCH': 300, 'AMP': False},
            'TEST': {'EPOCH': None},
        }
    )


def _write(tmp_path, text):
    path = tmp_path / 'exp.yaml'
    path.write_text(text)
    return str(path)


def test_yaml_overrides_defaults_with_attribute_access(tmp_path):
    path = _write(
        tmp_path, 'MODEL:\n  BACKBONE:\n    STRIDE: 14\nTRAIN:\n  LR: 1\n  AMP: true\nTEST:\n  EPOCH: 50\n'
    )
    cfg = merge_into(_defaults(), __import__('yaml').safe_load(open(path)), path)
    assert cfg.MODEL.BACKBONE.STRIDE == 14
    assert cfg.TRAIN.LR == 1.0 and isinstance(cfg.TRAIN.LR, float)  # int accepted where float declared
    assert cfg.TRAIN.AMP is True
    assert cfg.TEST.EPOCH == 50  # a None default accepts any value
    assert cfg.MODEL.BACKBONE.CE_LOC == [3, 6, 9]  # untouched defaults survive


def test_unknown_key_names_file_path_and_closest_key(tmp_path):
    path = _write(tmp_path, 'MODEL:\n  BACKBONE:\n    CE_LOCS: [1]\n')
    with pytest.raises(ConfigError) as err:
        merge_into(_defaults(), {'MODEL': {'BACKBONE': {'CE_LOCS': [1]}}}, path)
    message = str(err.value)
    assert path in message
    assert "MODEL.BACKBONE.CE_LOCS" in message
    assert "did you mean 'MODEL.BACKBONE.CE_LOC'" in message


@pytest.mark.parametrize(
    'overrides, fragment',
    [
        ({'TRAIN': {'EPOCH': 'three hundred'}}, 'TRAIN.EPOCH'),
        ({'TRAIN': {'AMP': 1}}, 'TRAIN.AMP'),
        ({'MODEL': {'BACKBONE': {'CE_LOC': 3}}}, 'MODEL.BACKBONE.CE_LOC'),
        ({'MODEL': {'BACKBONE': 'vit'}}, 'MODEL.BACKBONE'),
        ({'TRAIN': {'LR': {'x': 1}}}, 'TRAIN.LR'),
    ],
)
def test_wrong_types_are_errors(overrides, fragment):
    with pytest.raises(ConfigError) as err:
        merge_into(_defaults(), overrides, 'exp.yaml')
    assert fragment in str(err.value) and 'exp.yaml' in str(err.value)


def test_defaults_are_not_shared_between_loads(tmp_path):
    a, b = _defaults(), _defaults()
    merge_into(a, {'TRAIN': {'EPOCH': 1}}, 'x.yaml')
    assert b.TRAIN.EPOCH == 300


def test_unknown_script_and_missing_yaml_are_clear():
    with pytest.raises(ConfigError, match="unknown tracker script 'nosuchtracker'"):
        load_config('nosuchtracker', 'x')


def test_invalid_yaml_names_the_file(tmp_path):
    path = _write(tmp_path, 'MODEL: [unclosed\n')
    from lib.config import load_yaml

    with pytest.raises(ConfigError, match='not valid yaml') as err:
        load_yaml(path)
    assert path in str(err.value)


# Keys lib/train/run_training.py and lib/train/trainers/optim.py read, with the value a family that does
# not set one must get (the trainer's documented behaviour: no AMP dtype surprise, one process = global
# batch, StepLR's usual gamma).
TRAINER_KEYS = {
    'FUSED_OPTIMIZER': 'auto',
    'GRAD_CHECKPOINT': False,
    'AMP_DTYPE': 'float16',
    'COMPILE': False,
    'GLOBAL_BATCH_SIZE': 0,
    'GLOBAL_BATCH_MODE': 'none',
}
SCHEDULER_KEYS = ('TYPE', 'DECAY_RATE', 'MILESTONES', 'GAMMA', 'WARMUP_EPOCHS', 'WARMUP_LR_INIT', 'LR_MIN')


@pytest.mark.parametrize('script', ['ostrack', 'droptrack', 'compresstracker', 'lorat'])
def test_every_family_declares_what_the_shared_trainer_reads(script):
    cfg = load_config(script)
    for key in TRAINER_KEYS:
        assert key in cfg.TRAIN, key
    assert all(key in cfg.TRAIN.SCHEDULER for key in SCHEDULER_KEYS)
    if script != 'lorat':  # LoRAT's recipe sets its own global batch and cosine schedule
        assert {k: cfg.TRAIN[k] for k in TRAINER_KEYS} == TRAINER_KEYS
        assert cfg.TRAIN.SCHEDULER.TYPE == 'step' and cfg.TRAIN.SCHEDULER.DECAY_RATE == 0.1
    else:
        assert (cfg.TRAIN.GLOBAL_BATCH_SIZE, cfg.TRAIN.GLOBAL_BATCH_MODE) == (128, 'accumulate')
        assert (cfg.TRAIN.SCHEDULER.TYPE, cfg.TRAIN.SCHEDULER.WARMUP_EPOCHS) == ('cosine', 2)


def test_a_lineage_yaml_may_set_the_global_batch_and_multistep_schedule(tmp_path):
    from lib.train.trainers.optim import global_batch_plan

    path = _write(
        tmp_path,
        'TRAIN:\n  BATCH_SIZE: 8\n  GLOBAL_BATCH_SIZE: 32\n  GLOBAL_BATCH_MODE: accumulate\n'
        '  SCHEDULER:\n    TYPE: Mstep\n    MILESTONES: [10, 20]\n    GAMMA: 0.5\n',
    )
    cfg = load_config('ostrack', yaml_path=path)
    assert global_batch_plan(cfg, world_size=2) == (2, 1.0)
    assert cfg.TRAIN.SCHEDULER.MILESTONES == [10, 20] and cfg.TRAIN.SCHEDULER.GAMMA == 0.5


def test_an_unknown_amp_dtype_names_the_key_and_the_choices():
    import argparse

    from lib.train.run_training import amp_mode

    cfg = load_config('ostrack')
    cfg.TRAIN.AMP, cfg.TRAIN.AMP_DTYPE = True, 'half'
    args = argparse.Namespace(amp=None, script='ostrack', config='vitb_256_mae_ce_32x4_ep300')
    with pytest.raises(ConfigError, match="TRAIN.AMP_DTYPE 'half' is not one of float16, bfloat16"):
        amp_mode(args, cfg)
    cfg.TRAIN.AMP_DTYPE = 'bfloat16'
    assert amp_mode(args, cfg) == 'bf16'


def test_test_crop_sizes_must_equal_the_model_sizes(tmp_path):
    path = _write(tmp_path, 'DATA:\n  SEARCH:\n    SIZE: 384\nTEST:\n  SEARCH_SIZE: 384\n')
    cfg = load_config('ostrack', yaml_path=path)
    assert cfg.DATA.SEARCH.SIZE == cfg.TEST.SEARCH_SIZE == 384
    path = _write(tmp_path, 'DATA:\n  SEARCH:\n    SIZE: 384\n')  # TEST.SEARCH_SIZE left at 320
    with pytest.raises(ConfigError, match=r'TEST.SEARCH_SIZE=320 differs from DATA.SEARCH.SIZE=384') as e:
        load_config('ostrack', yaml_path=path)
    assert path in str(e.value)
    path = _write(tmp_path, 'TEST:\n  TEMPLATE_SIZE: 128\n')  # LoRAT builds 112-pixel templates
    with pytest.raises(ConfigError, match='TEST.TEMPLATE_SIZE=128 differs from DATA.TEMPLATE.SIZE=112'):
        load_config('lorat', yaml_path=path)
