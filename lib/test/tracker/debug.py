"""DebugSink: where a tracker's debug images go.

If a visdom server answers on localhost:8097, images and heatmaps are sent there (env = tracker
name). Otherwise they are written as PNG files under <save_dir>/debug/<tracker>/<sequence>/, and
the folder is printed once. A missing server is never an error (the lineage crashed on it).
"""

import os
import socket

import cv2
import numpy as np

VISDOM_HOST = 'localhost'
VISDOM_PORT = 8097

# Box colours (RGB) for image(..., boxes=[...]): first box green (e.g. prediction), then red, blue...
BOX_COLORS = ((0, 255, 0), (255, 0, 0), (0, 128, 255), (255, 255, 0))


def visdom_server_running(host=VISDOM_HOST, port=VISDOM_PORT, timeout=0.2):
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def default_save_dir():
    """The evaluation save_dir from local.py, or ./output of the repository when there is none."""
    from lib.test.evaluation.environment import env_settings
    from lib.utils.local_settings import REPO_ROOT, LocalSettingsMissing

    try:
        return env_settings().save_dir
    except LocalSettingsMissing:
        return os.path.join(REPO_ROOT, 'output')


def draw_boxes(rgb, boxes, thickness=2, colors=None):
    """Copy of `rgb` with x,y,w,h boxes drawn (None entries are skipped). colors: one RGB colour per
    box (default: BOX_COLORS in turn)."""
    image = np.ascontiguousarray(rgb, dtype=np.uint8).copy()
    palette = BOX_COLORS if colors is None else colors
    for i, box in enumerate(boxes):
        if box is None:
            continue
        x, y, w, h = (int(round(float(v))) for v in box)
        color = tuple(int(c) for c in palette[i % len(palette)])
        cv2.rectangle(image, (x, y), (x + w, y + h), color, thickness)
    return image


def heatmap_to_rgb(values):
    """2-D array -> RGB uint8 colour map, min-max normalised."""
    values = np.asarray(values, dtype=np.float32).squeeze()
    if values.ndim != 2:
        raise ValueError(f'heatmap expects a 2-D array, got shape {values.shape}')
    lo, hi = float(values.min()), float(values.max())
    scaled = np.zeros_like(values) if hi <= lo else (values - lo) / (hi - lo)
    bgr = cv2.applyColorMap((scaled * 255).astype(np.uint8), cv2.COLORMAP_JET)
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def _to_numpy(values):
    if hasattr(values, 'detach'):  # torch tensor, without importing torch here
        values = values.detach().float().cpu().numpy()
    return np.asarray(values)


class DebugSink:
    """debug = DebugSink('ostrack'); debug.image('search', rgb); debug.heatmap('score_map', scores)."""

    def __init__(self, name, save_dir=None, sequence=None, use_visdom=None):
        self.name = name
        self.sequence = sequence or 'sequence'
        self._save_dir = save_dir
        self._counts = {}
        self._announced = False
        self.visdom = None
        if use_visdom is None:
            use_visdom = visdom_server_running()
        if use_visdom:
            self.visdom = self._connect_visdom()

    def _connect_visdom(self):
        try:
            import visdom

            client = visdom.Visdom(
                server=f'http://{VISDOM_HOST}', port=VISDOM_PORT, env=self.name, raise_exceptions=True
            )
            print(
                f'[debug] sending {self.name} debug images to visdom at http://{VISDOM_HOST}:{VISDOM_PORT} '
                f'(env {self.name})',
                flush=True,
            )
            return client
        except Exception as e:  # package missing or server refused: fall back to files
            print(
                f'[debug] visdom unavailable ({type(e).__name__}: {e}); writing PNG files instead', flush=True
            )
            return None

    def set_sequence(self, sequence):
        self.sequence = sequence
        self._counts = {}

    @property
    def folder(self):
        save_dir = self._save_dir if self._save_dir is not None else default_save_dir()
        return os.path.join(save_dir, 'debug', self.name, self.sequence)

    def image(self, title, rgb, boxes=None):
        """Shows an RGB uint8 HxWx3 image; `boxes` (x,y,w,h each) are drawn on a copy."""
        rgb = _to_numpy(rgb)
        if boxes:
            rgb = draw_boxes(rgb, boxes)
        self._emit(title, np.ascontiguousarray(rgb, dtype=np.uint8), is_heatmap=False)

    def heatmap(self, title, values):
        """Shows a 2-D map (numpy array or tensor; singleton dims are squeezed)."""
        self._emit(title, _to_numpy(values).squeeze(), is_heatmap=True)

    def _emit(self, title, array, is_heatmap):
        if self.visdom is not None:
            opts = {'title': f'{self.sequence}: {title}'}
            if is_heatmap:
                self.visdom.heatmap(np.flipud(array), win=title, opts=opts)  # visdom puts row 0 at the bottom
            else:
                self.visdom.image(array.transpose(2, 0, 1), win=title, opts=opts)
            return
        index = self._counts.get(title, 0)
        self._counts[title] = index + 1
        from lib.utils.image_io import write_image

        folder = self.folder
        os.makedirs(folder, exist_ok=True)
        if not self._announced:
            print(
                f'[debug] no visdom server on {VISDOM_HOST}:{VISDOM_PORT}; writing debug images to '
                f'{os.path.dirname(folder)}{os.sep}<sequence>{os.sep}',
                flush=True,
            )
            self._announced = True
        safe_title = ''.join(c if c.isalnum() or c in '-_' else '_' for c in title)
        write_image(
            os.path.join(folder, f'{safe_title}_{index:05d}.png'),
            heatmap_to_rgb(array) if is_heatmap else array,
        )
