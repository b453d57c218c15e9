"""Every optimised inference path gives the plain (reference) path's boxes (issue #6).

Random-weight tiny models (experiments/ostrack/tiny_ce, experiments/lorat/tiny, compresstracker/tiny
and a DropTrack variant of tiny_ce; lib.benchmark.agreement adds head hooks that keep the random
boxes target-sized) on a synthetic sequence whose target leaves the frame (crops over the border).
Paths are compared frame by frame from the ground-truth positions (both trackers crop the same
region; a random network does not follow the target, so free-running runs drift into a corner where
clipping hides differences); the batched tests (tests/test_batched_eval.py) run free.
Tolerances:
- device preprocessing and template caching change nothing: boxes bit-identical on every frame on the
  CPU (the device crop reproduces cv2 exactly; cached template tokens are the same tensor);
- SDPA (alone, with everything together, and under torch.compile) reorders float sums: every frame
  IoU >= 0.99 and at most 0.01 px apart (measured here: <= 1.3e-5 px, IoU >= 0.999997);
- fp16 autocast: IoU >= 0.99 against fp32 on >= 99 % of frames (measured: every frame, min 0.998),
  on a network with a peaked score map (Family.stand_in): a random network's flat map
  would turn any rounding into a different argmax cell;
- bf16 autocast keeps 8 mantissa bits and a random network has no trained robustness: measured min IoU
  0.990-0.994 on the CPU and 0.984-0.989 on an H100 without candidate elimination (84-100 % of frames
  >= 0.99), so bf16 is held to IoU >= 0.98 on every frame. With CE, random attention makes the top-k
  choice a coin toss under bf16 rounding (min IoU 0.78 measured), so bf16 + CE is not asserted here
  (fp16 + CE is). Trained weights are measured by `tracking/benchmark.py --parts precision`
  (lib/benchmark/precision.py; figures for the trained tiny trackers in docs/benchmarks.md).
- on CUDA, cuDNN runs fp32 convolutions in TF32 by default (torch.backends.cudnn.allow_tf32), whose
  rounding depends on the algorithm picked per shape: fp32 comparisons there allow 0.05 px.
"""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import lib.test.tracker.step as step_module
from lib.benchmark.agreement import (
    box_agreement,
    build_network,
    path_agreement,
    random_tracker_boxes,
    synthetic_sequence,
)
from lib.config import load_config
from lib.models import build_model_from_cfg
from lib.models.layers.attention import Attention, attention_layers, set_attention_impl
from lib.test.tracker import build_tracker_for_network
from lib.test.tracker.device_crop import DeviceFrame, sample_target_device, siamfc_crop_device, upload_frame
from lib.test.tracker.options import InferenceOptions
from lib.test.tracker.slots import SlotTracker
from lib.utils.crop import crop_window, sample_target
from lib.utils.siamfc_crop import crop_image, crop_params

DEVICES = ['cpu'] + (['cuda'] if torch.cuda.is_available() else [])
PLAIN = InferenceOptions.plain()
FP32_PATHS = {
    'sdpa': PLAIN.replace(attention='sdpa'),
    'device_preprocess': PLAIN.replace(preprocess='device'),
    'template_cache': PLAIN.replace(template_cache=True),
    'all': InferenceOptions(precision='fp32'),
}
EXACT_PATHS = ('device_preprocess', 'template_cache')


def droptrack_cfg():
    cfg = load_config('ostrack', 'tiny_ce')
    cfg.MODEL.BACKBONE.FRAME_IDENTITY_EMBED = True
    return cfg


def no_ce_cfg():
    cfg = load_config('ostrack', 'tiny_ce')
    bb = cfg.MODEL.BACKBONE
    bb.TYPE, bb.CE_LOC, bb.CE_KEEP_RATIO = 'vit_patch16', [], []
    return cfg


MODELS = {
    'ostrack': ('ostrack', 'tiny_ce'),
    'droptrack': ('droptrack', droptrack_cfg()),
    'compresstracker': ('compresstracker', 'tiny'),
    'lorat': ('lorat', 'tiny'),
}


@pytest.fixture(scope='module')
def sequence():
    """(frames, init box, ground-truth positions)."""
    return synthetic_sequence(seed=3, num_frames=20)


def assert_close_boxes(agreement, device='cpu'):
    max_diff = 0.01 if device == 'cpu' else 0.05  # CUDA: TF32 convolutions (see the module doc)
    assert agreement['min_iou'] >= 0.99 and agreement['max_abs_diff'] <= max_diff, agreement


# --- options -----------------------------------------------------------------------------------------


def test_options_defaults_plain_and_validation():
    fast = InferenceOptions()
    assert (fast.attention, fast.preprocess, fast.template_cache, fast.precision, fast.compile) == (
        'sdpa',
        'device',
        True,
        None,
        'off',
    )
    assert PLAIN == InferenceOptions('explicit', 'numpy', False, 'fp32', 'off')
    for field, value, allowed in [
        ('attention', 'flash', 'sdpa, explicit'),
        ('preprocess', 'gpu', 'device, numpy'),
        ('precision', 'fp8', 'fp32, bf16, fp16'),
        ('compile', 'jit', 'off, compile, cudagraph'),
    ]:
        with pytest.raises(ValueError, match=f"{field}='{value}' is not one of {allowed}"):
            InferenceOptions(**{field: value})
    with pytest.raises(ValueError, match='template_cache'):
        InferenceOptions(template_cache='yes')
    # precision None = the config's choice: fp16 only where the config asks for AMP and CUDA runs it
    assert fast.resolved_precision(True, 'cuda') == 'fp16' and fast.resolved_precision(True, 'cpu') == 'fp32'
    assert fast.resolved_precision(False, 'cuda') == 'fp32'
    assert fast.replace(precision='bf16').resolved_precision(True, 'cuda') == 'bf16'


@pytest.mark.parametrize('device', DEVICES)
def test_lorat_test_amp_keeps_its_meaning(device):
    cfg, net = build_network('lorat', 'tiny')
    assert cfg.TEST.AMP  # the official default
    tracker = build_tracker_for_network('lorat', cfg, net, device=device)
    assert tracker.precision == ('fp16' if device == 'cuda' else 'fp32')
    assert (
        build_tracker_for_network(
            'lorat', cfg, net, device=device, options=InferenceOptions(precision='fp32')
        ).precision
        == 'fp32'
    )


# --- (d) attention implementations -------------------------------------------------------------------


def reference_attention(x, layer):
    """softmax(q k^T / sqrt(d)) v in float64, by hand."""
    B, N, C = x.shape
    qkv = F.linear(x.double(), layer.qkv.weight.double(), layer.qkv.bias.double())
    q, k, v = qkv.view(B, N, 3, layer.num_heads, -1).permute(2, 0, 3, 1, 4)
    attn = (q @ k.transpose(-2, -1) / q.shape[-1] ** 0.5).softmax(-1)
    out = (attn @ v).transpose(1, 2).reshape(B, N, C)
    return F.linear(out, layer.proj.weight.double(), layer.proj.bias.double()), attn


@pytest.mark.parametrize('device', DEVICES)
def test_explicit_and_sdpa_attention_equal_a_float64_reference(device):
    torch.manual_seed(0)
    layer = Attention(64, num_heads=4, qkv_bias=True).to(device).eval()
    x = torch.randn(2, 30, 64, device=device)
    expected, attn = reference_attention(x, layer)
    for impl in ('sdpa', 'explicit'):
        set_attention_impl(layer, impl)
        torch.testing.assert_close(layer(x).double(), expected, atol=1e-5, rtol=1e-4)
    # CE scores: template rows 0..5 (a CTR_REC-like 4-row mask, a per-sample GT_BOX-like mask, none)
    lens_t = 6
    masks = {
        'none': None,
        'rows': torch.tensor([[0, 1, 1, 0, 1, 1]] * 2, dtype=torch.bool),
        'varying': torch.tensor([[1, 0, 0, 0, 0, 0], [0, 1, 1, 1, 0, 0]], dtype=torch.bool),
    }
    for name, mask in masks.items():
        rows = attn[:, :, :lens_t, lens_t:]
        if mask is None:
            want = rows.mean(2).mean(1)
        else:
            weights = mask.to(device).double()[:, None, :, None]
            want = ((rows * weights).sum(2) / weights.sum(2)).mean(1)
        for impl in ('sdpa', 'explicit'):
            set_attention_impl(layer, impl)
            out, scores = layer.forward_with_ce_scores(x, lens_t, None if mask is None else mask.to(device))
            torch.testing.assert_close(out.double(), expected, atol=1e-5, rtol=1e-4)
            torch.testing.assert_close(scores.double(), want, atol=1e-6, rtol=1e-4, msg=f'{impl} {name}')
    with pytest.raises(ValueError, match="'flash' is not one of sdpa, explicit"):
        set_attention_impl(layer, 'flash')


@pytest.mark.parametrize('device', DEVICES)
def test_ce_scores_stay_fp32_under_half_precision_autocast(device):
    """At inference under a bf16 autocast the CE ranking scores come from fp32 q, k and logits: rounding
    them to 8 mantissa bits flips the tokens near the keep threshold (the attention output itself stays
    half precision). In training the layer's own q and k are used (the scores still in fp32)."""
    torch.manual_seed(0)
    layer = Attention(64, num_heads=4, qkv_bias=True).to(device).eval()
    x = 3 * torch.randn(2, 40, 64, device=device)  # logits of a few units, where bf16 steps are ~0.03
    lens_t, heads, dim = 8, 4, 16

    def scores_from(q, k):
        probs = ((q[:, :, :lens_t].double() * layer.scale) @ k.double().transpose(-2, -1)).softmax(-1)
        return probs[..., lens_t:].mean(2).mean(1)

    w, b = layer.qkv.weight.double(), layer.qkv.bias.double()
    qkv = F.linear(x.double(), w, b).view(2, 40, 3, heads, dim).permute(2, 0, 3, 1, 4)
    want = scores_from(qkv[0], qkv[1])
    device_type = torch.device(device).type
    with torch.no_grad(), torch.autocast(device_type, dtype=torch.bfloat16):
        q, k, _ = layer._qkv(x)
        out, scores = layer.forward_with_ce_scores(x, lens_t)
        layer.train()
        _, training_scores = layer.forward_with_ce_scores(x, lens_t)
        layer.eval()
    assert q.dtype == torch.bfloat16 and out.dtype == torch.bfloat16 and scores.dtype == torch.float32
    torch.testing.assert_close(scores.double(), want, atol=1e-6, rtol=1e-4)
    rounded_error = (scores_from(q, k) - want).abs().max()
    assert rounded_error > 100 * (scores.double() - want).abs().max()  # the test can tell the difference
    torch.testing.assert_close(training_scores.double(), scores_from(q, k), atol=1e-7, rtol=1e-5)


def lorat_training_model():
    cfg = load_config('lorat', 'tiny')
    return build_model_from_cfg('lorat', cfg, training=True).eval()  # LoRA-wrapped DINOv2 blocks


def model_inputs(script, cfg, device, batch=2):
    torch.manual_seed(1)
    if script == 'lorat':
        z, x = cfg.DATA.TEMPLATE.SIZE, cfg.DATA.SEARCH.SIZE
        mask = torch.randint(0, 2, (batch, z // 14, z // 14), device=device)
        images = (torch.randn(batch, 3, z, z, device=device), torch.randn(batch, 3, x, x, device=device))
        return images + (mask,), {}
    from lib.utils.ce import generate_ce_template_mask

    z, x = cfg.DATA.TEMPLATE.SIZE, cfg.DATA.SEARCH.SIZE
    return (
        (torch.randn(batch, 3, z, z, device=device), torch.randn(batch, 3, x, x, device=device)),
        {'ce_template_mask': generate_ce_template_mask(cfg, batch, device)},
    )


@pytest.mark.parametrize('device', DEVICES)
@pytest.mark.parametrize('model', ['ostrack', 'droptrack', 'compresstracker', 'lorat', 'lorat_lora'])
def test_every_model_gives_the_same_output_with_either_attention(model, device):
    if model == 'lorat_lora':
        net, script = lorat_training_model(), 'lorat'
        assert any(type(m).__name__ == 'FusedLinearWithLoRA' for m in net.modules())
        cfg = net.cfg
    else:
        script, config = MODELS[model]
        cfg, net = build_network(script, config)
    net = net.to(device)
    args, kwargs = model_inputs(script, cfg, device)
    outputs = {}
    with torch.no_grad():
        for impl in ('explicit', 'sdpa'):
            set_attention_impl(net, impl)
            assert {layer.impl for layer in attention_layers(net)} == {impl}
            outputs[impl] = net(*args, **kwargs)
    for key in ('score_map', 'pred_boxes', 'boxes'):
        if key in outputs['sdpa']:
            tol = 2e-5 if device == 'cpu' else 2e-4  # CUDA: fused SDPA kernels, TF32 convolutions
            torch.testing.assert_close(outputs['sdpa'][key], outputs['explicit'][key], atol=tol, rtol=1e-3)
    if model == 'ostrack':  # CE kept the same tokens per sample
        for a, b in zip(outputs['sdpa']['removed_indexes_s'], outputs['explicit']['removed_indexes_s']):
            assert torch.equal(a.sort(dim=1).values, b.sort(dim=1).values)


def test_set_attention_impl_reaches_the_compresstracker_teacher(capsys):
    cfg = load_config('compresstracker', 'tiny')
    cfg.MODEL.PRETRAIN_FILE = ''
    model = build_model_from_cfg('compresstracker', cfg, training=True)
    teacher_layers = [m for m in model.teacher.modules() if isinstance(m, Attention)]
    assert teacher_layers and not any(m is t for m in model.modules() for t in teacher_layers)
    set_attention_impl(model, 'explicit')
    assert {m.impl for m in teacher_layers} == {'explicit'}


# --- template cache ----------------------------------------------------------------------------------


@pytest.mark.parametrize('model', ['ostrack', 'droptrack', 'lorat'])
def test_cached_template_tokens_give_the_same_forward(model):
    script, config = MODELS[model]
    cfg, net = build_network(script, config)
    keys = list(net.state_dict())
    args, kwargs = model_inputs(script, cfg, 'cpu')
    with torch.no_grad():
        full = net(*args, **kwargs)
        if script == 'lorat':
            tokens = net.embed_template(args[0], args[2])
            cached = net(None, args[1], None, template_tokens=tokens)
        else:
            cached = net(None, args[1], template_tokens=net.embed_template(args[0]), **kwargs)
    assert torch.equal(full['score_map'], cached['score_map'])
    assert list(net.state_dict()) == keys


# --- (b) device crops --------------------------------------------------------------------------------


@pytest.mark.parametrize('upload', ['tensor', 'region'])
@pytest.mark.parametrize('device', DEVICES)
def test_device_crop_equals_sample_target_including_over_the_border(device, upload):
    rng = np.random.default_rng(0)
    total, exact, worst = 0, 0, 0
    cases = [
        ((60, 80), [-15.0, -10.0, 30.0, 25.0]),
        ((60, 80), [70.0, 45.0, 20.0, 30.0]),  # over corners
        ((50, 50), [-200.0, 10.0, 20.0, 20.0]),
    ]  # entirely outside: all padding
    for _ in range(40):
        h, w = (int(v) for v in rng.integers(20, 160, 2))
        bw, bh = rng.uniform(2, 60, 2)
        cases.append(((h, w), [rng.uniform(-bw, w), rng.uniform(-bh, h), bw, bh]))
    for (h, w), box in cases:
        image = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        image[-1] = 255  # the last row/column never enters a crop (the lineage's padding quirk)
        image[:, -1] = 255
        for factor, size in ((2.0, 64), (4.0, 128), (5.0, 56)):
            expected, factor_np, _ = sample_target(image, box, factor, size)
            if upload == 'tensor':
                got, factor_dev = sample_target_device(upload_frame(image, device), box, factor, size)
            else:  # only the window's block of the frame goes to the device
                frame = DeviceFrame(image, device, upload='region')
                got, factor_dev = sample_target_device(frame, box, factor, size)
                x1, y1, crop_sz = crop_window(box, factor)
                block_rows = min(y1 + crop_sz, h - 1) - max(y1, 0)
                block_cols = min(x1 + crop_sz, w - 1) - max(x1, 0)
                inside = block_rows > 0 and block_cols > 0
                assert frame.uploaded_bytes == (3 * block_rows * block_cols if inside else 0)
            assert factor_dev == factor_np
            diff = np.abs(got.cpu().numpy().astype(int) - expected.astype(int))
            total, exact = total + diff.size, exact + int((diff == 0).sum())
            worst = max(worst, int(diff.max()))
    assert worst <= 1
    assert exact == total  # bit-exact emulation of cv2.resize INTER_LINEAR on uint8


@pytest.mark.parametrize('device', DEVICES)
def test_lorat_device_crop_equals_crop_image(device):
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, (90, 120, 3), dtype=np.uint8)
    for box in ([-20.0, -10.0, 30.0, 25.0], [100.0, 70.0, 130.0, 95.0], [40.0, 30.0, 60.0, 50.0]):
        params = crop_params(np.array(box), 4.0, 112)
        expected, padding, realised = crop_image(image, 112, params)
        got, got_padding, got_realised = siamfc_crop_device(upload_frame(image, device), 112, params)
        assert got.device.type == device and np.array_equal(realised, got_realised)
        torch.testing.assert_close(got_padding.cpu(), padding, atol=1e-4, rtol=0)
        tol = 0 if device == 'cpu' else 1e-3
        torch.testing.assert_close(got.cpu(), expected, atol=tol, rtol=0)
        # a search crop (padding colour given) reads, and on a GPU uploads, only its source block
        frame = DeviceFrame(image, device, upload='region')
        expected, _, realised = crop_image(image, 112, params, padding=padding)
        got, _, got_realised = siamfc_crop_device(frame, 112, params, padding=padding.to(device))
        assert np.array_equal(realised, got_realised) and 0 < frame.uploaded_bytes < image.nbytes
        torch.testing.assert_close(got.cpu(), expected, atol=tol, rtol=0)


# --- (a) fp32 paths vs plain -------------------------------------------------------------------------

# Each optimisation alone on OSTrack-CE and LoRAT, all together on every family; DropTrack's template
# cache also holds its frame identity embedding.
FP32_CASES = [(m, p) for m in ('ostrack', 'lorat') for p in FP32_PATHS] + [
    ('droptrack', 'template_cache'),
    ('droptrack', 'all'),
    ('compresstracker', 'all'),
]
_PLAIN_BOXES = {}


def plain_boxes(model, device, frames, init_box, positions):
    """The plain path's boxes, tracked once per (model, device)."""
    if (model, device) not in _PLAIN_BOXES:
        script, config = MODELS[model]
        _PLAIN_BOXES[model, device] = random_tracker_boxes(
            script, config, PLAIN, device, frames, init_box, positions=positions
        )
    return _PLAIN_BOXES[model, device]


@pytest.mark.parametrize('device', DEVICES)
@pytest.mark.parametrize('model, path', FP32_CASES)
def test_fp32_paths_give_the_plain_boxes(model, path, device, sequence):
    script, config = MODELS[model]
    frames, init_box, positions = sequence
    boxes = random_tracker_boxes(
        script, config, FP32_PATHS[path], device, frames, init_box, positions=positions
    )
    agreement = box_agreement(boxes, plain_boxes(model, device, frames, init_box, positions))
    if path in EXACT_PATHS and device == 'cpu':
        assert agreement['identical_frames'] == agreement['frames'], agreement
    else:
        assert_close_boxes(agreement, device)


@pytest.mark.parametrize('model', ['ostrack', 'lorat'])
def test_region_uploads_give_the_plain_boxes(model, sequence, monkeypatch):
    """The GPU's way of feeding device crops (only each crop's block of the frame is uploaded), forced
    on the CPU: the same boxes, bit for bit, and less than a frame uploaded per frame."""
    uploads = []
    real_region = DeviceFrame.region

    def counting_region(frame, rows, cols):
        uploads.append(frame.upload)
        out = real_region(frame, rows, cols)
        assert frame.uploaded_bytes < frame.image.nbytes
        return out

    monkeypatch.setattr(SlotTracker, 'frame_upload', 'region')
    monkeypatch.setattr(DeviceFrame, 'region', counting_region)
    script, config = MODELS[model]
    frames, init_box, positions = sequence
    boxes = random_tracker_boxes(
        script, config, FP32_PATHS['device_preprocess'], 'cpu', frames, init_box, positions=positions
    )
    agreement = box_agreement(boxes, plain_boxes(model, 'cpu', frames, init_box, positions))
    assert agreement['identical_frames'] == agreement['frames'], agreement
    assert len(uploads) >= len(frames) - 1 and set(uploads) == {'region'}


# --- (c) half precision ------------------------------------------------------------------------------

HALF_CASES = [(m, 'fp16') for m in ('ostrack', 'compresstracker', 'lorat')] + [
    (m, 'bf16') for m in ('ostrack_no_ce', 'compresstracker', 'lorat')
]


@pytest.mark.parametrize('device', DEVICES)
@pytest.mark.parametrize('model, precision', HALF_CASES)
def test_half_precision_boxes_agree_with_fp32(model, precision, device, sequence):
    script, config = ('ostrack', no_ce_cfg()) if model == 'ostrack_no_ce' else MODELS[model]
    frames, init_box, positions = sequence
    options = InferenceOptions(precision=precision)
    agreement = path_agreement(
        script,
        config,
        options,
        reference=options.replace(precision='fp32'),
        device=device,
        peaked=True,
        frames=frames,
        init_box=init_box,
        positions=positions,
    )
    if precision == 'fp16':
        assert agreement['frac_iou_099'] >= 0.99, agreement
    else:
        assert agreement['min_iou'] >= 0.98, agreement
    assert agreement['identical_frames'] < agreement['frames'] / 2  # autocast really ran


def test_bf16_with_candidate_elimination_warns_and_points_to_fp16():
    import warnings

    cfg, net = build_network('ostrack', 'tiny_ce')
    with pytest.warns(UserWarning, match=r'candidate elimination \(MODEL\.BACKBONE\.CE_LOC=\[2\]\).*fp16'):
        build_tracker_for_network(
            'ostrack', cfg, net, device='cpu', options=InferenceOptions(precision='bf16')
        )
    quiet = [('ostrack', cfg, 'fp16'), ('ostrack', cfg, 'fp32'), ('ostrack', no_ce_cfg(), 'bf16')]
    for script, config, precision in quiet:
        config, net = build_network(script, config)
        with warnings.catch_warnings():
            warnings.simplefilter('error')
            build_tracker_for_network(
                script, config, net, device='cpu', options=InferenceOptions(precision=precision)
            )


# --- (f) torch.compile and CUDA graphs ---------------------------------------------------------------


@pytest.mark.parametrize('device', DEVICES)
@pytest.mark.parametrize('model', ['ostrack', 'lorat'])
def test_compiled_step_gives_the_same_boxes(model, device, sequence, monkeypatch):
    # aot_eager: dynamo capture of the whole step (CE, window, decoding) with AOT decompositions, in
    # seconds; inductor's code generation takes ~80 s per model cold on two CPU cores (see
    # lib.benchmark.agreement.report_agreement for the full check on a GPU machine).
    monkeypatch.setattr(step_module, 'COMPILE_KWARGS', {'dynamic': False, 'backend': 'aot_eager'})
    script, config = MODELS[model]
    frames, init_box, positions = sequence
    options = InferenceOptions(precision='fp32', compile='compile')
    agreement = path_agreement(
        script,
        config,
        options,
        reference=InferenceOptions(precision='fp32'),
        device=device,
        frames=frames[:12],
        init_box=init_box,
        positions=positions,
    )
    assert_close_boxes(agreement, device)


@pytest.mark.parametrize('device', DEVICES)
def test_cudagraph_replays_the_step_on_cuda_and_is_refused_elsewhere(device, sequence):
    options = InferenceOptions(precision='fp32', compile='cudagraph')
    if device != 'cuda':
        cfg, net = build_network('ostrack', 'tiny_ce')
        with pytest.raises(ValueError, match="compile='cudagraph' needs a CUDA device"):
            build_tracker_for_network('ostrack', cfg, net, device=device, options=options)
        return
    frames, init_box, positions = sequence
    for script, config in (MODELS['ostrack'], MODELS['lorat']):
        agreement = path_agreement(
            script,
            config,
            options,
            reference=InferenceOptions(precision='fp32'),
            device=device,
            frames=frames,
            init_box=init_box,
            positions=positions,
        )
        assert_close_boxes(agreement, device)
