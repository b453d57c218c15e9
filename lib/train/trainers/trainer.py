"""The shared training loop for every tracker family.

Per iteration: move the batch to the device, add 'epoch', run the actor (under autocast when AMP is
on), backward (through a GradScaler for fp16), clip gradients, step. With grad_accum_steps k the
gradients of k iterations are summed (each loss divided by k) before one optimizer step; an epoch's
leftover iterations are stepped at its end. The LR scheduler steps once per epoch, or after every
optimizer step with lr_step_per_iteration. Per epoch: the family hook `actor.on_epoch_start`, every
loader due this epoch, the LR scheduler step, then checkpoints on the family's schedule plus a
rolling resume state; the actor hook `on_checkpoint_saved(path, epoch)` runs after each scheduled
checkpoint (e.g. LoRAT's safetensors release weights). Resuming restores model, optimizer, scheduler,
scaler, RNG states and epoch, so a resumed run continues as the uninterrupted one would have (the optimizer
keeps the kernel it was built with, fused or not, whatever the checkpoint's run used).

Every print interval logs the data-wait vs compute seconds; when waiting for data takes more than
TrainLogger.input_bound_fraction (30%) of the step time over an epoch's iterations after its first
`input_bound_warmup`, one warning per loader and epoch names the share and the remedies.

Failures are not swallowed (the lineage printed "Finished training!" and exited 0 after a crash):
any exception propagates and the process exits non-zero.
"""

import contextlib

import torch
import torch.distributed as dist

from lib.train.trainers import checkpoint as ckpt
from lib.train.trainers.monitor import InputBoundCheck, RunningMeans, Timer, TrainLogger, reduce_means
from lib.train.trainers.optim import load_optimizer_state

AMP_DTYPES = {'fp16': torch.float16, 'bf16': torch.bfloat16}


def move_to_device(data, device, non_blocking=False):
    if isinstance(data, torch.Tensor):
        return data.to(device, non_blocking=non_blocking)
    if isinstance(data, dict):
        return {k: move_to_device(v, device, non_blocking) for k, v in data.items()}
    if isinstance(data, list):
        return [move_to_device(v, device, non_blocking) for v in data]
    return data


def _distributed():
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


class Trainer:
    def __init__(
        self,
        actor,
        loaders,
        optimizer,
        lr_scheduler,
        *,
        max_epochs,
        checkpoint_dir,
        checkpoint_name,
        checkpoint_due=ckpt.lineage_checkpoint_due,
        grad_clip_norm=0.0,
        amp=None,
        device='cpu',
        print_interval=50,
        logger=None,
        cfg_dict=None,
        info=None,
        rank=0,
        save_resume_state=True,
        show_progress=True,
        grad_accum_steps=1,
        lr_step_per_iteration=False,
        input_bound_warmup=1,
    ):
        if int(grad_accum_steps) < 1:
            raise ValueError(f'grad_accum_steps must be >= 1, got {grad_accum_steps!r}')
        if amp not in (None, 'fp16', 'bf16'):
            raise ValueError(f"amp must be None, 'fp16' or 'bf16', got {amp!r}")
        self.actor = actor
        self.loaders = loaders
        self.optimizer = optimizer
        self.lr_scheduler = lr_scheduler
        self.max_epochs = int(max_epochs)
        self.checkpoint_dir = checkpoint_dir
        self.checkpoint_name = checkpoint_name
        self.checkpoint_due = checkpoint_due
        self.grad_clip_norm = grad_clip_norm
        self.amp = amp
        self.device = torch.device(device)
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=(amp == 'fp16'))
        self.print_interval = max(int(print_interval), 1)
        self.rank = rank
        self.is_main = rank == 0
        self.logger = logger or TrainLogger(is_main=self.is_main)
        self.cfg_dict = cfg_dict or {}
        self.info = info
        self.save_resume_state = save_resume_state
        self.show_progress = show_progress
        self.grad_accum_steps = int(grad_accum_steps)
        self.lr_step_per_iteration = bool(lr_step_per_iteration)
        # iterations per epoch left out of the input-bound check (the loader workers' start-up)
        self.input_bound_warmup = int(input_bound_warmup)
        self._accumulated = 0
        self.epoch = 0
        self.history = {}

    # ----------------------------------------------------------------- loop
    def train(self, resume='auto'):
        """resume: 'auto' (latest state in checkpoint_dir if any), None (start fresh) or a path."""
        if resume == 'auto':
            path = ckpt.latest_state_path(self.checkpoint_dir, self.checkpoint_name)
            if path:
                self.load(path)
        elif resume:
            self.load(resume)
        try:
            for epoch in range(self.epoch + 1, self.max_epochs + 1):
                self.epoch = epoch
                self.actor.on_epoch_start(epoch)
                for loader in self.loaders:
                    if epoch % loader.epoch_interval == 0:
                        self.run_epoch(loader, epoch)
                if self.lr_scheduler is not None and not self.lr_step_per_iteration:
                    self.lr_scheduler.step()
                self.save_epoch(epoch)
        finally:
            self.logger.close()
        self.logger.line(f'Finished training ({self.max_epochs} epochs).')

    def run_epoch(self, loader, epoch):
        training = loader.training
        self.actor.train(training)
        if hasattr(loader.sampler, 'set_epoch'):
            loader.sampler.set_epoch(epoch)
        means, timer, bound = RunningMeans(), Timer(), InputBoundCheck(self.input_bound_warmup)
        total, interval_samples = len(loader), 0
        progress = self._progress(total, f'{loader.name} {epoch}')
        non_blocking = bool(getattr(loader, 'pin_memory', False))
        with torch.set_grad_enabled(training):
            for it, data in enumerate(loader, 1):
                data_time = timer.mark_data()
                data = move_to_device(data, self.device, non_blocking)
                data['epoch'] = epoch
                with self.autocast():
                    loss, stats = self.actor(data)
                if not torch.isfinite(loss.detach()).all():
                    raise FloatingPointError(
                        f'non-finite loss {loss.item()} at epoch {epoch}, '
                        f'iteration {it} '
                        f'({loader.name}); stats: {stats}'
                    )
                if training:
                    self.step(loss, flush=it == total)
                bound.add(data_time, timer.mark_compute())
                batch = self._batch_size(data)
                means.update(stats, batch)
                interval_samples += batch
                if progress is not None:
                    progress.update(1)
                    progress.set_postfix(loss=f"{stats.get('Loss/total', loss.item()):.4f}", refresh=False)
                if it % self.print_interval == 0 or it == total:
                    shown = reduce_means(dict(means.means(), **self._lr_stats()), self.device)
                    self.logger.interval(
                        loader.name,
                        epoch,
                        it,
                        total,
                        shown,
                        timer.data,
                        timer.compute,
                        interval_samples,
                        step=(epoch - 1) * total + it,
                    )
                    self.logger.warn_if_input_bound(
                        loader.name, epoch, bound, getattr(loader, 'num_workers', None)
                    )
                    timer.reset()
                    interval_samples = 0
        if progress is not None:
            progress.close()
        epoch_means = reduce_means(dict(means.means(), **self._lr_stats()), self.device)
        self.history.setdefault(loader.name, {})[epoch] = epoch_means
        self.logger.epoch_end(loader.name, epoch, epoch_means, info=self.info)
        return epoch_means

    def step(self, loss, flush=True):
        """Backward of `loss`; an optimizer step every grad_accum_steps-th call or when `flush`.
        Returns whether the optimizer stepped."""
        if self._accumulated == 0:
            self.optimizer.zero_grad(set_to_none=True)
        self._accumulated += 1
        update = flush or self._accumulated >= self.grad_accum_steps
        no_sync = getattr(self.actor.net, 'no_sync', None)  # DDP: all-reduce only on the last micro-batch
        with contextlib.nullcontext() if update or no_sync is None else no_sync():
            self.scaler.scale(loss / self.grad_accum_steps if self.grad_accum_steps > 1 else loss).backward()
        if not update:
            return False
        self._accumulated = 0
        if self.grad_clip_norm and self.grad_clip_norm > 0:
            self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(self.actor.net.parameters(), self.grad_clip_norm)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        if self.lr_step_per_iteration and self.lr_scheduler is not None:
            self.lr_scheduler.step()
        return True

    def autocast(self):
        """The autocast context of a training forward (a no-op without AMP)."""
        if self.amp is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=AMP_DTYPES[self.amp])

    _autocast = autocast

    def _lr_stats(self):
        return {f'LearningRate/group{i}': g['lr'] for i, g in enumerate(self.optimizer.param_groups)}

    @staticmethod
    def _batch_size(data):
        images = data.get('search_images')
        return int(images.shape[1]) if isinstance(images, torch.Tensor) and images.dim() >= 2 else 1

    def _progress(self, total, desc):
        if not (self.is_main and self.show_progress):
            return None
        from tqdm import tqdm

        return tqdm(total=total, desc=desc, leave=False, dynamic_ncols=True, mininterval=1.0)

    # ---------------------------------------------------------- checkpoints
    def state(self, epoch, rng_states):
        net = self.actor.unwrapped_net
        return {
            'net': net.state_dict(),
            'optimizer': self.optimizer.state_dict(),
            'lr_scheduler': ckpt.scheduler_state(self.lr_scheduler) if self.lr_scheduler else None,
            'scaler': self.scaler.state_dict(),
            'rng': rng_states,
            'epoch': epoch,
            'net_type': type(net).__name__,
            'actor_type': type(self.actor).__name__,
            'cfg': self.cfg_dict,
            'stats': self.history,
        }

    def save_epoch(self, epoch):
        due = self.checkpoint_due(epoch, self.max_epochs)
        if not (due or self.save_resume_state):
            return
        rng_states = self._gather_rng_states()
        if not self.is_main:
            return
        state = self.state(epoch, rng_states)
        if due:
            path = ckpt.checkpoint_path(self.checkpoint_dir, self.checkpoint_name, epoch)
            ckpt.save_state(path, state)
            self.logger.line(f'Saved checkpoint {path}')
            self.actor.on_checkpoint_saved(path, epoch)
        if self.save_resume_state:
            ckpt.save_state(ckpt.resume_path(self.checkpoint_dir, self.checkpoint_name), state)

    def _gather_rng_states(self):
        """RNG states of every rank (index = rank), so each rank resumes its own streams."""
        own = ckpt.rng_state(self.device)
        if not _distributed():
            return [own]
        gathered = [None] * dist.get_world_size()
        dist.all_gather_object(gathered, own)
        return gathered

    def load(self, path):
        """Restores a full training state; a lineage checkpoint (net, optimizer, epoch) also works."""
        state = ckpt.read_state(path)
        if 'net' not in state:
            raise KeyError(f"{path}: not a training checkpoint (no 'net' key; keys: {sorted(state)})")
        self.actor.unwrapped_net.load_state_dict(state['net'])
        if state.get('optimizer'):
            load_optimizer_state(self.optimizer, state['optimizer'])
        self.epoch = int(state.get('epoch', 0))
        if self.lr_scheduler is not None:
            if state.get('lr_scheduler'):
                ckpt.load_scheduler_state(self.lr_scheduler, state['lr_scheduler'])
            else:  # the lineage only restored the epoch counter
                self.lr_scheduler.last_epoch = self.epoch
        if state.get('scaler'):
            self.scaler.load_state_dict(state['scaler'])
        rng = state.get('rng')
        if isinstance(rng, dict):
            rng = [rng]
        if rng:
            if self.rank < len(rng):
                ckpt.set_rng_state(rng[self.rank], self.device)
            else:  # resumed on more ranks than saved: fresh, distinct streams for the extra ranks
                torch.manual_seed(1000003 * self.epoch + self.rank)
        self.history = state.get('stats') or {}
        self.logger.line(f'Resumed from {path} (epoch {self.epoch})')
        if self.epoch >= self.max_epochs:
            self.logger.line(
                f'Checkpoint epoch {self.epoch} >= TRAIN.EPOCH {self.max_epochs}: nothing to train.'
            )
        return state
