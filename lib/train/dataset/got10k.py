"""GOT-10k training reader (folder or LMDB; layout in lib/train/dataset/layouts.py::Got10kLayout)."""

from lib.train.dataset.base_video_dataset import BaseVideoDataset, object_meta, to_sequence_info
from lib.train.dataset.layouts import Got10kLayout, drop_excluded, valid_boxes
from lib.train.dataset.storage import open_storage


class Got10k(BaseVideoDataset):
    """GOT-10k. `root` is the train folder (or the official val folder, with split=None). The splits
    train / val / train_full / vottrain / votval are 0-based indices into <root>/list.txt (bundled
    data_specs files); split=None uses every sequence of list.txt.

    LMDB form: one environment whose keys carry the subset folder ('train/list.txt',
    'train/<seq>/00000001.jpg'); `lmdb_subset` picks it ('train', or 'val' for the official val set).
    Sequences named in <root>/exclude.txt are skipped (the split indices still count them)."""

    def __init__(self, root, split=None, use_lmdb=False, lmdb_subset='train', seq_ids=None, name='got10k'):
        storage = open_storage(root, use_lmdb, prefix=lmdb_subset if use_lmdb else '')
        super().__init__(name + ('_lmdb' if use_lmdb else ''), storage)
        full_list = Got10kLayout.read_sequence_list(self.storage)
        if split is not None and seq_ids is not None:
            raise ValueError('give either split or seq_ids, not both')
        if split is not None:
            seq_ids = Got10kLayout.split_indices(split)
        if seq_ids is None:
            seq_ids = range(len(full_list))
        bad = [i for i in seq_ids if not 0 <= i < len(full_list)]
        if bad:
            raise ValueError(
                f"GOT-10k split '{split}' indexes sequence {bad[0]} but "
                f"{self.storage.describe('list.txt')} lists only {len(full_list)} sequences"
            )
        self.sequence_list, self.excluded = drop_excluded([full_list[i] for i in seq_ids], self.storage)
        self._meta = [Got10kLayout.read_meta(self.storage, s) for s in self.sequence_list]
        self.seq_per_class = self._build_seq_per_class()
        self.class_list = sorted(c for c in self.seq_per_class if c is not None)

    def has_class_info(self):
        return True

    def has_occlusion_info(self):
        return True

    def _load_sequence_info(self, seq_id):
        boxes, visible = Got10kLayout.read_annotations(self.storage, self.sequence_list[seq_id])
        return to_sequence_info(boxes, valid_boxes(boxes), visible)

    def _frame_location(self, seq_id, frame_id):
        return self.storage, Got10kLayout.frame_key(self.sequence_list[seq_id], frame_id)

    def count_frames(self, seq_id):
        return len(Got10kLayout.list_frames(self.storage, self.sequence_list[seq_id]))

    def get_meta(self, seq_id):
        return object_meta(**self._meta[seq_id])
