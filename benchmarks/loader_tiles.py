"""Idefics3 tiles: loader.idefics3 split_image + normalise against transformers' image processor.

Single thread (images/s per core), the same ~20 images of mixed sizes on both sides. A second
row times the first resize alone (longest edge to 1456): loader.resample on uint8 tensors
against PIL's LANCZOS resize, which it reproduces.
"""

import warnings

import numpy as np
import torch
from PIL import Image

from benchmarks.common import best_seconds, row
from loader import resample
from loader.idefics3 import fit_longest_edge, normalise, split_image

SIZES = [
    (480, 640), (640, 480), (768, 1024), (1024, 768), (1080, 1920), (1920, 1080),
    (300, 200), (200, 300), (1200, 900), (2000, 1500), (3000, 4000), (500, 500),
    (364, 364), (1456, 1456), (100, 1000), (1754, 1240), (1240, 1754), (720, 1280),
    (64, 64), (900, 1600),
]  # fmt: skip


def _images() -> list[Image.Image]:
    """Smooth gradients with a little noise: the content does not change resize cost."""
    rng = np.random.default_rng(0)
    out = []
    for height, width in SIZES:
        y, x = np.mgrid[0:height, 0:width]
        rgb = np.stack([x % 256, y % 256, (x + y) % 256], -1) + rng.integers(
            0, 8, (height, width, 3)
        )
        out.append(Image.fromarray(rgb.clip(0, 255).astype(np.uint8)))
    return out


def _ours(images):
    for image in images:
        normalise(split_image(image)[0])


def _bare(processor, images):
    for image in images:
        processor(images=[[image]], return_tensors="pt")


def _resize_ours(tensors):
    for hcw in tensors:
        resample.resize_uint8(hcw, *fit_longest_edge(hcw.shape[0], hcw.shape[2]))


def _resize_pil(images):
    for image in images:
        height, width = fit_longest_edge(image.height, image.width)
        image.resize((width, height), Image.Resampling.LANCZOS)


def run() -> list[dict]:
    import transformers

    torch.set_num_threads(1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        processor = transformers.Idefics3ImageProcessor()
    images = _images()
    ours = best_seconds(lambda: _ours(images))
    bare = best_seconds(lambda: _bare(processor, images))
    tensors = [torch.from_numpy(np.array(image)).permute(0, 2, 1) for image in images]
    resize_ours = best_seconds(lambda: _resize_ours(tensors))
    resize_pil = best_seconds(lambda: _resize_pil(images))
    return [
        row("idefics3 tiles (1 thread)", len(images), ours, bare, "Idefics3ImageProcessor"),
        row("lanczos resize to 1456 (1 thread)", len(images), resize_ours, resize_pil, "PIL"),
    ]


if __name__ == "__main__":
    print(run())
