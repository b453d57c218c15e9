"""BaseVideoDataset: the pytracking / OSTrack training-dataset API every reader implements.

Subclasses set self.sequence_list and implement _load_sequence_info(seq_id) -> {'bbox', 'valid',
'visible'} (numpy or torch), _frame_location(seq_id, frame_id) -> (storage, key) of the frame's image
file, and get_meta(seq_id). tracking/check_dataset.py also asks sequence_name(seq_id) and, where a
reader can count the frame files on storage, count_frames(seq_id); `excluded` lists the sequences the
reader skipped because the dataset's exclude.txt names them.
Parsed per-sequence annotations are kept in a small per-process LRU cache, since the sampler asks for
the same sequence's annotations for every sample it draws from it.
"""

from collections import OrderedDict

import numpy as np
import torch

META_FIELDS = ('object_class_name', 'motion_class', 'major_class', 'root_class', 'motion_adverb')


def object_meta(object_class_name=None, **fields):
    meta = OrderedDict((k, None) for k in META_FIELDS)
    meta['object_class_name'] = object_class_name
    meta.update(fields)
    return meta


def to_sequence_info(boxes, valid, visible):
    return {
        'bbox': torch.as_tensor(np.asarray(boxes, dtype=np.float32)).reshape(-1, 4),
        'valid': torch.as_tensor(np.asarray(valid, dtype=bool)),
        'visible': torch.as_tensor(np.asarray(visible, dtype=bool)),
    }


class BaseVideoDataset(torch.utils.data.Dataset):
    cache_size = 256  # sequences whose parsed annotations are kept per process

    def __init__(self, name, storage):
        self.name = name
        self.storage = storage
        self.sequence_list = []
        self.class_list = []
        self.excluded = []  # sequences named in the dataset's exclude.txt, not read
        self._info_cache = OrderedDict()

    # --- sizes and flags
    def __len__(self):
        return self.get_num_sequences()

    def __getitem__(self, index):
        raise NotImplementedError('sample through the sampler: get_sequence_info / get_frames')

    def get_name(self):
        return self.name

    def is_video_sequence(self):
        return True

    def is_synthetic_video_dataset(self):
        return False

    def has_class_info(self):
        return False

    def has_occlusion_info(self):
        return False

    def has_segmentation_info(self):
        return False

    def get_num_sequences(self):
        return len(self.sequence_list)

    def get_num_classes(self):
        return len(self.class_list)

    def get_class_list(self):
        return list(self.class_list)

    def get_sequences_in_class(self, class_name):
        return self.seq_per_class[class_name]

    def get_class_name(self, seq_id):
        return self.get_meta(seq_id)['object_class_name']

    def _build_seq_per_class(self):
        seq_per_class = {}
        for seq_id in range(self.get_num_sequences()):
            seq_per_class.setdefault(self.get_class_name(seq_id), []).append(seq_id)
        return seq_per_class

    # --- annotations and frames
    def get_sequence_info(self, seq_id):
        """{'bbox': FloatTensor (N,4) x,y,w,h, 'valid': BoolTensor (N,), 'visible': BoolTensor (N,)}.
        The tensors are shared with the cache: do not modify them in place."""
        info = self._info_cache.get(seq_id)
        if info is None:
            info = self._load_sequence_info(seq_id)
            self._info_cache[seq_id] = info
            if len(self._info_cache) > self.cache_size:
                self._info_cache.popitem(last=False)
        else:
            self._info_cache.move_to_end(seq_id)
        return dict(info)

    def get_frames(self, seq_id, frame_ids, anno=None, encoded=False):
        """(list of RGB uint8 HxWx3 frames, {key: [per-frame tensor, ...]}, meta dict). Only the requested
        frames are read, each once: a frame id given twice yields the same array twice (frames are
        not to be modified). encoded=True: lib.utils.image_io.EncodedImage frames instead (read, not
        yet decoded), for a processing that decodes only what it crops."""
        if anno is None:
            anno = self.get_sequence_info(seq_id)
        decoded = {f: self._read_frame(seq_id, f, encoded) for f in dict.fromkeys(frame_ids)}
        frames = [decoded[f] for f in frame_ids]
        anno_frames = {key: [value[f, ...].clone() for f in frame_ids] for key, value in anno.items()}
        return frames, anno_frames, self.get_meta(seq_id)

    def _load_sequence_info(self, seq_id):
        raise NotImplementedError

    def _frame_location(self, seq_id, frame_id):
        raise NotImplementedError

    def sequence_name(self, seq_id):
        """The name the dataset's lists and exclude.txt use for sequence `seq_id`."""
        return str(self.sequence_list[seq_id])

    def frame_location(self, seq_id, frame_id):
        """(storage, key) of a frame's image file."""
        return self._frame_location(seq_id, frame_id)

    def count_frames(self, seq_id):
        """The number of frame files stored for the sequence, or None where the reader cannot tell."""
        return None

    def _read_frame(self, seq_id, frame_id, encoded=False):
        storage, key = self._frame_location(seq_id, frame_id)
        return storage.read_encoded_image(key) if encoded else storage.read_image(key)

    def get_meta(self, seq_id):
        return object_meta()

    def __repr__(self):
        return f'{type(self).__name__}({self.get_num_sequences()} sequences, {self.storage!r})'
