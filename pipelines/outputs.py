"""The output folder: refuse one that holds other files, and delete only what we wrote.

A run owns the files it writes, recognised by name: the manifest and reports,
rejects, the pipeline's own outputs (`shards/<prefix>-000000.tar`,
`pages/pages-00000-of-00001.parquet` ...), temporary files of interrupted
writes and `_work/`. Before a run the output folder must be empty, or hold an
earlier run of the same pipeline (its manifest, or the `_work/run.json` that
every run writes first), or the user passed --overwrite. In every case only
owned files are deleted; anything else in the folder stays where it is.
"""

import contextlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterable

from apache_beam.io.filesystems import FileSystems

from pipelines.files import join, read_bytes, write_bytes

WORK_DIR = "_work"
RUN_MARKER = f"{WORK_DIR}/run.json"
SPILL_DIR = f"{WORK_DIR}/spill"
TMP_DIR = f"{WORK_DIR}/tmp"  # temporary files of a local run (Beam's, Tesseract's)
_RUN_SCOPED = (SPILL_DIR + "/", TMP_DIR + "/")
MANIFEST_NAME = "manifest.json"
INFO_NAME = "_info.json"  # corpusio.shards.INFO_NAME
# What every run writes besides its own outputs (regular expressions over paths
# relative to the output folder).
RUN_FILES = (
    r"manifest\.json",
    r"report\.md",
    r"report\.html",
    r"report/[^/]+\.png",
    r"rejects-\d{5}-of-\d{5}\.jsonl",
    r"(.+/)?beam-temp-[^/]+/.+",  # Beam's text sink, cut short
    r".+\.tmp-[0-9a-f]{32}",  # pipelines.files.AtomicWriter, cut short
)


class OutputNotEmpty(ValueError):
    """The output folder holds files that no earlier run of this pipeline wrote."""


def shard_files(folder: str, prefix: str) -> list[str]:
    """Owned-file patterns of a WebDataset sink writing `<folder>/<prefix>-NNNNNN.tar`."""
    base = re.escape(folder.strip("/")) + "/" if folder else ""
    return [rf"{base}{re.escape(prefix)}-\d{{6}}\.tar(\.index\.json)?", rf"{base}_info\.json"]


def table_files(prefix: str) -> list[str]:
    """Owned-file patterns of a Parquet sink writing `<prefix>-NNNNN-of-NNNNN.parquet`."""
    return [rf"{re.escape(prefix)}-\d{{5}}-of-\d{{5}}\.parquet"]


def jsonl_files(prefix: str) -> list[str]:
    """Owned-file patterns of Beam's text sink writing `<prefix>-NNNNN-of-NNNNN.jsonl`."""
    return [rf"{re.escape(prefix)}-\d{{5}}-of-\d{{5}}\.jsonl"]


def list_files(folder: str) -> list[str]:
    """Every file under a folder (local or remote), as paths relative to it."""
    prefix = folder.rstrip("/") + "/"
    matched = FileSystems.match([join(folder, "**")])[0].metadata_list
    return sorted(m.path[len(prefix) :] for m in matched if m.path.startswith(prefix))


def earlier_run(folder: str) -> str | None:
    """The pipeline an earlier run in this folder belonged to, if any."""
    for name in (MANIFEST_NAME, RUN_MARKER):
        path = join(folder, name)
        if FileSystems.exists(path):
            try:
                return json.loads(read_bytes(path))["pipeline"]
            except (ValueError, KeyError, TypeError):
                continue
    return None


def _listed_shards(output: str, info: str) -> list[str]:
    """The shards (and their indexes) that an earlier run's `_info.json` names."""
    folder = info.rsplit("/", 1)[0] + "/" if "/" in info else ""
    try:
        listed = json.loads(read_bytes(join(output, info)))["shards"]
        names = [entry["name"] for entry in listed]
    except (OSError, ValueError, KeyError, TypeError):
        return []
    return [f"{folder}{name}{suffix}" for name in names for suffix in ("", ".index.json")]


def _owned(patterns: Iterable[str]):
    return re.compile("|".join(f"(?:{p})" for p in (*RUN_FILES, *patterns)))


def prepare_output(
    output: str,
    pipeline: str,
    owned: Iterable[str],
    overwrite: bool = False,
    restart: bool = False,
) -> int:
    """Check the output folder, delete an earlier run's files, mark the folder as ours.

    Saved work under _work/ stays for resuming unless `restart`; files a run does
    not own are never touched. Returns how many files were deleted. Raises
    OutputNotEmpty before anything is deleted when the folder is not ours.
    """
    files = list_files(output)
    earlier = earlier_run(output)
    owned_re = _owned(owned)
    if files and earlier != pipeline and not overwrite:
        sample = ", ".join(files[:3]) + (" ..." if len(files) > 3 else "")
        what = f"a {earlier} run" if earlier else f"{len(files)} files ({sample})"
        raise OutputNotEmpty(
            f"--output {output} holds {what}, not an earlier {pipeline} run: "
            "choose an empty folder, or pass --overwrite to write beside them "
            "(only files this pipeline writes are ever replaced)"
        )
    doomed = []
    for path in files:
        if path.startswith(WORK_DIR + "/"):
            if restart or path.startswith(_RUN_SCOPED) or path == RUN_MARKER:
                doomed.append(path)
        elif owned_re.fullmatch(path):
            doomed.append(path)
    present = set(files)
    for info in [p for p in doomed if p.rsplit("/", 1)[-1] == INFO_NAME]:
        # shards an earlier run wrote under another --shard-prefix are its too
        doomed += [p for p in _listed_shards(output, info) if p in present and p not in doomed]
    delete_files(output, doomed)
    marker = {"pipeline": pipeline}
    write_bytes(join(output, RUN_MARKER), (json.dumps(marker) + "\n").encode())
    return len(doomed)


def delete_files(folder: str, paths: list[str]) -> None:
    """Delete files under a folder; on local disk, folders they leave empty go too."""
    if not paths:
        return
    FileSystems.delete([join(folder, p) for p in paths])
    if FileSystems.get_scheme(folder) not in (None, "file"):
        return  # object stores have no folders
    parents = {os.path.dirname(os.path.join(folder, p)) for p in paths}
    root = os.path.abspath(folder)
    for parent in sorted(parents, key=len, reverse=True):
        while os.path.abspath(parent) != root and os.path.isdir(parent):
            try:
                os.rmdir(parent)  # only when empty
            except OSError:
                break
            parent = os.path.dirname(parent)


def clear_work(output: str, keep_checkpoints: bool) -> None:
    """After a successful run: drop the spill and temporary files, and the checkpoints unless
    asked to keep them."""
    folders = [SPILL_DIR, TMP_DIR] if keep_checkpoints else [WORK_DIR]
    if FileSystems.get_scheme(output) in (None, "file"):
        for folder in folders:
            shutil.rmtree(os.path.join(output, folder), ignore_errors=True)
        return
    paths = [f"{WORK_DIR}/{p}" for p in list_files(join(output, WORK_DIR))]
    if keep_checkpoints:
        paths = [p for p in paths if p.startswith(_RUN_SCOPED)]
    delete_files(output, paths)


@contextlib.contextmanager
def temporary_files_under(output: str):
    """Temporary files of a local run go to OUTPUT/_work/tmp, not to the system's folder.

    Beam's local runner and Tesseract (through pytesseract) make temporary files;
    a killed run would leave them in /tmp. Under the output folder the next run
    (or a successful end of this one) deletes them. The worker processes inherit
    TMPDIR; a remote output changes nothing.
    """
    if FileSystems.get_scheme(output) not in (None, "file"):
        yield
        return
    folder = os.path.abspath(os.path.join(output, TMP_DIR))
    os.makedirs(folder, exist_ok=True)
    saved = tempfile.tempdir, os.environ.get("TMPDIR")
    tempfile.tempdir, os.environ["TMPDIR"] = folder, folder
    try:
        yield
    finally:
        tempfile.tempdir = saved[0]
        if saved[1] is None:
            os.environ.pop("TMPDIR", None)
        else:
            os.environ["TMPDIR"] = saved[1]
