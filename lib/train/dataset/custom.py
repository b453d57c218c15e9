"""Training reader of a custom dataset (folder or LMDB; layout in custom_layout.py, docs/custom_dataset.md).
DATA.TRAIN.DATASETS_NAME: CUSTOM:<name> (every sequence of list.txt) or CUSTOM:<name>:<split>."""

from lib.train.dataset.base_video_dataset import BaseVideoDataset, object_meta, to_sequence_info
from lib.train.dataset.custom_layout import CustomLayout, open_root
from lib.train.dataset.layouts import drop_excluded, valid_boxes


class CustomDataset(BaseVideoDataset):
    """Sequences of list.txt (or splits/<split>.txt) under `root`, minus those in exclude.txt. Frame i
    of a sequence is <seq>/img/%08d (i + 1) with the extension of its first frame; no class labels."""

    def __init__(self, root: str, split: str | None = None, name: str = 'custom'):
        storage = open_root(root)
        super().__init__(name + ('_lmdb' if storage.kind == 'lmdb' else ''), storage)
        names = CustomLayout.read_sequence_names(self.storage, split)
        self.sequence_list, self.excluded = drop_excluded(names, self.storage)
        self.seq_per_class = {None: list(range(len(self.sequence_list)))}
        self._extension = {}  # seq_id -> '.jpg' / '.png', probed once per process

    def _load_sequence_info(self, seq_id):
        boxes, visible = CustomLayout.read_annotations(self.storage, self.sequence_list[seq_id])
        return to_sequence_info(boxes, valid_boxes(boxes), visible)

    def _frame_location(self, seq_id, frame_id):
        seq = self.sequence_list[seq_id]
        ext = self._extension.get(seq_id)
        if ext is None:
            ext = self._extension[seq_id] = CustomLayout.frame_extension(self.storage, seq)
        return self.storage, CustomLayout.frame_key(seq, frame_id, ext)

    def count_frames(self, seq_id):
        return len(CustomLayout.list_frames(self.storage, self.sequence_list[seq_id]))

    def get_meta(self, seq_id):
        return object_meta()
