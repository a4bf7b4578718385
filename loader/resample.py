"""PIL's Lanczos resize in torch: the same coefficients, pass order and uint8 rounding.

Pillow (src/libImaging/Resample.c) resizes in two separable passes, horizontal first, each
output pixel a normalised weighted sum of at most 2 * 3 * max(scale, 1) + 1 inputs, rounded
and clipped to uint8 after every pass. Here each pass is a few matmuls: the outputs are cut
into blocks and a block multiplies only the band of inputs it reads, so the work stays near
the tap count instead of in_size * out_size, while BLAS does the arithmetic. The weights are
Pillow's, quantised to its 22 fractional bits, so results agree with PIL but for float32
rounding: about one value in 20,000 is a level off (very rarely two).

Images are float32 [H, C, W] holding uint8 levels (rows outermost, so a vertical pass
multiplies whole contiguous rows). `resize` takes whole tensors on any device (one dense
matmul per pass on a GPU). On a CPU, `Stage`s stream row chunks through the passes instead,
so the working set stays in cache and no full-size float image is ever allocated.
"""

import math
import threading
from collections.abc import Iterator
from functools import lru_cache

import numpy as np
import torch

SUPPORT = 3.0  # Lanczos a = 3
PRECISION_BITS = 32 - 8 - 2  # Pillow's fixed point for 8-bit images
# Weights are scaled up by this much so that sums Pillow rounds up from exactly .5 (common
# with rational scales) still round up after float32 error; measured best of 2 ** -18..-24.
TIE_BREAK = 1 + 2**-21
CHUNK = 1 << 20  # floats per streamed chunk of rows: 4 MiB, cache sized; measured 2 ** 18..21


def _lanczos(x: np.ndarray) -> np.ndarray:
    """sinc(x) * sinc(x / 3) on [-3, 3), zero outside, as Pillow's lanczos_filter."""
    inside = (x >= -SUPPORT) & (x < SUPPORT)
    return np.where(inside, np.sinc(x) * np.sinc(x / SUPPORT), 0.0)


def coefficients(in_size: int, out_size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pillow's precompute_coeffs: (first input, tap count, weights [out, taps]) per output.

    Weights are normalised to sum 1 and rounded to multiples of 2 ** -22 like
    normalize_coeffs_8bpc, so the float sums reproduce Pillow's integer ones.
    """
    scale = float(np.float32(in_size)) / out_size
    filterscale = max(scale, 1.0)
    support = SUPPORT * filterscale
    ksize = int(np.ceil(support)) * 2 + 1
    centre = (np.arange(out_size) + 0.5) * scale
    first = np.maximum(np.trunc(centre - support + 0.5), 0).astype(np.int64)
    count = np.minimum(np.trunc(centre + support + 0.5).astype(np.int64), in_size) - first
    taps = np.arange(ksize)
    weights = _lanczos((first[:, None] + taps - centre[:, None] + 0.5) / filterscale)
    weights[taps >= count[:, None]] = 0.0
    total = weights.sum(1, keepdims=True)
    weights = np.divide(weights, total, out=weights, where=total != 0)
    unit = float(1 << PRECISION_BITS)
    weights = np.trunc(weights * unit + np.where(weights < 0, -0.5, 0.5)) / unit
    return first, count, weights


def _band_weights(
    in_size: int, out_size: int, block: int, transpose: bool
) -> list[tuple[int, int, int, int, torch.Tensor]]:
    """(out start, out end, in start, in end, weights) per block of `block` outputs.

    Weights are [out block, in band], or [in band, out block] when `transpose`.
    """
    first, count, weights = coefficients(in_size, out_size)
    last = first + count
    taps = np.arange(weights.shape[1])
    out = []
    for o0 in range(0, out_size, block):
        o1 = min(o0 + block, out_size)
        i0, i1 = int(first[o0:o1].min()), int(last[o0:o1].max())
        band = np.zeros((o1 - o0, i1 - i0), np.float32)
        cols = first[o0:o1, None] - i0 + taps
        used = taps < count[o0:o1, None]
        rows = np.broadcast_to(np.arange(o1 - o0)[:, None], cols.shape)
        band[rows[used], cols[used]] = weights[o0:o1][used] * TIE_BREAK
        band = band.T.copy() if transpose else band
        out.append((o0, o1, i0, i1, torch.from_numpy(band)))
    return out


@lru_cache(maxsize=128)
def _cpu_bands(in_size: int, out_size: int, block: int, transpose: bool):
    """Sizes repeat (1456, multiples of 364), so the cache saves most of the set-up."""
    return tuple(_band_weights(in_size, out_size, block, transpose))


@lru_cache(maxsize=16)
def _device_bands(in_size: int, out_size: int, device: torch.device, transpose: bool):
    """One dense matrix: a GPU runs it in one matmul. Fewer kept: each is in_size * out_size.

    Built on the device from the compact weights (out_size x taps), so an image of a new
    size costs a small copy and a scatter, not a dense matrix made on the CPU and shipped.
    """
    first, count, weights = coefficients(in_size, out_size)
    taps = np.arange(weights.shape[1])
    used = taps < count[:, None]
    cols = np.where(used, first[:, None] + taps, 0)  # unused taps add a zero weight at 0
    values = np.where(used, weights * TIE_BREAK, 0.0).astype(np.float32)
    dense = torch.zeros(out_size, in_size, dtype=torch.float32, device=device)
    dense.scatter_add_(1, torch.from_numpy(cols).to(device), torch.from_numpy(values).to(device))
    if transpose:
        dense = dense.T.contiguous()
    return ((0, out_size, 0, in_size, dense),)


def _bands(in_size: int, out_size: int, device: torch.device, transpose: bool, blocks):
    """The weights of a pass. On a CPU, outputs per matmul are the block of the first scale
    bound above the scale: small blocks waste few multiplications on zero weights, large ones
    keep BLAS fast (measured on one core)."""
    if device.type != "cpu":
        return _device_bands(in_size, out_size, device, transpose)
    block = next(block for bound, block in blocks if in_size / out_size < bound)
    return _cpu_bands(in_size, out_size, block, transpose)


def _horizontal_bands(in_size: int, out_size: int, device: torch.device):
    return _bands(in_size, out_size, device, True, ((3.0, 32), (math.inf, 16)))


def _vertical_bands(in_size: int, out_size: int, device: torch.device):
    return _bands(in_size, out_size, device, False, ((2.0, 16), (math.inf, 8)))


def _to_uint8_levels(x: torch.Tensor) -> torch.Tensor:
    """Round and clip in place like Pillow's clip8 (TIE_BREAK makes its ties round up);
    values stay float for the next pass."""
    return x.round_().clamp_(0, 255)


def _horizontal_into(x: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """Resample the rows of x [n, C, W] along W into out [n, C, width], in uint8 levels."""
    rows, dst = x.reshape(-1, x.shape[-1]), out.view(-1, out.shape[-1])
    for o0, o1, i0, i1, band in _horizontal_bands(x.shape[-1], out.shape[-1], x.device):
        torch.mm(rows[:, i0:i1], band, out=dst[:, o0:o1])
    return _to_uint8_levels(out)


def horizontal(x: torch.Tensor, width: int) -> torch.Tensor:
    """[H, C, W] -> [H, C, width]: every row resampled along W, rounded to uint8 levels."""
    out = torch.empty(*x.shape[:-1], width, dtype=x.dtype, device=x.device)
    return _horizontal_into(x, out)


def vertical(x: torch.Tensor, height: int) -> torch.Tensor:
    """[H, ...] -> [height, ...]: resampled along the first axis, rounded to uint8 levels."""
    rows = x.reshape(x.shape[0], -1)
    out = torch.empty(height, rows.shape[1], dtype=x.dtype, device=x.device)
    for o0, o1, i0, i1, band in _vertical_bands(x.shape[0], height, x.device):
        torch.mm(band, rows[i0:i1], out=out[o0:o1])
    return _to_uint8_levels(out).view(height, *x.shape[1:])


def resize(x: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """float [H, C, W] holding uint8 levels -> [height, C, width], as PIL's LANCZOS resize.

    A pass whose size does not change is skipped, as Pillow skips it.
    """
    if x.shape[-1] != width:
        x = horizontal(x, width)
    if x.shape[0] != height:
        x = vertical(x, height)
    return x


class Scratch:
    """CPU buffers for one streamed image, kept per thread and reused by the next image.

    Fresh memory costs page faults (several ms per image), so the k-th request of an image
    gets the k-th buffer of the images before, grown when too small. The buffers are valid
    until the next `Scratch` of the same thread.
    """

    _local = threading.local()

    def __init__(self):
        if not hasattr(self._local, "pool"):
            self._local.pool = []
        self._pool = self._local.pool
        self._next = 0

    def take(self, *shape: int) -> torch.Tensor:
        numel = math.prod(shape)
        if self._next == len(self._pool):
            self._pool.append(torch.empty(0))
        if self._pool[self._next].numel() < numel:
            self._pool[self._next] = torch.empty(numel)
        self._next += 1
        return self._pool[self._next - 1][:numel].view(shape)


def chunk_rows(row_numel: int) -> int:
    """Rows per streamed chunk for rows of `row_numel` values."""
    return max(1, CHUNK // row_numel)


class Stage:
    """A float [height, *row_shape] image made on demand, top to bottom, on a CPU.

    `pull(dst)` writes the next rows into dst, which has room for `max_rows`, and returns
    how many it wrote, 0 at the end. Writing straight into the consumer's buffer saves a copy
    per pass.
    """

    def __init__(self, height: int, row_shape: tuple[int, ...], max_rows: int):
        self.height, self.row_shape, self.max_rows = height, row_shape, max_rows

    def pull(self, dst: torch.Tensor) -> int:
        raise NotImplementedError


class TensorRows(Stage):
    """A [H, C, W] CPU tensor of any dtype (a permuted view will do) as float row chunks."""

    def __init__(self, image: torch.Tensor):
        super().__init__(image.shape[0], tuple(image.shape[1:]), chunk_rows(image[0].numel()))
        self.image, self.next = image, 0

    def pull(self, dst: torch.Tensor) -> int:
        rows = self.image[self.next : self.next + self.max_rows]
        dst[: rows.shape[0]].copy_(rows)
        self.next += rows.shape[0]
        return rows.shape[0]


class _Horizontal(Stage):
    """Each chunk of the stage above resampled along its last axis."""

    def __init__(self, above: Stage, width: int, scratch: Scratch):
        super().__init__(above.height, (*above.row_shape[:-1], width), above.max_rows)
        self.above, self.buf = above, scratch.take(above.max_rows, *above.row_shape)

    def pull(self, dst: torch.Tensor) -> int:
        n = self.above.pull(self.buf)
        if n:
            _horizontal_into(self.buf[:n], dst[:n])
        return n


class _Vertical(Stage):
    """Output blocks as soon as their input band has arrived, from a sliding window of rows.

    The window holds the band being read plus room for one chunk from above; rows no block
    needs any more are dropped by moving the kept ones (fewer than a band) to the front. With
    room for two bands they never overlap their new place.
    """

    def __init__(self, above: Stage, height: int, scratch: Scratch):
        self.bands = _vertical_bands(above.height, height, torch.device("cpu"))
        band = max(i1 - i0 for _, _, i0, i1, _ in self.bands)
        block = max(o1 - o0 for o0, o1, _, _, _ in self.bands)
        rows = max(chunk_rows(math.prod(above.row_shape)), block)
        super().__init__(height, above.row_shape, rows)
        self.above, self.window = above, scratch.take(2 * band + above.max_rows, *above.row_shape)
        self.base = self.end = 0  # the window holds input rows [base, end)
        self.next = 0  # the next block

    def _read(self, i0: int, i1: int) -> torch.Tensor:
        """Input rows [i0, i1) as a [rows, row numel] view of the window."""
        while self.end < i1:
            if self.end - self.base + self.above.max_rows > self.window.shape[0]:
                kept = self.window[i0 - self.base : self.end - self.base]
                self.window[: self.end - i0].copy_(kept)
                self.base = i0
            self.end += self.above.pull(self.window[self.end - self.base :])
        return self.window.view(self.window.shape[0], -1)[i0 - self.base : i1 - self.base]

    def pull(self, dst: torch.Tensor) -> int:
        flat, n = dst.view(dst.shape[0], -1), 0
        while self.next < len(self.bands):
            o0, o1, i0, i1, weights = self.bands[self.next]
            if n + o1 - o0 > self.max_rows:
                break
            torch.mm(weights, self._read(i0, i1), out=flat[n : n + o1 - o0])
            n, self.next = n + o1 - o0, self.next + 1
        _to_uint8_levels(dst[:n])
        return n


def resize_rows(above: Stage, height: int, width: int, scratch: Scratch) -> Stage:
    """`resize` as a stage: a pass whose size does not change is skipped."""
    if above.row_shape[-1] != width:
        above = _Horizontal(above, width, scratch)
    if above.height != height:
        above = _Vertical(above, height, scratch)
    return above


def chunks(stage: Stage, scratch: Scratch) -> Iterator[tuple[int, torch.Tensor]]:
    """(first row, rows) for every chunk of `stage`; the rows are one reused buffer."""
    buf, start = scratch.take(stage.max_rows, *stage.row_shape), 0
    while n := stage.pull(buf):
        yield start, buf[:n]
        start += n


def resize_uint8(image: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """uint8 [H, C, W] -> uint8 [height, C, width], equal to PIL's LANCZOS resize.

    Streamed on a CPU, whole-tensor matmuls on other devices.
    """
    if image.device.type != "cpu":
        return resize(image.float(), height, width).to(torch.uint8)
    scratch = Scratch()
    out = torch.empty(height, *image.shape[1:-1], width, dtype=torch.uint8)
    for r0, rows in chunks(resize_rows(TensorRows(image), height, width, scratch), scratch):
        out[r0 : r0 + rows.shape[0]].copy_(rows)
    return out
