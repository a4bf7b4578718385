"""loader.resample against Pillow's own LANCZOS resize, pixel for pixel."""

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from loader import resample as R

MAX_LEVELS = 2  # float32 rounding can move a pixel a level, and that one its neighbours
MAX_OFF = 1e-3  # of the pixels, at most this share may differ at all


def _page(height: int, width: int, seed: int = 0) -> np.ndarray:
    """uint8 [H, W, 3]: gradients (rational scales make exact .5 sums), sharp bars, noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    rgb = np.stack([x * 255 // max(width, 1), y * 255 // max(height, 1), (x + y) % 256], -1)
    image = Image.fromarray(rgb.astype(np.uint8))
    draw = ImageDraw.Draw(image)
    for _ in range(max(1, height * width // 3000)):
        x0, y0 = int(rng.integers(0, width)), int(rng.integers(0, height))
        colour = tuple(int(v) for v in rng.choice([0, 255], 3))
        draw.rectangle([x0, y0, x0 + int(rng.integers(1, 30)), y0 + 6], fill=colour)
    out = np.array(image)
    noisy = rng.random((height, width)) < 0.1
    out[noisy] = rng.integers(0, 256, (int(noisy.sum()), 3))
    return out


def _pil(hwc: np.ndarray, height: int, width: int) -> np.ndarray:
    image = Image.fromarray(hwc).resize((width, height), Image.Resampling.LANCZOS)
    return np.asarray(image).astype(int)


def _assert_like_pil(ours: torch.Tensor, ref: np.ndarray):
    """ours: uint8 [H, 3, W]; ref: PIL's [H, W, 3]."""
    diff = np.abs(ours.permute(0, 2, 1).numpy().astype(int) - ref)
    assert diff.max() <= MAX_LEVELS and (diff > 0).mean() <= MAX_OFF, (
        diff.max(),
        (diff > 0).mean(),
    )


SIZES = [
    ((480, 640), (1092, 1456)),  # up
    ((3000, 4000), (1092, 1456)),  # down 2.75
    ((1080, 1920), (820, 1456)),  # down 1.3
    ((820, 1456), (1092, 1456)),  # vertical only
    ((1456, 970), (1456, 1092)),  # horizontal only
    ((1092, 1456), (364, 364)),  # the global tile: 3 and 4
    ((701, 999), (350, 1000)),  # odd sizes, down one way, up the other
    ((1, 2000), (1, 1456)),
    ((2000, 1), (364, 1)),
    ((1, 1), (364, 364)),
    ((10, 10), (1456, 1456)),
]


@pytest.mark.parametrize("size,new_size", SIZES)
def test_stream_matches_pil(size, new_size):
    hwc = _page(*size)
    ours = R.resize_uint8(torch.from_numpy(hwc).permute(0, 2, 1), *new_size)
    assert ours.dtype == torch.uint8 and ours.shape == (new_size[0], 3, new_size[1])
    _assert_like_pil(ours, _pil(hwc, *new_size))


@pytest.mark.parametrize("size,new_size", SIZES[:7])
def test_whole_tensor_matches_pil(size, new_size):
    hwc = _page(*size, seed=1)
    ours = R.resize(torch.from_numpy(hwc).permute(0, 2, 1).float(), *new_size)
    _assert_like_pil(ours.to(torch.uint8), _pil(hwc, *new_size))


def test_dense_gpu_weights_match_pil(monkeypatch):
    """A GPU multiplies by the whole matrix in one go: the same sums, in other blocks."""
    dense = lambda in_size, out_size, device, transpose, blocks: R._device_bands(  # noqa: E731
        in_size, out_size, device, transpose
    )
    monkeypatch.setattr(R, "_bands", dense)
    hwc = _page(700, 1000, seed=2)
    for new_size in [(1092, 1456), (364, 364)]:
        ours = R.resize(torch.from_numpy(hwc).permute(0, 2, 1).float(), *new_size)
        _assert_like_pil(ours.to(torch.uint8), _pil(hwc, *new_size))


def test_small_chunks_slide_the_window(monkeypatch):
    """Chunks of a few rows: the vertical window drops and moves rows many times."""
    monkeypatch.setattr(R, "CHUNK", 3 * 600 * 5)
    hwc = _page(900, 600, seed=3)
    for new_size in [(300, 200), (2000, 600), (899, 600)]:
        ours = R.resize_uint8(torch.from_numpy(hwc).permute(0, 2, 1), *new_size)
        _assert_like_pil(ours, _pil(hwc, *new_size))


def test_reused_buffers_hold_nothing_over():
    """A large image, a small one, the large one again: the same pixels as the first time."""
    big, small = _page(1500, 2000, seed=4), _page(50, 80, seed=5)
    first = R.resize_uint8(torch.from_numpy(big).permute(0, 2, 1), 1092, 1456)
    R.resize_uint8(torch.from_numpy(small).permute(0, 2, 1), 364, 364)
    again = R.resize_uint8(torch.from_numpy(big).permute(0, 2, 1), 1092, 1456)
    assert torch.equal(first, again)


def test_threads_keep_their_own_buffers():
    """Buffers are per thread: concurrent resizes give what they give one at a time."""
    images = [
        torch.from_numpy(_page(600 + 100 * i, 900, seed=i)).permute(0, 2, 1) for i in range(4)
    ]
    alone = [R.resize_uint8(image, 1092, 1456) for image in images]
    with ThreadPoolExecutor(2) as pool:
        together = list(pool.map(lambda image: R.resize_uint8(image, 1092, 1456), images * 2))
    assert all(torch.equal(a, b) for a, b in zip(alone * 2, together, strict=True))


def test_coefficients_follow_pillow():
    """Weights sum to one (to Pillow's 22 bits), bands stay inside the input and move forward."""
    for in_size, out_size in [(4000, 1456), (640, 1456), (1456, 364), (1, 364), (7, 3)]:
        first, count, weights = R.coefficients(in_size, out_size)
        assert np.allclose(weights.sum(1), 1, atol=weights.shape[1] * 2.0**-22)
        assert (first >= 0).all() and (first + count <= in_size).all() and (count >= 1).all()
        assert (np.diff(first) >= 0).all() and (weights[np.arange(out_size), count - 1] != 0).all()
