"""Tiles made on the training device: JPEG headers read in the workers, pixels decoded
(nvJPEG on CUDA) and tiled where the model runs, then normalised there.

uint8 tiles cross to the device and are normalised there: a quarter of the bytes of
fp32. A sample whose image will not decode is dropped from its batch and counted.
"""

import io
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from loader import idefics3
from loader.skips import SkipCounter, SkipSample

TILE = 364
IMAGE_ERRORS = (OSError, SyntaxError, ValueError, Image.DecompressionBombError)


@dataclass
class EncodedImage:
    """An image whose tiles are made on the device: JPEG bytes for nvJPEG, else decoded pixels.

    The header gives the size, so the tile grid (and the prompt) is known in the worker
    without decoding. `data` is the JPEG file as uint8 [bytes] when `jpeg`, otherwise the
    image already decoded on the CPU (PNG, CMYK JPEG, ...) as uint8 [3, H, W].
    """

    data: torch.Tensor
    height: int
    width: int
    jpeg: bool


# JPEG modes that nvJPEG turns into the same RGB as PIL's convert("RGB").
DEVICE_JPEG_MODES = ("RGB", "L")


def peek_image(data: bytes, key: str) -> EncodedImage:
    """Read the header only for RGB or grey JPEGs; decode anything else on the CPU."""
    try:
        image = Image.open(io.BytesIO(data))
        if image.format == "JPEG" and image.mode in DEVICE_JPEG_MODES:
            raw = torch.frombuffer(bytearray(data), dtype=torch.uint8)
            return EncodedImage(raw, image.height, image.width, jpeg=True)
        image.load()
        rgb = idefics3.to_rgb(image)
    except IMAGE_ERRORS as exn:
        raise SkipSample("bad_image", f"{key}: {exn}") from exn
    return EncodedImage(_chw(rgb), rgb.height, rgb.width, jpeg=False)


def _chw(rgb: Image.Image) -> torch.Tensor:
    return torch.from_numpy(np.array(rgb)).permute(2, 0, 1).contiguous()


def decode_on_device(images: list[EncodedImage], device: torch.device) -> list:
    """uint8 [3, H, W] per image on `device`, or None for an image that will not decode.

    JPEGs go to nvJPEG in one batched call when the device is CUDA and torchvision is
    installed (per image if the batch fails); otherwise, and for the few that nvJPEG
    refuses, PIL decodes them on the CPU. Pixels are the same either way up to the
    JPEG decoders' rounding.
    """
    out: list = [None] * len(images)
    jpegs = [i for i, image in enumerate(images) if image.jpeg]
    for i, image in enumerate(images):
        if not image.jpeg:
            out[i] = image.data.to(device, non_blocking=True)
    nvjpeg = nvjpeg_decoder(device)
    if nvjpeg is not None and jpegs:
        try:
            decoded = nvjpeg([images[i].data for i in jpegs])
        except RuntimeError:
            decoded = [_try(nvjpeg, images[i].data) for i in jpegs]
        for i, tensor in zip(jpegs, decoded, strict=True):
            out[i] = tensor
    for i in jpegs:
        if out[i] is None:
            out[i] = _pil_decode(images[i].data, device)
    return out


def nvjpeg_decoder(device: torch.device):
    """torchvision's batched GPU JPEG decoder bound to `device`, or None where it is not."""
    if device.type != "cuda":
        return None
    try:
        from torchvision.io import ImageReadMode, decode_jpeg
    except ImportError:
        return None

    def decode(data):
        return decode_jpeg(data, mode=ImageReadMode.RGB, device=device)

    return decode


def _try(decode, data):
    try:
        return decode(data)
    except RuntimeError:
        return None


def _pil_decode(data: torch.Tensor, device: torch.device):
    try:
        image = Image.open(io.BytesIO(data.numpy().tobytes()))
        image.load()
    except IMAGE_ERRORS:
        return None
    return _chw(idefics3.to_rgb(image)).to(device, non_blocking=True)


def tiles_on_device(batch: dict, device: torch.device, counter: SkipCounter) -> dict:
    """Decode and tile a batch's images on `device` into uint8 `pixel_values`.

    A sample with an image that does not decode is dropped from the batch and counted.
    """
    flat = [image for images in batch["images"] for image in images]
    decoded = iter(decode_on_device(flat, device))
    mask = batch["tile_mask"]
    pixel_values = torch.zeros((*mask.shape, 3, TILE, TILE), dtype=torch.uint8, device=device)
    keep = []
    for i in range(len(batch["images"])):
        start, ok = 0, True
        for rows, cols in zip(batch["rows"][i], batch["cols"][i], strict=True):
            pixels = next(decoded)
            if pixels is None:
                ok = False
                continue
            tiles, r, c = idefics3.split_image_tensor(pixels)
            if (r, c) != (rows, cols):  # the header lied about the size
                ok = False
                continue
            pixel_values[i, start : start + len(tiles)] = tiles
            start += len(tiles)
        if ok:
            keep.append(i)
        else:
            counter.add("bad_image")
    out = {k: v for k, v in batch.items() if k != "images"}
    out["pixel_values"] = pixel_values
    return _select(out, keep) if len(keep) < len(batch["keys"]) else out


def _select(batch: dict, keep: list[int]) -> dict:
    """The batch restricted to the samples at `keep` (first dimension of every field)."""
    index = torch.tensor(keep, dtype=torch.long)
    out = {}
    for k, v in batch.items():
        if torch.is_tensor(v):
            out[k] = v[index.to(v.device)]
        elif isinstance(v, list):
            out[k] = [v[i] for i in keep]
        else:
            out[k] = v
    return out


def to_device(batch: dict, device: torch.device) -> dict:
    """Move a batch and normalise its tiles there; padded tiles stay all-zero floats.

    The model drops all-zero tiles, so padding is zeroed again after normalising
    (which maps 0 to -1). `pixel_attention_mask` is the per-pixel mask transformers
    passes, as a free broadcast view of the per-tile mask.
    """
    non_blocking = device.type == "cuda"
    out = {
        k: v.to(device, non_blocking=non_blocking) if torch.is_tensor(v) else v
        for k, v in batch.items()
        if k != "images"
    }
    tiles = idefics3.normalise(out["pixel_values"])
    mask = out["tile_mask"]
    out["pixel_values"] = tiles * mask[:, :, None, None, None].to(tiles.dtype)
    out["pixel_attention_mask"] = mask[:, :, None, None].expand(*mask.shape, TILE, TILE)
    return out
