"""Idefics3 image tiles and prompt text, equal to what transformers' Idefics3 processor makes.

The geometry (two resizes, then a grid of 364 px tiles plus a global tile) copies
transformers' integer and float rounding exactly, so rows, cols and tile counts always
agree. The resizes are PIL's Lanczos as transformers' PIL backend runs them, redone in torch
by loader.resample (same weights and rounding, so the same pixels but for an odd level;
faster on a CPU, and it runs on a GPU too). The image streams through both resizes,
the cut and the global tile in cache-sized chunks of rows. transformers' float work (rescale,
normalise, pad) is skipped: tiles are uint8, 4x smaller to ship to the GPU, where
`normalise` runs.

transformers is not imported here: the constants below are Idefics3ImageProcessor's
defaults, and tests/test_idefics3.py checks that they still are.
"""

import math

import numpy as np
import torch
from PIL import Image

from loader import resample

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


class _PilRows(resample.Stage):
    """An RGB PIL image as float [n, 3, W] row chunks.

    A chunk at a time, one plane at a time: small contiguous copies instead of one
    whole-image `np.asarray` and a transposing cast, which cost about as much as PIL's resize.
    """

    def __init__(self, image: Image.Image):
        width, height = image.size
        super().__init__(height, (3, width), resample.chunk_rows(3 * width))
        self.image, self.next = image, 0

    def pull(self, dst: torch.Tensor) -> int:
        width, r0 = self.image.width, self.next
        crop = self.image.crop((0, r0, width, min(self.height, r0 + self.max_rows)))
        planes = dst[: crop.height].numpy()
        for channel, band in enumerate("RGB"):
            plane = np.frombuffer(crop.tobytes("raw", band), np.uint8)
            np.copyto(planes[:, channel], plane.reshape(crop.height, width))
        self.next += crop.height
        return crop.height


class _TileWriter(resample.Stage):
    """Passes the full image on, after copying each chunk into its grid tiles.

    numpy casts float to uint8 about 1.5x faster than torch here.
    """

    def __init__(self, above: resample.Stage, tiles: torch.Tensor, cols: int):
        super().__init__(above.height, above.row_shape, above.max_rows)
        self.above, self.next = above, 0
        self.by_row = tiles.view(-1, cols, 3, TILE, TILE).numpy()

    def pull(self, dst: torch.Tensor) -> int:
        n = self.above.pull(dst)
        y0, end, rows = self.next, self.next + n, dst.numpy()
        while y0 < end:
            tile_row, top = divmod(y0, TILE)
            y1 = min(end, (tile_row + 1) * TILE)
            part = rows[y0 - self.next : y1 - self.next].reshape(y1 - y0, 3, -1, TILE)
            tiles = self.by_row[tile_row, :, :, top : top + y1 - y0]
            np.copyto(tiles, part.transpose(2, 1, 0, 3), casting="unsafe")
            y0 = y1
        self.next = end
        return n


def _split_rows(
    image: resample.Stage, longest: int, scratch: resample.Scratch
) -> tuple[torch.Tensor, int, int]:
    """The tiles of a streamed RGB image: both resizes, the cut and the global tile in one go."""
    h1, w1, h2, w2 = tile_geometry(image.height, image.row_shape[-1], longest)
    full = resample.resize_rows(resample.resize_rows(image, h1, w1, scratch), h2, w2, scratch)
    rows, cols = grid(h2, w2)
    out = torch.empty(rows * cols + 1, 3, TILE, TILE, dtype=torch.uint8)
    if rows:
        full = _TileWriter(full, out[:-1], cols)
        full = resample.resize_rows(full, TILE, TILE, scratch)
    for r0, chunk in resample.chunks(full, scratch):  # the global tile, or the only one
        out[-1, :, r0 : r0 + chunk.shape[0]].copy_(chunk.permute(1, 0, 2))
    return out, rows, cols


def split_image(image: Image.Image, longest: int = LONGEST_EDGE) -> tuple[torch.Tensor, int, int]:
    """uint8 tiles [N, 3, 364, 364] (grid row-major, then the global tile), rows, cols.

    Same Lanczos resizes as transformers' PIL processor (loader.resample reproduces PIL's),
    so the pixels match it to within an odd level.
    """
    return _split_rows(_PilRows(to_rgb(image)), longest, resample.Scratch())


def normalise(tiles: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """(x / 255 - mean) / std on the tiles' device; uint8 in, `dtype` out.

    A conversion and one in-place multiply-add (two when the channels' std differ): memory
    passes, not arithmetic, are the cost.
    """
    out = tiles.to(dtype)
    shift = torch.tensor(
        [-m / s for m, s in zip(MEAN, STD, strict=True)], dtype=dtype, device=out.device
    )
    if len(set(STD)) == 1:
        return torch.add(shift.view(3, 1, 1), out, alpha=1 / (255 * STD[0]), out=out)
    scale = torch.tensor([1 / (255 * s) for s in STD], dtype=dtype, device=out.device)
    return out.mul_(scale.view(3, 1, 1)).add_(shift.view(3, 1, 1))


def _cut(hcw: torch.Tensor, rows: int, cols: int) -> torch.Tensor:
    """[rows*T, 3, cols*T] -> [rows*cols, 3, T, T], row-major."""
    tiles = hcw.reshape(rows, TILE, 3, cols, TILE).permute(0, 3, 2, 1, 4)
    return tiles.reshape(rows * cols, 3, TILE, TILE)


def _split_whole(image: torch.Tensor, longest: int) -> tuple[torch.Tensor, int, int]:
    """split_image_tensor with whole-image matmuls: the way for a GPU, where a stream of small
    ones would cost a kernel launch each."""
    _, height, width = image.shape
    h1, w1, h2, w2 = tile_geometry(height, width, longest)
    full = resample.resize(resample.resize(image.permute(1, 0, 2).float(), h1, w1), h2, w2)
    rows, cols = grid(h2, w2)
    out = torch.empty(rows * cols + 1, 3, TILE, TILE, dtype=torch.uint8, device=image.device)
    if rows:
        out[:-1] = _cut(full, rows, cols)
        full = resample.resize(full, TILE, TILE)
    out[-1] = full.permute(1, 0, 2)  # the global tile, or the only one
    return out, rows, cols


def split_image_tensor(
    image: torch.Tensor, longest: int = LONGEST_EDGE
) -> tuple[torch.Tensor, int, int]:
    """split_image for a uint8 [3, H, W] RGB tensor on any device (e.g. after nvJPEG decode).

    The same Lanczos as split_image, so the same pixels: streamed on a CPU, whole-image
    matmuls elsewhere (float32; with TF32 matmuls allowed the pixels drift a little).
    """
    if image.device.type != "cpu":
        return _split_whole(image, longest)
    rows = resample.TensorRows(image.permute(1, 0, 2))
    return _split_rows(rows, longest, resample.Scratch())


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
