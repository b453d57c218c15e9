"""Batched evaluation (lib/test/evaluation/stepping.py with K slots, tracking/test.py
--batch_sequences K): K sequences share one network forward per step and give the per-sequence
tracker's boxes. fp32: every frame IoU >= 0.99 and at most 0.01 px apart on the CPU, where batched
matrix products may sum in another order (LoRAT bit-identical); 0.05 px on CUDA, where cuDNN's TF32
convolutions round per algorithm (bit-identical with allow_tf32 off). Results, restart and failures
as in the plain runner."""

import sys
import types

import numpy as np
import pytest
import torch

import lib.test.tracker.step as step_module
from lib.benchmark.agreement import box_agreement, build_network
from lib.config import load_config
from lib.models import build_model_from_cfg
from lib.test.evaluation import results
from lib.test.evaluation.cli import main as cli_main
from lib.test.evaluation.data import Sequence, SequenceList
from lib.test.evaluation.stepping import track_sequences
from lib.test.tracker import build_tracker_for_network
from lib.test.tracker.options import InferenceOptions
from lib.utils.synthetic import render_sequence

DEVICES = ['cpu'] + (['cuda'] if torch.cuda.is_available() else [])
LENGTHS = (6, 9, 2, 12, 7)  # five sequences of different lengths, more than K = 3 slots


class FailingRead(Exception):
    pass


def synthetic_sequences(lengths=LENGTHS, fail_at=None):
    """In-memory Sequences (targets leaving the frame); `fail_at` (name, frame) raises on that read."""
    seqs = []
    for i, n in enumerate(lengths):
        synth = render_sequence(20 + i, num_frames=n, size=(160, 120), out_of_view=True)
        frames, name = synth.frames(), f'seq{i}'

        def reader(path, frames=frames, name=name):
            index = int(path.rsplit('/', 1)[1])
            if fail_at == (name, index):
                raise FailingRead(f'cannot read {path}')
            return frames[index]

        seqs.append(
            Sequence(
                name, [f'{name}/{k}' for k in range(n)], 'lasot', synth.full_boxes[:1], image_reader=reader
            )
        )
    return SequenceList(seqs)


def per_sequence_boxes(tracker, seqs):
    out = {}
    for seq in seqs:
        tracker.initialize(seq.read_frame(0), seq.init_info())
        out[seq.name] = [seq.init_info()['init_bbox']] + [
            tracker.track(seq.read_frame(k))['target_bbox'] for k in range(1, len(seq.frames))
        ]
    return out


def max_box_diff(device):
    return 0.01 if torch.device(device).type == 'cpu' else 0.05


def assert_same_boxes(batched, reference, device='cpu'):
    assert sorted(batched) == sorted(reference)
    for name, want in reference.items():
        boxes, times = batched[name]['target_bbox'], batched[name]['time']
        assert len(boxes) == len(times) == len(want) and all(t > 0 for t in times)
        agreement = box_agreement(boxes, want)
        assert agreement['min_iou'] >= 0.99, (name, agreement)
        assert agreement['max_abs_diff'] <= max_box_diff(device), (name, agreement)


@pytest.mark.parametrize('device', DEVICES)
@pytest.mark.parametrize('script, config', [('ostrack', 'tiny_ce'), ('lorat', 'tiny')])
def test_batched_boxes_equal_per_sequence_boxes(script, config, device):
    cfg, net = build_network(script, config)
    tracker = build_tracker_for_network(script, cfg, net, device=device)
    seqs = synthetic_sequences()
    reference = per_sequence_boxes(tracker, seqs)
    finished = []
    batched = track_sequences(
        tracker, seqs, batch_size=3, on_finish=lambda seq, output: finished.append(seq.name)
    )
    assert_same_boxes(batched, reference, device)
    # slots are refilled as sequences end: the 2-frame sequence finishes first, the longest last
    assert finished[0] == 'seq2' and finished[-1] == 'seq3' and len(finished) == 5


def test_batched_compiled_step_pads_to_k(monkeypatch):
    monkeypatch.setattr(step_module, 'COMPILE_KWARGS', {'dynamic': False, 'backend': 'aot_eager'})
    cfg, net = build_network('lorat', 'tiny')
    seqs = synthetic_sequences(lengths=(5, 3, 7))
    reference = per_sequence_boxes(build_tracker_for_network('lorat', cfg, net, device='cpu'), seqs)
    tracker = build_tracker_for_network(
        'lorat', cfg, net, device='cpu', options=InferenceOptions(compile='compile')
    )
    sizes, compiled_step = [], tracker.step
    tracker.step = lambda *inputs: sizes.append(inputs[1].shape[0]) or compiled_step(*inputs)
    assert_same_boxes(track_sequences(tracker, seqs, batch_size=2), reference)
    assert set(sizes) == {2}  # the tail step with one open sequence was padded to K


def test_failures_are_reported_per_sequence_and_the_rest_completes():
    cfg, net = build_network('ostrack', 'tiny_ce')
    tracker = build_tracker_for_network('ostrack', cfg, net, device='cpu')
    seqs = synthetic_sequences(lengths=(4, 5, 3), fail_at=('seq1', 2))
    seqs.append(Sequence('empty', [], 'lasot', [[10, 10, 20, 20]]))
    errors = {}
    done = track_sequences(
        tracker, seqs, batch_size=2, on_error=lambda seq, e: errors.setdefault(seq.name, str(e))
    )
    assert sorted(done) == ['seq0', 'seq2'] and len(done['seq0']['target_bbox']) == 4
    assert errors == {'seq1': 'cannot read seq1/2', 'empty': 'sequence empty has no frames'}
    with pytest.raises(FailingRead):  # without on_error the exception propagates
        track_sequences(tracker, synthetic_sequences(lengths=(3,), fail_at=('seq0', 1)), batch_size=2)


def test_a_bad_output_in_a_batch_fails_that_sequence_only():
    cfg, net = build_network('ostrack', 'tiny_ce')
    tracker = build_tracker_for_network('ostrack', cfg, net, device='cpu')
    owner, real_new_slot, real_track_slots = {}, tracker.new_slot, tracker.track_slots

    def new_slot(image, info):  # start_sequence(name) comes just before each new_slot
        slot = real_new_slot(image, info)
        owner[id(slot)] = tracker.sequence_name
        return slot

    def track_slots(images, slots, infos=None, pad_to=None):
        outputs = real_track_slots(images, slots, infos, pad_to=pad_to)
        return [{'box': 'bad'} if owner[id(slot)] == 'seq1' else out for slot, out in zip(slots, outputs)]

    tracker.new_slot, tracker.track_slots = new_slot, track_slots
    errors = {}
    done = track_sequences(
        tracker,
        synthetic_sequences(lengths=(4, 5, 3)),
        batch_size=3,
        on_error=lambda s, e: errors.update({s.name: e}),
    )
    assert sorted(done) == ['seq0', 'seq2'] and list(errors) == ['seq1']
    assert isinstance(errors['seq1'], ValueError) and str(errors['seq1']).startswith('seq1, frame 1:')


def test_in_process_and_batched_runs_go_through_the_one_stepping_core(
    tmp_path, synthetic_dataset, tiny_checkpoint, monkeypatch
):
    import lib.test.evaluation.stepping as stepping
    from lib.test.evaluation.running import run_dataset
    from lib.test.evaluation.tracker import Tracker

    calls, real = [], stepping.track_sequences

    def spy(tracker, sequences, batch_size=1, **kwargs):
        sequences = list(sequences)
        calls.append((batch_size, len(sequences)))
        return real(tracker, sequences, batch_size, **kwargs)

    monkeypatch.setattr(stepping, 'track_sequences', spy)
    run = {}
    for label, batch in (('one', 1), ('three', 3)):
        tracker = Tracker(
            'ostrack', 'tiny_ce', checkpoint=tiny_checkpoint, results_path=str(tmp_path / label)
        )
        assert run_dataset(synthetic_dataset, tracker, num_gpus=0, batch_sequences=batch).ok
        run[label] = read_run(tmp_path / label / 'ostrack' / 'tiny_ce', synthetic_dataset)
    assert calls == [(1, 1)] * len(LENGTHS) + [(3, len(LENGTHS))]
    for name, boxes in run['one'].items():
        assert box_agreement(run['three'][name], boxes)['max_abs_diff'] <= max_box_diff('cpu')


# --- tracking/test.py --batch_sequences ----------------------------------------------------------------


@pytest.fixture
def synthetic_dataset(monkeypatch):
    data = synthetic_sequences()
    module = types.ModuleType('lib.test.evaluation.datasets')
    module.available_datasets = lambda: ['synth']
    module.get_dataset = lambda name: data
    monkeypatch.setitem(sys.modules, 'lib.test.evaluation.datasets', module)
    return data


@pytest.fixture
def tiny_checkpoint(tmp_path):
    cfg = load_config('ostrack', 'tiny_ce')
    torch.manual_seed(0)
    path = tmp_path / 'tiny.pth'
    torch.save({'net': build_model_from_cfg('ostrack', cfg, training=False).state_dict()}, path)
    return str(path)


def read_run(folder, data):
    return {seq.name: results.load_text_array(str(folder / f'{seq.name}.txt'), 4) for seq in data}


def test_cli_batch_sequences_writes_the_same_results_and_resumes(
    tmp_path, synthetic_dataset, tiny_checkpoint, capsys
):
    common = ['ostrack', 'tiny_ce', '--dataset', 'synth', '--checkpoint', tiny_checkpoint]
    assert cli_main(common + ['--results_path', str(tmp_path / 'one')]) == 0
    assert cli_main(common + ['--results_path', str(tmp_path / 'three'), '--batch_sequences', '3']) == 0
    one, three = tmp_path / 'one' / 'ostrack' / 'tiny_ce', tmp_path / 'three' / 'ostrack' / 'tiny_ce'
    names = sorted(f'{s.name}{suffix}.txt' for s in synthetic_dataset for suffix in ('', '_time'))
    assert sorted(p.name for p in one.iterdir()) == names == sorted(p.name for p in three.iterdir())
    first, batched = read_run(one, synthetic_dataset), read_run(three, synthetic_dataset)
    tolerance = max_box_diff('cuda' if torch.cuda.is_available() else 'cpu')  # the runner's device
    for name in first:
        assert box_agreement(batched[name], first[name])['max_abs_diff'] <= tolerance
    # restart: a missing and a truncated sequence are tracked again, the others are skipped
    (three / 'seq1.txt').unlink()
    text = (three / 'seq3.txt').read_text().splitlines()
    (three / 'seq3.txt').write_text('\n'.join(text[:5]) + '\n')
    capsys.readouterr()
    assert cli_main(common + ['--results_path', str(tmp_path / 'three'), '--batch_sequences', '3']) == 0
    assert 'Done: 2 tracked, 3 already complete (skipped), 0 failed' in capsys.readouterr().out
    resumed = read_run(three, synthetic_dataset)
    assert all(np.array_equal(resumed[n], batched[n]) for n in ('seq0', 'seq2', 'seq4'))
    assert len(resumed['seq3']) == LENGTHS[3]
    assert box_agreement(resumed['seq1'], first['seq1'])['max_abs_diff'] <= tolerance


def test_cli_reports_failed_sequences_of_a_batch(tmp_path, monkeypatch, tiny_checkpoint, capsys):
    data = synthetic_sequences(lengths=(3, 4), fail_at=('seq1', 2))
    module = types.ModuleType('lib.test.evaluation.datasets')
    module.available_datasets, module.get_dataset = (lambda: ['synth']), (lambda name: data)
    monkeypatch.setitem(sys.modules, 'lib.test.evaluation.datasets', module)
    argv = [
        'ostrack',
        'tiny_ce',
        '--dataset',
        'synth',
        '--checkpoint',
        tiny_checkpoint,
        '--results_path',
        str(tmp_path / 'res'),
        '--batch_sequences',
        '2',
    ]
    assert cli_main(argv) == 1
    captured = capsys.readouterr()
    assert 'FailingRead: cannot read seq1/2' in captured.out and '1 sequence(s) failed' in captured.err
    assert (tmp_path / 'res' / 'ostrack' / 'tiny_ce' / 'seq0.txt').is_file()


@pytest.mark.parametrize(
    'flags, expected',
    [
        ([], InferenceOptions()),
        (['--reference'], InferenceOptions.plain()),
        (['--precision', 'bf16'], InferenceOptions(precision='bf16')),
        (
            ['--compile', 'compile', '--precision', 'fp16'],
            InferenceOptions(precision='fp16', compile='compile'),
        ),
    ],
)
def test_cli_speed_flags_map_to_inference_options(flags, expected, tmp_path, synthetic_dataset):
    import lib.test.evaluation.cli as cli

    args = cli.build_parser().parse_args(
        ['ostrack', 'tiny_ce', '--dataset', 'synth', '--results_path', str(tmp_path)] + flags
    )
    _, tracker = cli.prepare(args)
    assert tracker.options == expected


@pytest.mark.parametrize(
    'flags, message',
    [
        (['--reference', '--precision', 'bf16'], '--reference is the plain fp32 eager path'),
        (['--batch_sequences', '0'], '--batch_sequences must be >= 1'),
        (['--batch_sequences', '2', '--threads', '2'], 'without --threads'),
    ],
)
def test_cli_speed_flag_errors(flags, message, tmp_path, synthetic_dataset, capsys):
    argv = ['ostrack', 'tiny_ce', '--dataset', 'synth', '--results_path', str(tmp_path)] + flags
    assert cli_main(argv) == 2
    assert message in capsys.readouterr().err


def test_cli_cudagraph_needs_cuda_and_firstbox_cannot_batch(tmp_path, synthetic_dataset, capsys):
    base = ['--dataset', 'synth', '--results_path', str(tmp_path)]
    code = cli_main(['ostrack', 'tiny_ce', '--compile', 'cudagraph', '--sequence', '0'] + base)
    if torch.cuda.is_available():
        assert code != 2  # accepted (the missing checkpoint fails the sequence, not the arguments)
    else:
        assert code == 2 and '--compile cudagraph needs a CUDA GPU' in capsys.readouterr().err
    assert cli_main(['firstbox', 'x', '--batch_sequences', '2'] + base) == 2
    assert 'needs a tracker with a network' in capsys.readouterr().err
