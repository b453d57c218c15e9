"""DataLoader construction for the training pipeline.

Epoch sampling without DistributedSampler: EpochIndexSampler hands rank r of W the global draw
numbers epoch * samples_per_epoch + r, + r + W, ... so ranks never share a sample, every epoch
differs, and (with the sampler's per-index seeding) the data are independent of the worker count.
Batches are collated with stack dim 1, as in the lineage: images arrive as (frames, batch, 3, H, W).
"""

import random

import numpy as np
import torch
import torch.utils.data


class EpochIndexSampler(torch.utils.data.Sampler):
    def __init__(self, samples_per_epoch, rank=0, world_size=1):
        if samples_per_epoch < world_size:
            raise ValueError(
                f'samples_per_epoch ({samples_per_epoch}) must be at least the number of '
                f'processes ({world_size})'
            )
        self.samples_per_epoch = int(samples_per_epoch)
        self.rank = rank
        self.world_size = world_size
        self.epoch = 1

    def set_epoch(self, epoch):
        self.epoch = int(epoch)

    def __len__(self):
        return self.samples_per_epoch // self.world_size

    def __iter__(self):
        base = self.epoch * self.samples_per_epoch + self.rank
        return iter(range(base, base + len(self) * self.world_size, self.world_size))


def collate_stack1(batch):
    """Collates processing outputs: tensors and arrays stacked along dim 1 (0-d ones along dim 0),
    numbers to tensors, strings and None kept as lists, dicts and sequences recursively."""
    elem = batch[0]
    if isinstance(elem, torch.Tensor):
        return torch.stack(batch, 0 if elem.dim() == 0 else 1)
    if isinstance(elem, np.ndarray):
        return collate_stack1([torch.from_numpy(np.ascontiguousarray(b)) for b in batch])
    if isinstance(elem, (bool, np.bool_)):
        return torch.tensor([bool(b) for b in batch])
    if isinstance(elem, (int, float, np.number)):
        return torch.tensor(batch)
    if isinstance(elem, str) or elem is None:
        return list(batch)
    if isinstance(elem, dict):
        return {key: collate_stack1([d[key] for d in batch]) for key in elem}
    if isinstance(elem, (list, tuple)):
        if any(len(b) != len(elem) for b in batch):
            return list(batch)
        return [collate_stack1(list(items)) for items in zip(*batch)]
    raise TypeError(f'collate_stack1: cannot batch values of type {type(elem).__name__}')


def worker_init(worker_id):
    """One torch thread per worker (two threads slow loading many times over on small machines) and
    distinct python/numpy global seeds per worker, derived from the loader's generator."""
    torch.set_num_threads(1)
    try:
        import cv2

        cv2.setNumThreads(0)
    except ImportError:
        pass
    seed = torch.initial_seed() % 2**32
    random.seed(seed)
    np.random.seed(seed)


def build_loader(
    dataset,
    batch_size,
    num_workers=0,
    name='train',
    training=True,
    rank=0,
    world_size=1,
    epoch_interval=1,
    seed=0,
    device=None,
    prefetch_factor=None,
):
    """A DataLoader over a TrackingSampler-like dataset, with `name`, `training` and `epoch_interval`
    attributes for the trainer (a loader runs in epochs where epoch % epoch_interval == 0)."""
    if batch_size < 1:
        raise ValueError(f'batch size must be positive, got {batch_size}')
    sampler = EpochIndexSampler(len(dataset), rank, world_size)
    if len(sampler) < batch_size:
        raise ValueError(
            f"loader '{name}': {len(dataset)} samples per epoch over {world_size} process(es) "
            f"give fewer than one batch of {batch_size}; raise SAMPLE_PER_EPOCH or lower "
            f"BATCH_SIZE"
        )
    generator = torch.Generator()
    generator.manual_seed(int(seed) * 1000 + rank)
    kwargs = {}
    if num_workers > 0:
        kwargs.update(persistent_workers=True, worker_init_fn=worker_init)
        if prefetch_factor:
            kwargs['prefetch_factor'] = prefetch_factor
    is_cuda = torch.device(device).type == 'cuda' if device is not None else False
    loader = torch.utils.data.DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        drop_last=True,
        num_workers=num_workers,
        collate_fn=collate_stack1,
        pin_memory=is_cuda,
        generator=generator,
        **kwargs,
    )
    loader.name = name
    loader.training = training
    loader.epoch_interval = max(int(epoch_interval), 1)
    return loader
