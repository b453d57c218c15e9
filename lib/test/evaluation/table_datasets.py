"""Evaluation datasets defined by an official sequence table (dataset_specs/<name>.json): OTB-2015, NfS
(30 fps) and UAV123. Each entry gives the frame folder, first/last frame number, zero padding, extension,
annotation file and (OTB Tiger1) initOmit, the frames to drop at the start.

    <otb_path>/<Seq>/img/0001.jpg, <Seq>/groundtruth_rect.txt            (comma or whitespace)
    <nfs_path>/sequences/<name>/00001.jpg, anno/nfs_<name>.txt           (30 fps frames)
    <uav_path>/data_seq/UAV123/<seq>/000001.jpg, anno/UAV123/<name>.txt   (NaN rows allowed; several
                                                                          sequences share a folder)
"""

import json
import os

from lib.test.evaluation.data import Sequence, SequenceList

SPEC_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'dataset_specs')

LAYOUTS = {
    'otb': '<otb_path>/<Seq>/{img/0001.jpg, groundtruth_rect.txt}',
    'nfs': '<nfs_path>/{sequences/<name>/00001.jpg, anno/nfs_<name>.txt} (the 30 fps frames)',
    'uav': '<uav_path>/{data_seq/UAV123/<seq>/000001.jpg, anno/UAV123/<name>.txt}',
}


def load_spec(name):
    """The bundled table dataset_specs/<name>.json: a list of sequence entries (or names, for LaSOT)."""
    with open(os.path.join(SPEC_DIR, f'{name}.json')) as f:
        return json.load(f)['sequences']


def frame_paths(root, entry):
    """Image paths of an entry's frame range, startFrame + initOmit .. endFrame inclusive."""
    first = entry['startFrame'] + entry.get('initOmit', 0)
    folder = os.path.join(root, *entry['path'].split('/'))
    return [
        os.path.join(folder, f"{n:0{entry['nz']}d}.{entry['ext']}")
        for n in range(first, entry['endFrame'] + 1)
    ]


def _read_ground_truth(path):
    from lib.train.dataset.layouts import parse_numbers

    try:
        with open(path) as f:
            text = f.read()
    except FileNotFoundError:
        raise FileNotFoundError(f'missing annotation file {path}') from None
    return parse_numbers(text, path, columns=4)


def table_sequences(root, name, spec=None):
    """SequenceList of table dataset `name` ('otb', 'nfs' or 'uav'; also the Sequence label) under
    `root`. `spec` replaces the bundled table (tests use tiny ones)."""
    entries = load_spec(name) if spec is None else spec
    sequences = SequenceList()
    for entry in entries:
        omit = entry.get('initOmit', 0)
        ground_truth = _read_ground_truth(os.path.join(root, *entry['anno_path'].split('/')))[omit:]
        sequences.append(
            Sequence(
                entry['name'],
                frame_paths(root, entry),
                name,
                ground_truth,
                object_class=entry.get('object_class'),
            )
        )
    return sequences
