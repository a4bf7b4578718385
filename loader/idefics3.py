"""Idefics3 image tiles and prompt text, equal to what transformers' Idefics3 processor makes.

The geometry (two resizes, then a grid of 364 px tiles plus a global tile) copies
transformers' integer and float rounding exactly, so rows, cols and tile counts always
agree. The CPU path resizes uint8 with PIL Lanczos like transformers' PIL backend and so
gives the same pixels; it skips transformers' float work (rescale, normalise, pad) and
returns uint8, which is 4x smaller to ship to the GPU, where `normalise` runs.

transformers is not imported here: the constants below are Idefics3ImageProcessor's
defaults, and tests/test_idefics3.py checks that they still are.
"""

import math

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

TILE = 364  # max_image_size["longest_edge"]: SigLIP input side
LONGEST_EDGE = 4 * TILE  # size["longest_edge"]: the image is first scaled to this
MAX_GRID = LONGEST_EDGE // TILE  # at most 4 x 4 tiles
MAX_TILES = MAX_GRID * MAX_GRID + 1  # the grid plus the global image
IMAGE_TOKENS_PER_TILE = 169  # (364 / 14) ** 2 patches / pixel-shuffle scale 2 ** 2
MEAN = (0.5, 0.5, 0.5)
STD = (0.5, 0.5, 0.5)

FAKE_TOKEN = "<fake_token_around_image>"
IMAGE_TOKEN = "<image>"
GLOBAL_TOKEN = "<global-img>"


def to_rgb(image: Image.Image, alpha_on_white: bool = False) -> Image.Image:
    """RGB as transformers 5.x makes it: a plain PIL convert for every mode (L, P, CMYK, I;16).

    transformers 5 drops alpha (the colour under a transparent pixel shows); 4.x composited
    on white. `alpha_on_white=True` gives the 4.x behaviour, which no longer matches.
    """
    if image.mode == "RGB":
        return image
    if alpha_on_white and _has_alpha(image):
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return image.convert("RGB")


def _has_alpha(image: Image.Image) -> bool:
    return image.mode in ("RGBA", "LA", "La", "RGBa", "PA") or "transparency" in image.info


def fit_longest_edge(height: int, width: int, longest: int = LONGEST_EDGE) -> tuple[int, int]:
    """Longest edge to `longest`, short edge scaled and rounded up to even (transformers' rule).

    The float expressions are written as transformers writes them so truncation agrees.
    transformers then caps at 4096, which a longest edge of 1456 never reaches.
    """
    aspect = width / height
    if width >= height:
        width = longest
        height = int(width / aspect)
        height += height % 2
    else:
        height = longest
        width = int(height * aspect)
        width += width % 2
    return max(height, 1), max(width, 1)


def round_to_tiles(height: int, width: int, tile: int = TILE) -> tuple[int, int]:
    """Both edges up to multiples of `tile`; the short edge from the rounded long one."""
    aspect = width / height
    if width >= height:
        width = math.ceil(width / tile) * tile
        height = math.ceil(int(width / aspect) / tile) * tile
    else:
        height = math.ceil(height / tile) * tile
        width = math.ceil(int(height * aspect) / tile) * tile
    return height, width


def tile_geometry(
    height: int, width: int, longest: int = LONGEST_EDGE
) -> tuple[int, int, int, int]:
    """(resized h, resized w, final h, final w) for an input of height x width."""
    h1, w1 = fit_longest_edge(height, width, longest)
    h2, w2 = round_to_tiles(h1, w1)
    return h1, w1, h2, w2


def grid(height: int, width: int) -> tuple[int, int]:
    """(rows, cols) of a tile-multiple image; (0, 0) when it is one tile and is not split."""
    if height > TILE or width > TILE:
        return height // TILE, width // TILE
    return 0, 0


def _pil_resize(image: Image.Image, height: int, width: int) -> Image.Image:
    if image.size == (width, height):
        return image  # PIL would return an identical copy
    return image.resize((width, height), Image.Resampling.LANCZOS)


def _cut(hwc: torch.Tensor, rows: int, cols: int) -> torch.Tensor:
    """[rows*T, cols*T, 3] -> [rows*cols, 3, T, T], row-major."""
    tiles = hwc.reshape(rows, TILE, cols, TILE, 3).permute(0, 2, 4, 1, 3)
    return tiles.reshape(rows * cols, 3, TILE, TILE)


def _hwc(image: Image.Image) -> torch.Tensor:
    return torch.from_numpy(np.array(image))  # a writable copy: torch refuses read-only arrays


def split_image(image: Image.Image, longest: int = LONGEST_EDGE) -> tuple[torch.Tensor, int, int]:
    """uint8 tiles [N, 3, 364, 364] (grid row-major, then the global tile), rows, cols.

    Same two Lanczos resizes as transformers, so the pixels match it, not just approximately.
    """
    rgb = to_rgb(image)
    h1, w1, h2, w2 = tile_geometry(rgb.height, rgb.width, longest)
    full = _pil_resize(_pil_resize(rgb, h1, w1), h2, w2)
    rows, cols = grid(h2, w2)
    if rows == 0:
        return _hwc(full).permute(2, 0, 1).unsqueeze(0).contiguous(), 0, 0
    out = torch.empty(rows * cols + 1, 3, TILE, TILE, dtype=torch.uint8)
    out[:-1] = _cut(_hwc(full), rows, cols)
    out[-1] = _hwc(_pil_resize(full, TILE, TILE)).permute(2, 0, 1)
    return out, rows, cols


def normalise(tiles: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """(x / 255 - mean) / std on the tiles' device; uint8 in, `dtype` out."""
    mean = torch.tensor(MEAN, dtype=dtype, device=tiles.device).view(3, 1, 1)
    std = torch.tensor(STD, dtype=dtype, device=tiles.device).view(3, 1, 1)
    return (tiles.to(dtype) / 255 - mean) / std


def _torch_resize(chw: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Bicubic with antialias on float, rounded back to uint8 like a PIL resize."""
    if chw.shape[-2:] == (height, width):
        return chw
    x = chw.unsqueeze(0).float()
    y = F.interpolate(x, size=(height, width), mode="bicubic", antialias=True, align_corners=False)
    return y.round_().clamp_(0, 255).to(torch.uint8)[0]


def split_image_tensor(
    image: torch.Tensor, longest: int = LONGEST_EDGE
) -> tuple[torch.Tensor, int, int]:
    """split_image for a uint8 [3, H, W] RGB tensor on any device (e.g. after nvJPEG decode).

    Same geometry; bicubic+antialias stands in for Lanczos, which torch lacks, so pixels
    differ slightly from transformers (see tests for the measured difference).
    """
    _, height, width = image.shape
    h1, w1, h2, w2 = tile_geometry(height, width, longest)
    full = _torch_resize(_torch_resize(image, h1, w1), h2, w2)
    rows, cols = grid(h2, w2)
    if rows == 0:
        return full.unsqueeze(0).contiguous(), 0, 0
    out = torch.empty(rows * cols + 1, 3, TILE, TILE, dtype=torch.uint8, device=image.device)
    out[:-1] = _cut(full.permute(1, 2, 0), rows, cols)
    out[-1] = _torch_resize(full, TILE, TILE)
    return out, rows, cols


def _tile_text(tag: str) -> str:
    return FAKE_TOKEN + tag + IMAGE_TOKEN * IMAGE_TOKENS_PER_TILE


def image_prompt(rows: int, cols: int) -> str:
    """The text one `<image>` expands to, character for character as Idefics3Processor does."""
    global_part = _tile_text(GLOBAL_TOKEN) + FAKE_TOKEN
    if rows == 0 and cols == 0:
        return global_part
    lines = [
        "".join(_tile_text(f"<row_{r + 1}_col_{c + 1}>") for c in range(cols)) + "\n"
        for r in range(rows)
    ]
    return "".join(lines) + "\n" + global_part
