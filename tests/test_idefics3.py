"""loader.idefics3 against transformers' Idefics3 image processor and prompt expansion."""

import io
import os
import types
import warnings

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from loader import idefics3 as L
from loader import resample

os.environ.setdefault("HF_HUB_OFFLINE", "1")
transformers = pytest.importorskip("transformers")
from transformers.models.idefics3.processing_idefics3 import Idefics3Processor  # noqa: E402

MEAN_TOL, MAX_TOL = 0.01, 0.1  # normalised units, (x / 255 - 0.5) / 0.5


@pytest.fixture(scope="module")
def processor():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # the PIL processor: the default one switches to torchvision when that is installed
        return transformers.Idefics3ImageProcessorPil()


def _content(height: int, width: int, seed: int = 0) -> Image.Image:
    """Synthetic page: gradient background, dark text-like bars, a photo-ish noisy patch."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    rgb = np.stack([x * 255 // max(width, 1), y * 255 // max(height, 1), (x + y) % 256], -1)
    image = Image.fromarray(rgb.astype(np.uint8))
    draw = ImageDraw.Draw(image)
    for _ in range(max(1, height * width // 4000)):
        x0, y0 = int(rng.integers(0, width)), int(rng.integers(0, height))
        colour = tuple(int(v) for v in rng.integers(0, 256, 3))
        draw.rectangle([x0, y0, x0 + int(rng.integers(2, 40)), y0 + 8], fill=colour)
    return image


def _rgba() -> Image.Image:
    image = _content(300, 500).convert("RGBA")
    alpha = np.zeros((300, 500), np.uint8)
    alpha[:, 250:] = 255
    alpha[100:200] = 128
    image.putalpha(Image.fromarray(alpha))
    return image


def _cmyk_jpeg() -> Image.Image:
    buf = io.BytesIO()
    _content(400, 600).convert("CMYK").save(buf, "JPEG", quality=90)
    return Image.open(io.BytesIO(buf.getvalue()))


def _palette_png() -> Image.Image:
    buf = io.BytesIO()
    image = _content(250, 380).quantize(64)
    image.save(buf, "PNG", transparency=0)
    return Image.open(io.BytesIO(buf.getvalue()))


def _i16() -> Image.Image:
    return Image.fromarray((np.arange(200 * 300).reshape(200, 300) % 4000).astype(np.uint16))


CASES = {
    "tiny_10x10": lambda: _content(10, 10),
    "column_2000x1": lambda: _content(2000, 1),
    "row_1x2000": lambda: _content(1, 2000),
    "photo_3000x4000": lambda: _content(3000, 4000),
    "tile_364": lambda: _content(364, 364),
    "grid_1456": lambda: _content(1456, 1456),
    "odd_365x1000": lambda: _content(365, 1000),
    "portrait_1000x333": lambda: _content(1000, 333),
    "rgba": _rgba,
    "grey_L": lambda: _content(500, 300).convert("L"),
    "cmyk_jpeg": _cmyk_jpeg,
    "palette_png": _palette_png,
    "i16": _i16,
}


def _reference(processor, image, **kwargs):
    out = processor(images=[[image]], return_tensors="pt", return_row_col_info=True, **kwargs)
    assert set(out) == {"pixel_values", "pixel_attention_mask", "rows", "cols"}
    pixels = out["pixel_values"][0]
    assert out["pixel_attention_mask"].shape == (1, pixels.shape[0], L.TILE, L.TILE)
    assert bool(out["pixel_attention_mask"].all())  # one image: nothing padded
    return pixels, out["rows"][0][0], out["cols"][0][0]


def _assert_close(ours: torch.Tensor, ref: torch.Tensor):
    diff = (ours - ref).abs()
    assert float(diff.mean()) <= MEAN_TOL and float(diff.max()) <= MAX_TOL, (
        float(diff.mean()),
        float(diff.max()),
    )


def test_constants_are_processor_defaults(processor):
    assert processor.max_image_size["longest_edge"] == L.TILE
    assert processor.size["longest_edge"] == L.LONGEST_EDGE
    assert tuple(processor.image_mean) == L.MEAN and tuple(processor.image_std) == L.STD
    assert processor.resample == Image.Resampling.LANCZOS
    assert L.MAX_TILES == 17


@pytest.mark.parametrize("name", sorted(CASES))
def test_split_image_matches_processor(processor, name):
    image = CASES[name]()
    ref, rows, cols = _reference(processor, image)
    tiles, our_rows, our_cols = L.split_image(image)
    assert (our_rows, our_cols) == (rows, cols)
    assert tiles.dtype == torch.uint8 and tiles.shape == ref.shape
    assert tiles.shape[0] == (rows * cols + 1 if rows else 1)
    _assert_close(L.normalise(tiles), ref)


def test_unsplit_image_is_one_tile(processor):
    """With a 364 longest edge transformers does not split: rows = cols = 0, one tile."""
    image = _content(200, 300)
    ref, rows, cols = _reference(processor, image, size={"longest_edge": L.TILE})
    tiles, our_rows, our_cols = L.split_image(image, longest=L.TILE)
    assert (rows, cols) == (our_rows, our_cols) == (0, 0)
    assert tiles.shape == ref.shape == (1, 3, L.TILE, L.TILE)
    _assert_close(L.normalise(tiles), ref)


@pytest.mark.parametrize("size", [(1, 1), (7, 3000), (3000, 7), (999, 1001), (1093, 1456)])
def test_geometry_matches_processor_counts(processor, size):
    height, width = size
    patches, rows, cols = processor.get_number_of_image_patches(height, width)
    _, _, h2, w2 = L.tile_geometry(height, width)
    assert L.grid(h2, w2) == (rows, cols) and rows * cols + 1 == patches


def test_tensor_path_geometry_and_difference(processor):
    """The tensor path: the same Lanczos, so within the tolerance and equal to split_image."""
    image = _content(700, 1000)
    ref, rows, cols = _reference(processor, image)
    chw = torch.from_numpy(np.array(image)).permute(2, 0, 1)
    tiles, our_rows, our_cols = L.split_image_tensor(chw)
    assert (our_rows, our_cols) == (rows, cols) and tiles.shape == ref.shape
    _assert_close(L.normalise(tiles), ref)
    assert torch.equal(tiles, L.split_image(image)[0])


@pytest.mark.parametrize("size", [(700, 1000), (1000, 333), (3000, 4000)])
def test_whole_image_path_for_gpus(processor, size, monkeypatch):
    """The whole-image, dense-matrix matmuls a GPU runs (here on the CPU), against transformers."""
    dense = lambda in_size, out_size, device, transpose, blocks: resample._device_bands(  # noqa: E731
        in_size, out_size, device, transpose
    )
    monkeypatch.setattr(resample, "_bands", dense)
    image = _content(*size)
    ref, rows, cols = _reference(processor, image)
    chw = torch.from_numpy(np.array(image)).permute(2, 0, 1)
    tiles, our_rows, our_cols = L._split_whole(chw, L.LONGEST_EDGE)
    assert (our_rows, our_cols) == (rows, cols) and tiles.shape == ref.shape
    _assert_close(L.normalise(tiles), ref)


def test_normalise_values():
    tiles = torch.tensor([0, 255, 51], dtype=torch.uint8).view(1, 3, 1, 1).expand(1, 3, 2, 2)
    out = L.normalise(tiles)
    assert out.dtype == torch.float32
    assert torch.allclose(out[0, :, 0, 0], torch.tensor([-1.0, 1.0, 51 / 127.5 - 1]))


def _transformers_prompt(rows: int, cols: int) -> str:
    """Idefics3Processor.replace_image_token run on the attributes it reads (no tokenizer)."""
    fake = types.SimpleNamespace(
        fake_image_token="<fake_token_around_image>",
        image_token="<image>",
        global_image_tag="<global-img>",
        image_seq_len=169,
    )
    return Idefics3Processor.replace_image_token(fake, {"rows": [[rows]], "cols": [[cols]]}, 0)


@pytest.mark.parametrize("rows,cols", [(0, 0), (1, 1), (1, 4), (4, 1), (3, 4), (4, 4)])
def test_image_prompt_matches_processor(rows, cols):
    ours = L.image_prompt(rows, cols)
    assert ours == _transformers_prompt(rows, cols)
    tiles = rows * cols + 1 if rows else 1
    assert ours.count("<image>") == tiles * L.IMAGE_TOKENS_PER_TILE
