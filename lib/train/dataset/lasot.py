"""LaSOT training reader (folder or LMDB; layout in lib/train/dataset/layouts.py::LasotLayout)."""

from lib.train.dataset.base_video_dataset import BaseVideoDataset, object_meta, to_sequence_info
from lib.train.dataset.layouts import LasotLayout, drop_excluded, valid_boxes
from lib.train.dataset.storage import open_storage


class Lasot(BaseVideoDataset):
    """LaSOT (protocol II) training split. The sequence list comes from `split_file` in the dataset root
    when that file exists (e.g. training_set.txt of a custom or synthetic set), else from the bundled
    official data_specs/lasot_train_split.txt (1120 sequences). `sequence_list` overrides both.
    Sequences named in <root>/exclude.txt are skipped."""

    def __init__(
        self,
        root,
        split='train',
        use_lmdb=False,
        split_file='training_set.txt',
        sequence_list=None,
        name='lasot',
    ):
        super().__init__(name + ('_lmdb' if use_lmdb else ''), open_storage(root, use_lmdb))
        if split != 'train':
            raise ValueError(f"LaSOT training reader supports split='train' only, got {split!r}")
        if sequence_list is None:
            sequence_list = LasotLayout.read_split(self.storage, split_file, LasotLayout.train_split_file)
        self.sequence_list, self.excluded = drop_excluded(sequence_list, self.storage)
        self.class_list = sorted({LasotLayout.class_name(s) for s in self.sequence_list})
        self.seq_per_class = self._build_seq_per_class()

    def has_class_info(self):
        return True

    def has_occlusion_info(self):
        return True

    def _load_sequence_info(self, seq_id):
        boxes, visible = LasotLayout.read_annotations(self.storage, self.sequence_list[seq_id])
        return to_sequence_info(boxes, valid_boxes(boxes), visible)

    def _frame_location(self, seq_id, frame_id):
        return self.storage, LasotLayout.frame_key(self.sequence_list[seq_id], frame_id)

    def count_frames(self, seq_id):
        return len(LasotLayout.list_frames(self.storage, self.sequence_list[seq_id]))

    def get_meta(self, seq_id):
        return object_meta(LasotLayout.class_name(self.sequence_list[seq_id]))
