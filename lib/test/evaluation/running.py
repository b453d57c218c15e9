"""run_dataset: runs trackers over a dataset, in-process or in spawned worker processes.

- A sequence is done when its box file exists with one line per frame. Result files are written
  atomically, so a killed run leaves complete files plus stray temporary files; a restart removes the
  temporary files of a sequence and reruns only what is missing or incomplete.
- A failing sequence does not stop the others; failures are listed at the end and returned in the
  summary. With debug > 0 exceptions propagate (for a debugger), every sequence is rerun, and results
  are still saved.
- threads=N starts N worker processes (spawn). Worker k uses cuda:(k % num_gpus) when CUDA is
  available and num_gpus > 0, else the CPU. Each worker builds each tracker once and reuses it.
- batch_sequences=K (> 1) tracks K sequences at once in this process, one network forward per step;
  each sequence's files are written when it completes, in the same format, so skipping complete
  sequences on restart works the same way.
- Every mode steps its sequences through one core, lib/test/evaluation/stepping.py (the timing,
  output-checking and per-sequence failure rules); the skip and restart rules are the ones here.
"""

from __future__ import annotations

import collections
import dataclasses
import glob
import os
import pickle
import traceback
from typing import TYPE_CHECKING

from lib.test.evaluation.tracker import Tracker

if TYPE_CHECKING:
    from lib.test.evaluation.data import Sequence, SequenceList

POLL_SECONDS = 1.0


@dataclasses.dataclass
class RunSummary:
    done: list = dataclasses.field(default_factory=list)  # (tracker display name, sequence name)
    skipped: list = dataclasses.field(default_factory=list)  # already complete
    failed: list = dataclasses.field(default_factory=list)  # (tracker display name, sequence name, message)
    frames: int = 0  # frames tracked in this run
    track_time: float = 0.0  # seconds spent in initialize/track for those frames

    @property
    def ok(self) -> bool:
        return not self.failed

    @property
    def fps(self) -> float:
        return self.frames / self.track_time if self.track_time > 0 else 0.0

    def failure_report(self) -> str:
        """Failed sequences grouped by error message."""
        groups = collections.defaultdict(list)
        for tracker_name, seq_name, message in self.failed:
            groups[message].append(f'{tracker_name}/{seq_name}')
        lines = [f'{len(self.failed)} sequence(s) failed:']
        for message, names in groups.items():
            lines.append(f'  {message}')
            lines.append(f"    in: {', '.join(names)}")
        return '\n'.join(lines)


def worker_device(worker_index: int, num_gpus: int) -> str:
    """'cuda:<worker_index % num_gpus>' when CUDA is available and num_gpus > 0, else 'cpu'."""
    import torch

    if num_gpus > 0 and torch.cuda.is_available():
        return f'cuda:{worker_index % min(num_gpus, torch.cuda.device_count())}'
    return 'cpu'


def count_result_lines(path):
    try:
        with open(path) as f:
            return sum(1 for line in f if line.strip())
    except FileNotFoundError:
        return None


def sequence_complete(tracker: Tracker, seq: Sequence) -> bool:
    """True when the box file exists with exactly one line per frame."""
    return count_result_lines(tracker.box_file(seq)) == len(seq.frames)


def remove_stray_temp_files(tracker, seq):
    """Removes temporary files an interrupted atomic write of this sequence's results left behind."""
    folder = tracker.sequence_results_dir(seq)
    for target in (tracker.box_file(seq), tracker.time_file(seq)):
        pattern = os.path.join(glob.escape(folder), '.' + glob.escape(os.path.basename(target)) + '.*.tmp')
        for path in glob.glob(pattern):
            try:
                os.remove(path)
            except FileNotFoundError:
                pass


class TrackerBuildError(RuntimeError):
    """The tracker implementation could not be built (its message already names the cause)."""


def describe_error(exc):
    return str(exc) if isinstance(exc, TrackerBuildError) else f'{type(exc).__name__}: {exc}'


def _run_task(tracker, seq, impl, debug):
    """Tracks one sequence and saves it; returns (frames, tracking seconds)."""
    remove_stray_temp_files(tracker, seq)
    output = tracker.run_sequence(seq, impl, debug=debug)
    tracker.save_results(seq, output)
    return len(seq.frames), float(output['time'].sum())


class _BuildFailed:
    def __init__(self, message):
        self.message = message


def _tracker_impl(cache, index, tracker, device, debug):
    """Builds tracker `index` once per process; a failed build is remembered, not retried."""
    if index not in cache:
        try:
            cache[index] = tracker.build(device=device, debug=debug)
        except Exception as e:
            if debug:
                raise
            cache[index] = _BuildFailed(f'cannot build tracker {tracker.display_name}: {describe_error(e)}')
    impl = cache[index]
    if isinstance(impl, _BuildFailed):
        raise TrackerBuildError(impl.message)
    return impl


class _Progress:
    def __init__(self, total, summary):
        from tqdm import tqdm

        self.bar = tqdm(total=total, unit='seq', dynamic_ncols=True)
        self.summary = summary

    def step(self):
        s = self.summary
        self.bar.set_postfix(
            {'fps': f'{s.fps:.1f}', 'done': len(s.done), 'skipped': len(s.skipped), 'failed': len(s.failed)},
            refresh=False,
        )
        self.bar.update(1)

    def close(self):
        self.bar.close()


def _record(summary, tracker, seq_name, frames=None, seconds=None, error=None):
    if error is None:
        summary.done.append((tracker.display_name, seq_name))
        summary.frames += frames
        summary.track_time += seconds
    else:
        summary.failed.append((tracker.display_name, seq_name, error))


def _run_in_process(tasks, trackers, sequences, summary, progress, debug, num_gpus):
    device = worker_device(0, num_gpus)
    impls = {}
    for ti, si in tasks:
        tracker, seq = trackers[ti], sequences[si]
        try:
            frames, seconds = _run_task(tracker, seq, _tracker_impl(impls, ti, tracker, device, debug), debug)
            _record(summary, tracker, seq.name, frames, seconds)
        except Exception as e:
            if debug:
                raise
            _record(summary, tracker, seq.name, error=describe_error(e))
        progress.step()


def _worker_main(worker_index, device, trackers, debug, cpu_threads, conn):
    """Worker process: receives pickled (tracker index, sequence index, sequence) tasks until None.

    Each worker talks to the main process over its own pipe, with synchronous sends: a worker that
    dies (segfault, out-of-memory kill) can only break its own pipe, never a channel others share.
    """
    import torch

    if cpu_threads:
        torch.set_num_threads(cpu_threads)
    if device.startswith('cuda'):
        torch.cuda.set_device(device)
    impls = {}
    while True:
        try:
            task = pickle.loads(conn.recv_bytes())
        except EOFError:  # the main process went away
            return
        if task is None:
            return
        ti, si, seq = task
        try:
            impl = _tracker_impl(impls, ti, trackers[ti], device, debug)
            frames, seconds = _run_task(trackers[ti], seq, impl, debug)
            conn.send((ti, si, frames, seconds, None))
        except Exception as e:
            conn.send((ti, si, 0, 0.0, traceback.format_exc() if debug else describe_error(e)))


class _Pool:
    """Worker processes with fixed indices 0..threads-1 (worker k always uses the device of index k);
    one task in flight per worker, the next handed out when it reports back."""

    def __init__(self, threads, num_gpus, trackers, debug):
        import torch.multiprocessing

        self.ctx = torch.multiprocessing.get_context('spawn')
        self.num_gpus, self.trackers, self.debug = num_gpus, trackers, debug
        self.cpu_threads = max(1, (os.cpu_count() or 1) // threads)
        self.workers = {}  # index -> {'process', 'conn', 'task'}
        self.restarts = 0

    def start(self, index):
        device = worker_device(index, self.num_gpus)
        conn, child_conn = self.ctx.Pipe(duplex=True)
        process = self.ctx.Process(
            target=_worker_main,
            name=f'onestream-worker-{index}',
            daemon=True,
            args=(
                index,
                device,
                self.trackers,
                self.debug,
                self.cpu_threads if device == 'cpu' else 0,
                child_conn,
            ),
        )
        process.start()
        child_conn.close()
        self.workers[index] = {'process': process, 'conn': conn, 'task': None}

    def busy(self):
        return [i for i, w in self.workers.items() if w['task'] is not None]

    def wait(self, timeout):
        from multiprocessing.connection import wait

        handles = []
        for index in self.busy():
            handles += [self.workers[index]['conn'], self.workers[index]['process'].sentinel]
        wait(handles, timeout)

    def stop(self):
        for w in self.workers.values():
            try:
                w['conn'].send_bytes(pickle.dumps(None))
            except OSError:
                pass
        for w in self.workers.values():
            w['process'].join(timeout=10)
            if w['process'].is_alive():
                w['process'].terminate()
                w['process'].join()
            w['conn'].close()


def _run_in_workers(tasks, trackers, sequences, summary, progress, debug, threads, num_gpus):
    pool = _Pool(threads, num_gpus, trackers, debug)
    pending = collections.deque(tasks)

    def fail(ti, si, message):
        if debug:
            raise RuntimeError(f'{trackers[ti].display_name}/{sequences[si].name} failed:\n{message}')
        _record(summary, trackers[ti], sequences[si].name, error=message)
        progress.step()

    def dispatch(index):
        """Sends the next pending task to worker `index` (a worker found dead is replaced)."""
        worker = pool.workers[index]
        worker['task'] = None
        while pending:
            ti, si = pending.popleft()
            try:  # pickled here, so an unpicklable sequence fails by name instead of killing a worker
                payload = pickle.dumps((ti, si, sequences[si]))
            except Exception as e:
                fail(ti, si, f'cannot send the sequence to a worker process: {describe_error(e)}')
                continue
            try:
                worker['conn'].send_bytes(payload)
            except OSError:  # the worker died after its last report
                pending.appendleft((ti, si))
                restart(index, None)
                return
            worker['task'] = (ti, si)
            return

    def restart(index, lost_task):
        exitcode = pool.workers[index]['process'].exitcode
        pool.workers[index]['process'].join(timeout=1)
        pool.workers[index]['conn'].close()
        if lost_task is not None:
            fail(*lost_task, f'worker process {index} died (exit code {exitcode})')
        pool.restarts += 1
        if pool.restarts > 2 * threads:  # something systematic: do not respawn forever
            pool.workers[index]['task'] = None
            while pending:
                fail(*pending.popleft(), 'not run: worker processes keep dying')
            return
        pool.start(index)
        dispatch(index)

    try:
        for index in range(min(threads, len(pending))):
            pool.start(index)
            dispatch(index)
        while pool.busy():
            pool.wait(POLL_SECONDS)
            for index in pool.busy():
                worker = pool.workers[index]
                try:
                    message = worker['conn'].recv() if worker['conn'].poll() else None
                except (EOFError, OSError):
                    message = None
                if message is not None:
                    ti, si, frames, seconds, error = message
                    if error is None:
                        _record(summary, trackers[ti], sequences[si].name, frames, seconds)
                        progress.step()
                    else:
                        fail(ti, si, error)
                    dispatch(index)
                elif not worker['process'].is_alive():
                    restart(index, worker['task'])
    finally:
        pool.stop()


def _run_batched(tasks, trackers, sequences, summary, progress, debug, num_gpus, batch_size):
    """In this process, each tracker's sequences `batch_size` at a time;
    each sequence's results are written as soon as it completes."""
    device = worker_device(0, num_gpus)
    impls = {}
    by_tracker = collections.defaultdict(list)
    for ti, si in tasks:
        by_tracker[ti].append(sequences[si])
    for ti, seqs in by_tracker.items():
        tracker = trackers[ti]
        reported = set()

        # report and on_finish run within this iteration (track_sequences calls them before returning)
        def report(seq, seconds=None, error=None):
            reported.add(seq.name)  # noqa: B023
            _record(summary, tracker, seq.name, len(seq.frames), seconds, error=error)  # noqa: B023
            progress.step()

        def on_finish(seq, output):
            try:
                tracker.save_results(seq, output)  # noqa: B023
            except Exception as e:
                if debug:
                    raise
                report(seq, error=describe_error(e))
                return
            report(seq, float(output['time'].sum()))

        try:
            impl = _tracker_impl(impls, ti, tracker, device, debug)
            for seq in seqs:
                remove_stray_temp_files(tracker, seq)
            on_error = None if debug else (lambda seq, e: report(seq, error=describe_error(e)))
            tracker.run_sequences_batched(seqs, impl, batch_size, on_finish, on_error, debug=debug)
        except Exception as e:
            if debug:
                raise
            for seq in seqs:
                if seq.name not in reported:
                    report(seq, error=describe_error(e))


def run_dataset(
    dataset: SequenceList | Sequence | list,
    trackers: Tracker | list[Tracker],
    debug: int = 0,
    threads: int = 0,
    num_gpus: int = 8,
    batch_sequences: int = 1,
) -> RunSummary:
    """Runs every tracker on every sequence of `dataset` and saves the results.

    dataset: SequenceList (or a list / a single Sequence); trackers: list of Tracker (or one).
    batch_sequences > 1 runs that many sequences together through one network forward per frame step
    (in this process; not with threads). Returns a RunSummary; prints progress, the overall FPS and
    any failures.
    """
    if batch_sequences < 1:
        raise ValueError(f'batch_sequences must be >= 1, got {batch_sequences}')
    if batch_sequences > 1 and threads:
        raise ValueError('batch_sequences > 1 runs in this process: use threads=0')
    sequences = list(dataset) if isinstance(dataset, (list, tuple)) else [dataset]
    trackers = list(trackers) if isinstance(trackers, (list, tuple)) else [trackers]
    for tracker in trackers:
        if not isinstance(tracker, Tracker):
            raise TypeError(f'run_dataset expects Tracker objects, got {tracker!r}')
    for tracker in trackers:
        _ = tracker.results_path  # resolved here once, so that workers do not each read local.py
    summary = RunSummary()
    all_tasks = [(ti, si) for si in range(len(sequences)) for ti in range(len(trackers))]
    progress = _Progress(len(all_tasks), summary)
    tasks = []
    try:
        for ti, si in all_tasks:
            if not debug and sequence_complete(trackers[ti], sequences[si]):
                summary.skipped.append((trackers[ti].display_name, sequences[si].name))
                progress.step()
            else:
                tasks.append((ti, si))
        if batch_sequences > 1 and tasks:
            _run_batched(tasks, trackers, sequences, summary, progress, debug, num_gpus, batch_sequences)
        elif threads and tasks:
            _run_in_workers(tasks, trackers, sequences, summary, progress, debug, threads, num_gpus)
        else:
            _run_in_process(tasks, trackers, sequences, summary, progress, debug, num_gpus)
    finally:
        progress.close()
    print(
        f'Done: {len(summary.done)} tracked, {len(summary.skipped)} already complete (skipped), '
        f'{len(summary.failed)} failed. Overall FPS: {summary.fps:.1f} ({summary.frames} frames)',
        flush=True,
    )
    if summary.failed:
        print(summary.failure_report(), flush=True)
    return summary
