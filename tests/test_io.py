import os

import numpy as np
import pytest

from lib.utils.image_io import ImageReadError, decode_image, encode_jpeg, read_image, write_image
from lib.utils.io import atomic_open, atomic_write_text


def test_atomic_write_replaces_whole_file(tmp_path):
    path = tmp_path / 'sub' / 'result.txt'
    atomic_write_text(str(path), 'first\n')
    atomic_write_text(str(path), 'second\n')
    assert path.read_text() == 'second\n'
    assert os.listdir(path.parent) == ['result.txt']


def test_interrupted_atomic_write_keeps_old_content_and_no_temp(tmp_path):
    path = tmp_path / 'result.txt'
    atomic_write_text(str(path), 'complete\n')
    with pytest.raises(RuntimeError):
        with atomic_open(str(path), 'w') as f:
            f.write('half')
            raise RuntimeError('killed')
    assert path.read_text() == 'complete\n'
    assert os.listdir(tmp_path) == ['result.txt']


def test_image_round_trip_is_rgb(tmp_path):
    image = np.zeros((12, 16, 3), np.uint8)
    image[..., 0] = 255  # pure red in RGB
    write_image(str(tmp_path / 'a.png'), image)
    back = read_image(str(tmp_path / 'a.png'))
    assert back.shape == (12, 16, 3) and back.dtype == np.uint8
    np.testing.assert_array_equal(back, image)
    jpeg = decode_image(encode_jpeg(image, quality=100))
    assert jpeg[..., 0].min() > 240 and jpeg[..., 2].max() < 15  # still red after a JPEG round trip


@pytest.mark.parametrize('backend', ['auto', 'opencv'])
def test_missing_and_corrupt_images_name_the_file(tmp_path, backend):
    with pytest.raises(ImageReadError, match='missing.jpg'):
        read_image(str(tmp_path / 'missing.jpg'), backend=backend)
    bad = tmp_path / 'corrupt.jpg'
    bad.write_bytes(b'\xff\xd8\xff not really a jpeg')
    with pytest.raises(ImageReadError, match='corrupt.jpg'):
        read_image(str(bad), backend=backend)
    empty = tmp_path / 'empty.jpg'
    empty.write_bytes(b'')
    with pytest.raises(ImageReadError, match='empty.jpg'):
        read_image(str(empty), backend=backend)


def test_grayscale_file_is_returned_as_three_channels(tmp_path):
    import cv2

    cv2.imwrite(str(tmp_path / 'g.png'), np.full((5, 7), 99, np.uint8))
    image = read_image(str(tmp_path / 'g.png'))
    assert image.shape == (5, 7, 3) and (image == 99).all()


def test_missing_jpeg4py_warns_once_and_falls_back(monkeypatch):
    import sys
    import warnings

    from lib.utils import image_io

    monkeypatch.setitem(sys.modules, 'jpeg4py', None)  # makes `import jpeg4py` fail
    monkeypatch.setattr(image_io, '_jpeg4py_state', None)
    data = encode_jpeg(np.full((8, 8, 3), 200, np.uint8))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        for _ in range(3):
            assert decode_image(data).shape == (8, 8, 3)
    assert len([w for w in caught if 'jpeg4py' in str(w.message)]) == 1


def test_replace_folder_swaps_in_the_complete_folder_and_leaves_nothing_behind(tmp_path):
    from lib.utils.io import replace_folder

    final, new = tmp_path / 'data', tmp_path / '.partial-data'
    for folder, text in ((final, 'old'), (new, 'new')):
        folder.mkdir()
        (folder / 'f.txt').write_text(text)
    replace_folder(str(new), str(final))
    assert (final / 'f.txt').read_text() == 'new' and sorted(p.name for p in tmp_path.iterdir()) == ['data']
    other = tmp_path / '.partial-other'
    other.mkdir()
    replace_folder(str(other), str(tmp_path / 'other'))  # no existing folder: a plain move
    assert sorted(p.name for p in tmp_path.iterdir()) == ['data', 'other']
