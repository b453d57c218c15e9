"""Data-loader throughput per worker: training samples/s that one DataLoader worker process produces
with a family's real sampler and processing, on JPEG frames of a realistic size.

    measure_loader('ostrack', 'vitb_256_mae_ce_32x4_ep300', path='fast')
    -> [{'name': 'loader_samples_per_s_per_worker.ostrack.vitb_256_mae_ce_32x4_ep300.fast',
         'value': ..., 'unit': 'samples/s', 'path': 'fast', 'ratio_to_plain': None, 'notes': '...'}]

Paths:
- 'plain': the lineage's way: OpenCV decode of the full frames (cv2.imread's decoder + BGR->RGB),
  joint grayscale/flip on the full frames, pad + crop + resize with a float padding mask, float
  per-crop transforms (processing classes with fast=False);
- 'fast': the default decoder order (jpeg4py / libjpeg-turbo first) and the fast processing
  (lib/utils/warp_crop.py, processing classes with fast=True: same random draws, boxes and labels).
- 'both': plain and fast, timed batch by batch in alternation (so that load from other processes
  hits both alike), the fast result carrying ratio_to_plain.

A small LaSOT-layout set of synthetic JPEG frames (quality 90) of frame_size is written into workdir
(a temporary folder by default; an existing set of the same size there is reused), the config's train
datasets are replaced by it, and samples are drawn in this process with 1 torch thread and OpenCV's
own threads off, as in a DataLoader worker (the previous settings are restored afterwards). A batch
of TRAIN.BATCH_SIZE samples (at most `samples`) is collated as the loader does; decoding time is
reported in the notes.
"""

import contextlib
import os
import tempfile
import time

METRIC = 'loader_samples_per_s_per_worker'
PATHS = ('plain', 'fast')
DECODER = {'plain': 'opencv', 'fast': 'auto'}
QUICK_FRAME_SIZE = (320, 180)
QUICK_SAMPLES = 8
WARMUP_SAMPLES = 2


def write_frames(workdir, frame_size, quality=90, sequences=2, frames=(30, 40)):
    """The benchmark's LaSOT-layout set under workdir (reused when already complete); returns its root."""
    from lib.utils.synthetic import write_lasot

    width, height = (int(v) for v in frame_size)
    root = os.path.join(workdir, f'lasot_{width}x{height}_q{quality}')
    if not os.path.isfile(os.path.join(root, 'training_set.txt')):  # written last by write_lasot
        write_lasot(
            root,
            classes=1,
            seqs_per_class=sequences,
            test_per_class=0,
            seed=0,
            size=(width, height),
            frame_range=frames,
            quality=quality,
        )
    return root


def _timed_lasot(root):
    """The LaSOT reader, counting the seconds spent reading and decoding frames (for encoded frames,
    which the fast processing decodes itself, also the time spent in their decoding methods)."""
    from lib.train.dataset.lasot import Lasot
    from lib.utils.image_io import EncodedImage

    class TimedLasot(Lasot):
        decode_s = 0.0

        def _read_frame(self, seq_id, frame_id, encoded=False):
            with self.timing():
                frame = super()._read_frame(seq_id, frame_id, encoded)
            return TimedEncodedImage(frame, self) if encoded else frame

        @contextlib.contextmanager
        def timing(self):
            start = time.perf_counter()
            try:
                yield
            finally:
                self.decode_s += time.perf_counter() - start

    class TimedEncodedImage(EncodedImage):
        def __init__(self, frame, dataset):
            super().__init__(frame.data, frame.name)
            self._dataset, self._busy = dataset, False

        def _timed(self, method, *args):
            if self._busy:  # nested (decode_region falling back to decode): counted once
                return method(*args)
            self._busy = True
            try:
                with self._dataset.timing():
                    return method(*args)
            finally:
                self._busy = False

        @property
        def shape(self):
            return self._timed(lambda: EncodedImage.shape.fget(self))

        def decode(self):
            return self._timed(super().decode)

        def decode_region(self, region, mean=False):
            return self._timed(super().decode_region, region, mean)

    return TimedLasot(root)


def build_processing(script, cfg, fast):
    """The family's training processing (as its training run builds it) with the given path."""
    from lib.families import get_family

    return get_family(script).build_processing(cfg, training=True, fast=fast)


@contextlib.contextmanager
def _worker_threads():
    """One torch thread and no OpenCV threads, as lib/train/data/loader.py::worker_init sets them."""
    import cv2
    import torch

    saved = torch.get_num_threads(), cv2.getNumThreads()
    torch.set_num_threads(1)
    cv2.setNumThreads(0)
    try:
        yield
    finally:
        torch.set_num_threads(saved[0])
        cv2.setNumThreads(saved[1])


def _check(script, config, path, samples, frame_size):
    from lib.config import available_configs

    if path not in PATHS + ('both',):
        raise ValueError(f"measure_loader: path must be one of {', '.join(PATHS + ('both',))}, got {path!r}")
    if config not in available_configs(script):
        raise ValueError(
            f"measure_loader: no config '{config}' for '{script}' (experiments/{script}/"
            f"{config}.yaml); available: {', '.join(available_configs(script)) or 'none'}"
        )
    if int(samples) < 1:
        raise ValueError(f'measure_loader: samples must be positive, got {samples}')
    if len(frame_size) != 2 or min(int(v) for v in frame_size) < 32:
        raise ValueError(
            f'measure_loader: frame_size must be (width, height) of at least 32, got {frame_size!r}'
        )


def measure_loader(
    script, config, path='plain', samples=64, frame_size=(1280, 720), workdir=None, quick=False, seed=0
):
    """Samples/s of one worker for `path` ('plain', 'fast' or 'both'): a list of result dicts (module doc).
    quick=True: QUICK_FRAME_SIZE frames and at most QUICK_SAMPLES samples (for tests and CI)."""
    from lib.config import CfgNode, load_config
    from lib.train.data.loader import collate_stack1
    from lib.train.data.pipeline import build_sampler
    from lib.utils.image_io import default_backend

    _check(script, config, path, samples, frame_size)
    if quick:
        frame_size, samples = QUICK_FRAME_SIZE, min(int(samples), QUICK_SAMPLES)
    samples = int(samples)
    paths = PATHS if path == 'both' else (path,)
    with contextlib.ExitStack() as stack:
        if workdir is None:
            workdir = stack.enter_context(tempfile.TemporaryDirectory(prefix='onestream_loader_'))
        root = write_frames(workdir, frame_size)
        cfg = load_config(script, config)
        batch = max(1, min(int(cfg.TRAIN.BATCH_SIZE), samples))
        split = CfgNode(DATASETS_RATIO=[1], SAMPLE_PER_EPOCH=samples + WARMUP_SAMPLES)
        runs = {}
        for p in paths:
            dataset = _timed_lasot(root)
            processing = build_processing(script, cfg, p == 'fast')
            runs[p] = {
                'dataset': dataset,
                'seconds': 0.0,
                'count': 0,
                'sampler': build_sampler(cfg, split, [dataset], processing, seed=seed),
            }
        stack.enter_context(_worker_threads())
        for p, run in runs.items():  # warm-up: lazy imports, first allocations; not timed
            with default_backend(DECODER[p]):
                for index in range(samples, samples + WARMUP_SAMPLES):
                    run['sampler'][index]
            run['dataset'].decode_s = 0.0
        for first in range(0, samples, batch):
            indices = range(first, min(first + batch, samples))
            for p, run in runs.items():
                with default_backend(DECODER[p]):
                    start = time.perf_counter()
                    collate_stack1([run['sampler'][i] for i in indices])
                    run['seconds'] += time.perf_counter() - start
                    run['count'] += len(indices)
    results = []
    rates = {p: run['count'] / run['seconds'] for p, run in runs.items()}
    for p, run in runs.items():
        rate = rates[p]
        ratio = rate / rates['plain'] if p != 'plain' and 'plain' in rates else None
        decode_ms = 1e3 * run['dataset'].decode_s / run['count']
        results.append(
            {
                'name': f'{METRIC}.{script}.{config}.{p}',
                'value': float(rate),
                'unit': 'samples/s',
                'path': p,
                'ratio_to_plain': ratio,
                'notes': (
                    f"{run['count']} samples in batches of {batch}, one process (1 torch thread, no OpenCV "
                    f"threads), synthetic {frame_size[0]}x{frame_size[1]} JPEG q90 frames, decoder "
                    f"{DECODER[p]}, processing {p}; reading + decoding {decode_ms:.1f} of "
                    f"{1e3 / rate:.1f} ms/sample"
                ),
            }
        )
    return results
