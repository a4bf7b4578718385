"""Throughput of our loader, end to end from shards, against transformers' processor.

    python -m loader.bench --shards 'QA/shards/*.tar' [--batch-size 8] [--device cuda|cpu]
        [--seconds 20] [--workers 0]

Both sides decode the same images from the same shards; ours also reads the tars,
shuffles, batches and normalises on `--device`, so it is the slower-looking side of
a fair race. Prints a table, then JSON on the last line.
"""

import argparse
import glob
import io
import json
import time

import torch
from PIL import Image

from loader.dataset import image_members, make_loader

FORMAT = "{:<28} {:>10} {:>10} {:>10} {:>8}"


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shards", required=True, help="glob of WebDataset .tar shards")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--seconds", type=float, default=20.0, help="time per side")
    parser.add_argument("--workers", type=int, default=0, help="DataLoader workers for ours")
    parser.add_argument(
        "--tiling",
        choices=("auto", "workers", "device"),
        default="auto",
        help="where our loader decodes and tiles (auto: nvJPEG on CUDA when torchvision is there)",
    )
    return parser.parse_args(argv)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def bench_loader(urls, batch_size, device, seconds, workers, tiling="auto") -> dict:
    """Images and tiles per second of make_loader, cycling the shards until time is up."""
    device = torch.device(device)
    loader = make_loader(
        urls,
        batch_size,
        shuffle_buffer=100,
        initial=10,
        num_workers=workers,
        device=device,
        tiling=tiling,
    )
    images = tiles = batches = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        seen = 0
        for batch in loader:
            images += sum(len(r) for r in batch["rows"])
            tiles += int(batch["tile_mask"].sum())
            batches += 1
            seen += 1
            if time.perf_counter() - start >= seconds:
                break
        if not seen:
            raise SystemExit("no full batch in the shards: lower --batch-size")
    _sync(device)
    elapsed = time.perf_counter() - start
    name = f"ours ({'device' if loader.on_device else 'workers'} tiling)"
    return _rates(name, images, tiles, elapsed, batches, loader.skipped.total)


def shard_images(urls, limit: int = 2000) -> list[list[bytes]]:
    """Image bytes of each sample, in sample order, read with webdataset's plain reader."""
    import webdataset as wds

    rows = []
    for sample in wds.WebDataset(urls, shardshuffle=False, empty_check=False):
        members = image_members(sample)
        if members:
            rows.append([members[n] for n in sorted(members)])
        if len(rows) >= limit:
            break
    return rows


def bench_processor(rows, batch_size, seconds) -> dict:
    """Images and tiles per second of Idefics3ImageProcessor() on decoded images."""
    from transformers import Idefics3ImageProcessor

    processor = Idefics3ImageProcessor()
    images = tiles = batches = skipped = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        for i in range(0, len(rows), batch_size):
            batch = []
            for row in rows[i : i + batch_size]:
                try:
                    batch.append([_open(data) for data in row])
                except OSError:
                    skipped += 1
            if not batch:
                continue
            out = processor(images=batch, return_tensors="pt", return_row_col_info=True)
            images += sum(len(r) for r in batch)
            tiles += int(out["pixel_attention_mask"].flatten(2).any(dim=2).sum())
            batches += 1
            if time.perf_counter() - start >= seconds:
                break
    elapsed = time.perf_counter() - start
    return _rates("transformers Idefics3ImageProcessor", images, tiles, elapsed, batches, skipped)


def _open(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def _rates(name, images, tiles, elapsed, batches, skipped) -> dict:
    return {
        "name": name,
        "images": images,
        "tiles": tiles,
        "batches": batches,
        "skipped": skipped,
        "seconds": round(elapsed, 3),
        "images_per_s": round(images / elapsed, 2) if elapsed else 0.0,
        "tiles_per_s": round(tiles / elapsed, 2) if elapsed else 0.0,
    }


def print_table(results: list[dict]) -> None:
    print(FORMAT.format("pipeline", "images/s", "tiles/s", "images", "seconds"))
    for r in results:
        print(
            FORMAT.format(
                r["name"][:28], r["images_per_s"], r["tiles_per_s"], r["images"], r["seconds"]
            )
        )


def main(argv=None) -> dict:
    args = parse_args(argv)
    urls = sorted(glob.glob(args.shards))
    if not urls:
        raise SystemExit(f"no shards match {args.shards!r}")
    ours = bench_loader(urls, args.batch_size, args.device, args.seconds, args.workers, args.tiling)
    theirs = bench_processor(shard_images(urls), args.batch_size, args.seconds)
    print_table([ours, theirs])
    result = {
        "shards": len(urls),
        "batch_size": args.batch_size,
        "device": str(args.device),
        "workers": args.workers,
        "tiling": args.tiling,
        "ours": ours,
        "transformers": theirs,
        "speedup_images": round(ours["images_per_s"] / theirs["images_per_s"], 3)
        if theirs["images_per_s"]
        else None,
    }
    print(json.dumps(result, sort_keys=True))
    return result


if __name__ == "__main__":
    main()
