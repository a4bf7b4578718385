"""Throughput of our loader, end to end from shards, against transformers' processor.

    python -m loader.bench --shards 'QA/shards/*.tar' [--batch-size 8] [--device cuda|cpu]
        [--seconds 20] [--workers 0]
    python -m loader.bench --shards '...' --packing --max-length 8192 [--tokenizer FILE]

Both sides decode the same images from the same shards; ours also reads the tars,
shuffles, batches and normalises on `--device`, so it is the slower-looking side of
a fair race. With `--packing`, one epoch of our loader padded and one packed on the
same shards instead: tokens/s (sample tokens, not padding), images/s and packing
efficiency (sample tokens / all token slots). `--tokenizer` is a tokenizer.json
(the model's); without one, words and the Idefics3 special tokens are counted, which
is close enough for packing. Prints a table, then JSON on the last line.
"""

import argparse
import glob
import io
import json
import time

import torch
from PIL import Image

from loader.dataset import make_loader
from loader.samples import image_members

FORMAT = "{:<28} {:>10} {:>10} {:>10} {:>8}"


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--shards", required=True, nargs="+", help="globs of WebDataset .tar shards"
    )
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
    parser.add_argument("--packing", action="store_true", help="padded vs packed, one epoch each")
    parser.add_argument("--max-length", type=int, default=8192, help="tokens per row")
    parser.add_argument("--tokenizer", help="tokenizer.json (default: words + special tokens)")
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


def word_tokenizer():
    """Whitespace words (all [UNK]) plus the special tokens Idefics3's prompts use."""
    from tokenizers import Tokenizer, models, pre_tokenizers

    from loader.conversation import BEGIN_OF_TEXT, END_OF_UTTERANCE
    from loader.idefics3 import FAKE_TOKEN, GLOBAL_TOKEN, IMAGE_TOKEN

    specials = [BEGIN_OF_TEXT, END_OF_UTTERANCE, "<pad>", IMAGE_TOKEN, FAKE_TOKEN, GLOBAL_TOKEN]
    specials += [f"<row_{r}_col_{c}>" for r in range(1, 7) for c in range(1, 7)]
    vocab = {token: i for i, token in enumerate(["[UNK]", *specials])}
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer.add_special_tokens(specials)
    return tokenizer


def bench_packing(urls, batch_size, max_length, tokenizer, workers) -> list[dict]:
    """One epoch padded (samples over max_length skipped) and one packed, same shards."""
    results = []
    for packing in (False, True):
        loader = make_loader(
            urls,
            batch_size,
            tokenizer=tokenizer,
            max_length=max_length,
            packing=packing,
            partial_batches=True,
            num_workers=workers,
            shuffle_buffer=100,
            initial=10,
        )
        tokens = slots = images = samples = batches = 0
        start = time.perf_counter()
        for batch in loader:
            tokens += int(batch["attention_mask"].sum())
            slots += batch["attention_mask"].numel()
            images += sum(len(r) for r in batch["rows"])
            keys = batch["keys"]
            samples += sum(len(k) for k in keys) if packing else len(keys)
            batches += 1
        elapsed = time.perf_counter() - start
        results.append(
            {
                "name": "packed" if packing else "padded",
                "samples": samples,
                "batches": batches,
                "tokens": tokens,
                "images": images,
                "seconds": round(elapsed, 3),
                "tokens_per_s": round(tokens / elapsed, 1) if elapsed else 0.0,
                "images_per_s": round(images / elapsed, 2) if elapsed else 0.0,
                "packing_efficiency": round(tokens / slots, 4) if slots else 0.0,
                "skipped": dict(loader.skipped.counts),
            }
        )
    return results


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
    urls = sorted({url for pattern in args.shards for url in glob.glob(pattern)})
    if not urls:
        raise SystemExit(f"no shards match {args.shards!r}")
    if args.packing:
        return main_packing(args, urls)
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


def main_packing(args, urls) -> dict:
    if args.tokenizer:
        from tokenizers import Tokenizer

        tokenizer = Tokenizer.from_file(args.tokenizer)
    else:
        tokenizer = word_tokenizer()
    results = bench_packing(urls, args.batch_size, args.max_length, tokenizer, args.workers)
    print(f"{'loader':<8} {'samples':>8} {'tokens/s':>10} {'images/s':>9} {'efficiency':>10}")
    for r in results:
        print(
            f"{r['name']:<8} {r['samples']:>8} {r['tokens_per_s']:>10} {r['images_per_s']:>9} "
            f"{r['packing_efficiency']:>10}"
        )
    result = {
        "shards": len(urls),
        "batch_size": args.batch_size,
        "max_length": args.max_length,
        "workers": args.workers,
        "tokenizer": args.tokenizer or "words",
        "padded": results[0],
        "packed": results[1],
    }
    print(json.dumps(result, sort_keys=True))
    return result


if __name__ == "__main__":
    main()
