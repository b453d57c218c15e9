"""Sequence and SequenceList: what a test dataset hands to the runner and to the analysis."""

import numpy as np


class Sequence:
    """One test sequence.

    frames: image file paths in frame order. ground_truth_rect: (N, 4) float x,y,w,h, or only the first
    row for datasets whose test labels are withheld (GOT-10k test, TrackingNet test). target_visible:
    (N,) bool or None. dataset: the label used for result sub-folders and metric conventions
    ('lasot', 'got10k', 'trackingnet', 'uav', ...).
    """

    def __init__(
        self,
        name,
        frames,
        dataset,
        ground_truth_rect,
        object_class=None,
        target_visible=None,
        image_reader=None,
    ):
        self.name = name
        self.frames = list(frames)
        self.dataset = dataset
        self.ground_truth_rect = np.asarray(ground_truth_rect, dtype=np.float64).reshape(-1, 4)
        self.object_class = object_class
        self.target_visible = None if target_visible is None else np.asarray(target_visible, dtype=bool)
        self._image_reader = image_reader

    def __len__(self):
        return len(self.frames)

    def __repr__(self):
        return f"Sequence('{self.name}', {len(self.frames)} frames, dataset='{self.dataset}')"

    def init_info(self):
        return {'init_bbox': [float(v) for v in self.ground_truth_rect[0]]}

    def read_frame(self, index):
        """RGB uint8 HxWx3 of frame `index`."""
        if self._image_reader is None:
            from lib.utils.image_io import read_image

            return read_image(self.frames[index])
        return self._image_reader(self.frames[index])


class SequenceList(list):
    """A list of sequences that can also be indexed by sequence name."""

    def __getitem__(self, item):
        if isinstance(item, str):
            for seq in self:
                if seq.name == item:
                    return seq
            raise KeyError(f"no sequence named '{item}' (the dataset has {len(self)} sequences)")
        result = super().__getitem__(item)
        return SequenceList(result) if isinstance(item, slice) else result

    def names(self):
        return [seq.name for seq in self]
