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
