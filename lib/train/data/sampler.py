"""The tracking sampler (the lineage's TrackingSampler): one training sample = a dataset drawn by
ratio, a sequence with enough visible frames, template frame(s) and later search frame(s) within
max_gap, then processing.

Unlike the lineage, every random decision comes from a numpy Generator seeded with (seed, index):
a sample is a pure function of its index, whatever the number of workers or ranks, and a resumed run
draws exactly the samples the uninterrupted run would have. Indices are global draw numbers
(EpochIndexSampler in loader.py hands out epoch * samples_per_epoch + i), so `index` is not bounded
by len(self). Errors are not swallowed forever: a sample whose loading raises is redrawn with a
warning, but `max_errors` consecutive failures raise, naming the dataset and sequence.
"""

import warnings

import numpy as np
import torch.utils.data

FRAME_SAMPLE_MODES = ('causal', 'interval')


class SamplerError(RuntimeError):
    pass


MIN_SEQUENCE_LENGTH = 20  # shorter video sequences are never drawn (the lineage's rule)


def sample_visible_ids(visible, rng, num_ids=1, min_id=None, max_id=None):
    """num_ids frame ids (with replacement) from [min_id, max_id) where visible; None if there is none."""
    if num_ids == 0:
        return []
    min_id = 0 if min_id is None or min_id < 0 else min_id
    max_id = len(visible) if max_id is None or max_id > len(visible) else max_id
    if max_id <= min_id:
        return None
    # one vectorised scan: indexing a torch tensor element by element pays the op dispatch once a frame,
    # which adds up on LaSOT's 2500-frame sequences
    candidates = np.flatnonzero(np.asarray(visible[min_id:max_id], dtype=bool)) + min_id
    if not len(candidates):
        return None
    return [int(candidates[j]) for j in rng.integers(0, len(candidates), size=num_ids)]


class TrackingSampler(torch.utils.data.Dataset):
    def __init__(
        self,
        datasets,
        p_datasets,
        samples_per_epoch,
        max_gap,
        num_search_frames=1,
        num_template_frames=1,
        processing=None,
        frame_sample_mode='causal',
        seed=0,
        min_sequence_length=MIN_SEQUENCE_LENGTH,
        max_errors=10,
        max_invalid=1000,
        max_sequence_draws=10000,
    ):
        if not datasets:
            raise ValueError('TrackingSampler: no training datasets given')
        if frame_sample_mode not in FRAME_SAMPLE_MODES:
            raise ValueError(
                f"TrackingSampler: frame_sample_mode '{frame_sample_mode}' is not supported "
                f"(choose from {', '.join(FRAME_SAMPLE_MODES)})"
            )
        if p_datasets is None:
            p_datasets = [len(d) for d in datasets]
        if len(p_datasets) != len(datasets) or any(p < 0 for p in p_datasets) or sum(p_datasets) <= 0:
            raise ValueError(
                f'TrackingSampler: dataset ratios {list(p_datasets)} must be one non-negative '
                f'number per dataset ({len(datasets)}) with a positive sum'
            )
        self.datasets = list(datasets)
        self.p_datasets = np.asarray(p_datasets, dtype=np.float64) / float(sum(p_datasets))
        self.samples_per_epoch = int(samples_per_epoch)
        self.max_gap = int(max_gap)
        self.num_search_frames = num_search_frames
        self.num_template_frames = num_template_frames
        self.processing = processing
        self.frame_sample_mode = frame_sample_mode
        self.seed = int(seed)
        self.min_sequence_length = min_sequence_length
        self.max_errors = max_errors
        self.max_invalid = max_invalid
        self.max_sequence_draws = max_sequence_draws

    def __len__(self):
        return self.samples_per_epoch

    def rng_for(self, index):
        return np.random.default_rng([self.seed, int(index)])

    def __getitem__(self, index):
        rng = self.rng_for(index)
        errors, invalid, last_reason = 0, 0, None
        while True:
            dataset = self.datasets[rng.choice(len(self.datasets), p=self.p_datasets)]
            seq_id, visible, seq_info = self.sample_sequence(dataset, rng)
            template_ids, search_ids = self.sample_frame_ids(dataset, visible, rng)
            try:
                data = self.load_pair(dataset, seq_id, seq_info, template_ids, search_ids)
                if self.processing is not None:
                    data = self.processing(data, rng)
            except Exception as e:  # noqa: BLE001 - redrawn a few times, then re-raised with context
                errors += 1
                where = f"dataset {dataset.get_name()} sequence {seq_id} frames {template_ids + search_ids}"
                if errors >= self.max_errors:
                    raise SamplerError(
                        f'{errors} consecutive training samples failed; last: {where}: '
                        f'{type(e).__name__}: {e}'
                    ) from e
                warnings.warn(
                    f'skipping a training sample that failed to load ({where}): {type(e).__name__}: {e}',
                    stacklevel=2,
                )
                continue
            errors = 0
            if data.get('valid', True):
                return data
            invalid += 1
            last_reason = data.get('invalid_reason')
            if invalid >= self.max_invalid:
                raise SamplerError(
                    f'{invalid} consecutive samples were invalid '
                    f'(last reason: {last_reason}); '
                    f'check the boxes of dataset {dataset.get_name()} and the crop settings'
                )

    def sample_sequence(self, dataset, rng):
        """A sequence with more than 2 * (template + search) visible frames and at least
        min_sequence_length frames (video datasets); any entry for image datasets."""
        num_sequences = dataset.get_num_sequences()
        if num_sequences == 0:
            raise SamplerError(f'dataset {dataset.get_name()} has no sequences')
        needed = 2 * (self.num_search_frames + self.num_template_frames)
        for _ in range(self.max_sequence_draws):
            seq_id = int(rng.integers(0, num_sequences))
            seq_info = dataset.get_sequence_info(seq_id)
            visible = seq_info['visible']
            if not dataset.is_video_sequence():
                return seq_id, visible, seq_info
            if int(visible.sum()) > needed and len(visible) >= self.min_sequence_length:
                return seq_id, visible, seq_info
        raise SamplerError(
            f'dataset {dataset.get_name()}: found no sequence with more than {needed} visible '
            f'frames and at least {self.min_sequence_length} frames in '
            f'{self.max_sequence_draws} draws'
        )

    def sample_frame_ids(self, dataset, visible, rng):
        if not dataset.is_video_sequence():
            # An image dataset: template and search are the same (only) frame.
            return [0] * self.num_template_frames, [0] * self.num_search_frames
        if self.frame_sample_mode == 'causal':
            return self._causal_ids(visible, rng)
        return self._interval_ids(visible, rng)

    def _causal_ids(self, visible, rng):
        """Template base frame, extra templates before it, search frames strictly after it within
        max_gap; the gap grows by 5 each time no visible frame is found."""
        gap_increase = 0
        while True:
            base = sample_visible_ids(
                visible,
                rng,
                1,
                min_id=self.num_template_frames - 1,
                max_id=len(visible) - self.num_search_frames,
            )
            if base is None:  # only possible for sequences the sequence filter should have rejected
                raise SamplerError('no visible frame can serve as template')
            earlier = sample_visible_ids(
                visible,
                rng,
                self.num_template_frames - 1,
                min_id=base[0] - self.max_gap - gap_increase,
                max_id=base[0],
            )
            if earlier is None:
                gap_increase += 5
                continue
            search = sample_visible_ids(
                visible,
                rng,
                self.num_search_frames,
                min_id=base[0] + 1,
                max_id=base[0] + self.max_gap + gap_increase,
            )
            if search is not None:
                return base + earlier, search
            gap_increase += 5

    def _interval_ids(self, visible, rng):
        """pytracking's 'interval' mode: template and search anywhere within max_gap of a base frame."""
        gap_increase = 0
        while True:
            base = sample_visible_ids(visible, rng, 1)
            if base is None:
                raise SamplerError('no visible frame in the sequence')
            lo, hi = base[0] - self.max_gap - gap_increase, base[0] + self.max_gap + gap_increase + 1
            template = sample_visible_ids(visible, rng, self.num_template_frames, min_id=lo, max_id=hi)
            search = sample_visible_ids(visible, rng, self.num_search_frames, min_id=lo, max_id=hi)
            if template is not None and search is not None:
                return template, search
            gap_increase += 5

    def load_pair(self, dataset, seq_id, seq_info, template_ids, search_ids):
        # One request for all frames, so that a frame serving as template and search (image datasets,
        # 'interval' sampling) is read and decoded once; the frames are shared, not modified.
        # A processing that crops from encoded frames (accepts_encoded_images) decodes only the part of
        # each JPEG it crops (lib/utils/jpeg_region.py); datasets may still hand it decoded arrays.
        n = len(template_ids)
        encoded = {'encoded': True} if getattr(self.processing, 'accepts_encoded_images', False) else {}
        frames, anno, meta = dataset.get_frames(
            seq_id, list(template_ids) + list(search_ids), seq_info, **encoded
        )
        mask = anno.get('mask')
        return {
            'template_images': frames[:n],
            'template_anno': anno['bbox'][:n],
            'template_masks': None if mask is None else mask[:n],
            'search_images': frames[n:],
            'search_anno': anno['bbox'][n:],
            'search_masks': None if mask is None else mask[n:],
            'dataset': dataset.get_name(),
            'test_class': (meta or {}).get('object_class_name'),
            'template_frame_ids': template_ids,
            'search_frame_ids': search_ids,
        }
