"""TrackingNet training reader (folder or LMDB; layout in lib/train/dataset/layouts.py::TrackingNetLayout)."""

import json
import os

from lib.train.dataset.base_video_dataset import BaseVideoDataset, object_meta, to_sequence_info
from lib.train.dataset.layouts import TrackingNetLayout, drop_excluded, read_boxes, valid_boxes
from lib.train.dataset.storage import FolderStorage, StorageKeyError, open_storage


class TrackingNet(BaseVideoDataset):
    """TrackingNet TRAIN chunks `set_ids` (default: all 12, as OSTrack; pytracking used 0-3).
    No occlusion labels: visible = valid (w, h > 0). Classes from data_specs/trackingnet_classmap.txt.
    Videos named in <root>/exclude.txt are skipped (a plain file in both forms)."""

    def __init__(self, root, set_ids=None, use_lmdb=False, name='trackingnet'):
        self.root = root
        self.use_lmdb = use_lmdb
        self.set_ids = list(range(TrackingNetLayout.NUM_TRAIN_SETS)) if set_ids is None else list(set_ids)
        set_names = {
            s: (TrackingNetLayout.lmdb_set_name(s) if use_lmdb else TrackingNetLayout.set_name(s))
            for s in self.set_ids
        }
        self.set_storage = {s: open_storage(os.path.join(root, set_names[s]), use_lmdb) for s in self.set_ids}
        super().__init__(
            name + ('_lmdb' if use_lmdb else ''), self.set_storage[self.set_ids[0]] if self.set_ids else None
        )
        self.sequence_list, self.excluded = drop_excluded(
            self._list_sequences(), FolderStorage(root), name_of=lambda item: item[1]
        )
        class_map = TrackingNetLayout.read_class_map()
        self._classes = [class_map.get(video, 'Unknown') for _, video in self.sequence_list]
        self.seq_per_class = self._build_seq_per_class()
        self.class_list = sorted(self.seq_per_class)

    def _list_sequences(self):
        """Sorted (set_id, video) pairs. LMDB form: from <root>/seq_list.json (the lineage's file)."""
        if not self.use_lmdb:
            pairs = []
            for s in self.set_ids:
                try:
                    pairs += [(s, v) for v in TrackingNetLayout.list_videos(self.set_storage[s])]
                except StorageKeyError as e:
                    raise StorageKeyError(
                        f'{e} (TrackingNet chunk {s}; choose the chunks you have with set_ids)'
                    ) from None
            return pairs
        path = os.path.join(self.root, TrackingNetLayout.SEQ_LIST_FILE)
        try:
            with open(path) as f:
                pairs = json.load(f)
        except FileNotFoundError:
            raise StorageKeyError(f'missing {path} (the TrackingNet LMDB sequence list)') from None
        wanted = set(self.set_ids)
        return sorted((int(s), v) for s, v in pairs if int(s) in wanted)

    def has_class_info(self):
        return True

    def _load_sequence_info(self, seq_id):
        set_id, video = self.sequence_list[seq_id]
        boxes = read_boxes(self.set_storage[set_id], TrackingNetLayout.anno_key(video))
        valid = valid_boxes(boxes)
        return to_sequence_info(boxes, valid, valid)

    def _frame_location(self, seq_id, frame_id):
        set_id, video = self.sequence_list[seq_id]
        return self.set_storage[set_id], TrackingNetLayout.frame_key(video, frame_id)

    def sequence_name(self, seq_id):
        return self.sequence_list[seq_id][1]

    def count_frames(self, seq_id):
        set_id, video = self.sequence_list[seq_id]
        return len(TrackingNetLayout.list_frames(self.set_storage[set_id], video))

    def get_meta(self, seq_id):
        return object_meta(self._classes[seq_id])
