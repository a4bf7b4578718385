"""A run's report as a self-contained HTML page with plots and samples, plus the plots as PNGs.

Plain Python over a manifest and the run's outputs; the caller hands in the
file operations (Beam's FileSystems in a pipeline, the local disk elsewhere),
so the same code writes reports next to local and gs:// outputs.
"""

from collections.abc import Callable
from typing import BinaryIO

from runreport.files import Files, join, local_files
from runreport.gallery import gallery
from runreport.html import Plot, render
from runreport.plots import funnel_png, item_png
from runreport.profiles import Note, profile
from runreport.reading import MAX_FILES, MAX_SHARD_FILES

HTML_NAME = "report.html"
PLOTS_DIR = "report"
DEFAULT_SAMPLE_LIMIT = 5000

__all__ = ["HTML_NAME", "PLOTS_DIR", "Files", "local_files", "write_html_report"]


def _sampling(limit: int) -> str:
    return (
        f"Distributions are computed from the first {limit:,} rows (or samples) of each output, "
        f"read from at most {MAX_FILES} files in file-name order; the samples shown come from "
        f"the first {MAX_SHARD_FILES} shards. Each caption says what its plot was computed from."
    )


def write_html_report(
    manifest: dict,
    output_dir: str,
    *,
    read_bytes: Callable[[str], bytes],
    match: Callable[[str], list[str]],
    write_bytes: Callable[[str, bytes], None],
    open_read: Callable[[str], BinaryIO] | None = None,
    sample_limit: int = DEFAULT_SAMPLE_LIMIT,
) -> dict[str, str]:
    """Write OUTPUT/report.html and OUTPUT/report/<plot>.png; return {name: path} written.

    Reading the outputs is bounded by `sample_limit` rows and a few files; a
    profile that fails becomes a note on the page. `open_read` (optional,
    path -> seekable binary stream) lets parquet and tars be read partially.
    """
    files = Files(read_bytes, match, write_bytes, open_read)
    written: dict[str, str] = {}

    def save(name: str, png: bytes) -> str:
        path = join(output_dir, PLOTS_DIR, f"{name}.png")
        write_bytes(path, png)
        written[name] = path
        return path

    try:
        png = funnel_png(manifest)
        funnel: Plot | Note = Plot("Funnel", png, "items in, kept and rejected per stage", "")
        save("funnel", png)
    except Exception as exc:  # noqa: BLE001 - the tables still show the counts
        funnel = Note("funnel", f"could not be drawn: {type(exc).__name__}: {exc}")

    plots: list[Plot | Note] = []
    for item in profile(manifest, files, sample_limit):
        if isinstance(item, Note):
            plots.append(item)
            continue
        try:
            png = item_png(item)
        except Exception as exc:  # noqa: BLE001 - one plot must not break the report
            plots.append(Note(item.title, f"could not be drawn: {type(exc).__name__}: {exc}"))
            continue
        plots.append(Plot(item.title, png, f"computed from the {item.basis}", save(item.name, png)))

    cards = gallery(manifest, files)
    html = render(manifest, funnel, plots, cards, _sampling(sample_limit))
    path = join(output_dir, HTML_NAME)
    write_bytes(path, html.encode("utf-8"))
    written["html"] = path
    return written
