"""Scale benchmark: the real pipelines on N and 4N unique inputs; wall time and peak memory.

    python -m benchmarks.scale [--web-pages 2000] [--pdfs 100] [--factor 4] [--only web|pdf]

Peak memory is the largest sum of resident set sizes over the launcher and
every process it starts (Beam's local workers included), sampled every 0.1 s.
What a user wants to see is that memory stays flat as inputs grow: the table
prints both ratios (4N over N) beside the figures.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.scale_inputs import write_pdfs, write_warc

PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


def _session_rss(session: int) -> int:
    """Resident bytes of every process in a session (the launcher started it with a new one)."""
    total = 0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as f:
                stat = f.read()
            fields = stat[stat.rindex(b")") + 2 :].split()
            if int(fields[3]) != session:  # field 6 of stat: the session id
                continue
            with open(f"/proc/{entry.name}/statm", "rb") as f:
                total += int(f.read().split()[1]) * PAGE_SIZE
        except (OSError, ValueError, IndexError):
            continue  # the process ended while we looked
    return total


def measure(command: list[str], log: Path) -> dict:
    """Run a command to its end; wall seconds, peak RSS summed over its processes, exit code."""
    env = dict(os.environ, OMP_THREAD_LIMIT="1", VLM_CORPUS_PROGRESS_S="0")
    started = time.perf_counter()
    with open(log, "wb") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=out, env=env, start_new_session=True)
        peak = 0
        while proc.poll() is None:
            peak = max(peak, _session_rss(proc.pid))
            time.sleep(0.1)
    return {"wall_s": time.perf_counter() - started, "peak_rss": peak, "rc": proc.returncode}


def _pipeline(name: str, *args: str) -> list[str]:
    return [sys.executable, "-m", f"pipelines.{name}", *args]


def _web_run(root: Path, pages: int) -> dict:
    warc = root / f"web-{pages}" / "crawl.warc.gz"
    size = write_warc(warc, pages)
    out = root / f"web-{pages}-out"
    result = measure(
        _pipeline("web_docs", "--input", str(warc), "--output", str(out), "--images", "none"),
        root / f"web-{pages}.log",
    )
    return result | {
        "pipeline": "web_docs --images none",
        "items": f"{pages} pages",
        "n": pages,
        "input_bytes": size,
        "manifest": _manifest(out),
    }


def _pdf_run(root: Path, pdfs: int) -> dict:
    folder = root / f"pdf-{pdfs}"
    pages = write_pdfs(folder, pdfs)
    out = root / f"pdf-{pdfs}-out"
    result = measure(
        _pipeline(
            "pdf_transcribe",
            *("--input", f"{folder}/*.pdf", "--output", str(out)),
            *("--ocr", "never", "--layout", "fast"),  # the text-layer path, at its own speed
        ),
        root / f"pdf-{pdfs}.log",
    )
    return result | {
        "pipeline": "pdf_transcribe --layout fast",
        "items": f"{pdfs} PDFs, {pages} pages",
        "n": pdfs,
        "manifest": _manifest(out),
    }


def _manifest(out: Path) -> dict:
    path = out / "manifest.json"
    if not path.exists():
        return {}
    manifest = json.loads(path.read_text())
    return {
        "balanced": manifest["balanced"],
        "outputs": manifest["stages"].get("shards", {}).get("out"),
    }


def _print(rows: list[dict]) -> None:
    print(f"{'pipeline':<28} {'input':<22} {'wall s':>8} {'peak RSS':>10} {'rc':>3}  balanced")
    for r in rows:
        print(
            f"{r['pipeline']:<28} {r['items']:<22} {r['wall_s']:>8.1f} "
            f"{r['peak_rss'] / 1e9:>8.2f} GB {r['rc']:>3}  {r['manifest'].get('balanced')}"
        )


def _ratios(small: dict, large: dict) -> dict:
    return {
        "pipeline": small["pipeline"],
        "inputs": f"{large['n']} / {small['n']}",
        "wall_ratio": round(large["wall_s"] / small["wall_s"], 2),
        "rss_ratio": round(large["peak_rss"] / small["peak_rss"], 2),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.scale",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--web-pages", type=int, default=2000)
    parser.add_argument("--pdfs", type=int, default=100)
    parser.add_argument("--factor", type=int, default=4)
    parser.add_argument("--only", choices=("web", "pdf"), default=None)
    parser.add_argument("--keep", default=None, help="a folder to keep inputs and outputs in")
    args = parser.parse_args(argv)
    rows, ratios = [], []
    with tempfile.TemporaryDirectory(prefix="scale-") as tmp:
        root = Path(args.keep or tmp)
        root.mkdir(parents=True, exist_ok=True)
        plans = []
        if args.only in (None, "web"):
            plans.append((_web_run, args.web_pages))
        if args.only in (None, "pdf"):
            plans.append((_pdf_run, args.pdfs))
        for run, n in plans:
            pair = [run(root, n), run(root, n * args.factor)]
            rows += pair
            ratios.append(_ratios(*pair))
    _print(rows)
    for r in ratios:
        print(
            f"{r['pipeline']}: inputs x{r['inputs']}: wall x{r['wall_ratio']}, "
            f"peak RSS x{r['rss_ratio']}"
        )
    out = Path("out/bench-scale.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"runs": rows, "ratios": ratios}, indent=2) + "\n")
    return 0 if all(r["rc"] == 0 for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
