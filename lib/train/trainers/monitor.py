"""Training statistics and logging: running means per loader, a rank-0 log file and console lines,
TensorBoard (imported only when used), wandb (imported only when asked for), and the data-time vs
compute-time split with a warning (once per loader and epoch) when training waits on data loading."""

import math
import os
import sys
import time

import torch
import torch.distributed as dist


class RunningMeans:
    def __init__(self):
        self.sums, self.counts = {}, {}

    def update(self, stats, n=1):
        for key, value in stats.items():
            self.sums[key] = self.sums.get(key, 0.0) + float(value) * n
            self.counts[key] = self.counts.get(key, 0) + n

    def means(self):
        return {k: self.sums[k] / max(self.counts[k], 1) for k in self.sums}


def reduce_means(means, device):
    """Averages a dict of floats over all ranks (every rank must call it with the same keys)."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1 or not means:
        return means
    keys = sorted(means)
    values = torch.tensor([means[k] for k in keys], dtype=torch.float64, device=device)
    dist.all_reduce(values)
    values /= dist.get_world_size()
    reduced = dict(zip(keys, values.tolist()))
    return {k: reduced[k] for k in means}


class TrainLogger:
    """Rank-0 console + log file lines, TensorBoard scalars per epoch, optional wandb."""

    def __init__(
        self,
        log_file=None,
        tensorboard_dir=None,
        use_wandb=False,
        wandb_name=None,
        cfg_dict=None,
        is_main=True,
        input_bound_fraction=0.3,
    ):
        self.is_main = is_main
        self.log_file = log_file if is_main else None
        self.tensorboard_dir = tensorboard_dir if is_main else None
        self.input_bound_fraction = input_bound_fraction
        self._writers = {}
        self._wandb = None
        self._warned_epochs = set()
        if is_main and self.log_file:
            os.makedirs(os.path.dirname(os.path.abspath(self.log_file)), exist_ok=True)
        if is_main and use_wandb:
            try:
                import wandb
            except ImportError as e:
                raise RuntimeError('--use_wandb 1 needs the wandb package (pip install wandb)') from e
            self._wandb = wandb
            wandb.init(project='tracking', name=wandb_name, dir=tensorboard_dir, config=cfg_dict or {})

    def line(self, text):
        if not self.is_main:
            return
        try:
            from tqdm import tqdm

            tqdm.write(text, file=sys.stdout)
        except ImportError:
            print(text, flush=True)
        if self.log_file:
            with open(self.log_file, 'a') as f:
                f.write(text + '\n')

    def interval(self, loader_name, epoch, it, total, means, data_time, compute_time, samples, step):
        """One progress line: throughput, data-wait and compute seconds of the interval, the means."""
        wall = max(data_time + compute_time, 1e-9)
        text = (
            f'[{loader_name}: {epoch}, {it} / {total}] FPS: {samples / wall:.1f}, '
            f'data {data_time:.2f}s ({100 * data_time / wall:.0f}%), compute {compute_time:.2f}s, '
            + ', '.join(f'{k}: {v:.5f}' for k, v in means.items())
        )
        self.line(text)
        if self._wandb is not None:
            self._wandb.log({f'{loader_name}/{k}': v for k, v in means.items()}, step=step)

    def warn_if_input_bound(self, loader_name, epoch, check, num_workers=None):
        """Logs one warning per loader and epoch when `check` (an InputBoundCheck) finds the data share
        of the step time above input_bound_fraction. Returns whether it warned now."""
        share = check.share()
        if share is None or share <= self.input_bound_fraction or (loader_name, epoch) in self._warned_epochs:
            return False
        self._warned_epochs.add((loader_name, epoch))
        workers = f' (now {num_workers})' if num_workers is not None else ''
        self.line(
            f'WARNING: training is input-bound: {loader_name} epoch {epoch} spent {100 * share:.0f}% '
            f'of its step time waiting for data ({check.data:.2f}s data, {check.compute:.2f}s compute '
            f'over {check.measured} iterations after warm-up). Raise TRAIN.NUM_WORKER{workers}, train '
            f'with --use_lmdb 1, or put the datasets on a faster disk.'
        )
        return True

    def _writer(self, name):
        if name not in self._writers:
            from torch.utils.tensorboard import SummaryWriter

            self._writers[name] = SummaryWriter(os.path.join(self.tensorboard_dir, name))
        return self._writers[name]

    def epoch_end(self, loader_name, epoch, means, info=None):
        if not self.is_main or not self.tensorboard_dir:
            return
        writer = self._writer(loader_name)
        if info and epoch == 1:
            for key, value in info.items():
                writer.add_text(f'info/{key}', str(value), epoch)
        for key, value in means.items():
            if math.isfinite(value):
                writer.add_scalar(key, value, epoch)
        writer.flush()

    def close(self):
        for writer in self._writers.values():
            writer.close()
        self._writers = {}
        if self._wandb is not None:
            self._wandb.finish()
            self._wandb = None


class InputBoundCheck:
    """Data-wait and compute seconds of one epoch's iterations after the first `warmup` ones (the first
    batch of an epoch waits for the loader workers to start and fill their queues: not a sign of a
    slow pipeline). share() is the fraction of the step time spent waiting for data."""

    def __init__(self, warmup=1):
        self.warmup = int(warmup)
        self.seen = self.measured = 0
        self.data = self.compute = 0.0

    def add(self, data_time, compute_time):
        self.seen += 1
        if self.seen > self.warmup:
            self.measured += 1
            self.data += data_time
            self.compute += compute_time

    def share(self):
        """None before any iteration after warm-up."""
        if not self.measured:
            return None
        return self.data / max(self.data + self.compute, 1e-9)


class Timer:
    """Accumulates data-wait and compute seconds (CUDA work is synchronised by the stats' .item()).
    mark_data / mark_compute also return the seconds since the previous mark."""

    def __init__(self):
        self.data = self.compute = 0.0
        self._t = time.perf_counter()

    def mark_data(self):
        now = time.perf_counter()
        delta, self._t = now - self._t, now
        self.data += delta
        return delta

    def mark_compute(self):
        now = time.perf_counter()
        delta, self._t = now - self._t, now
        self.compute += delta
        return delta

    def reset(self):
        self.data = self.compute = 0.0
        self._t = time.perf_counter()
