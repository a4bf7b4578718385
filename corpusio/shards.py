"""WebDataset shards: deterministic tar writing, size/count caps, `_info.json`.

A sample is a key plus members (extension -> bytes), written as tar members
`<key>.<ext>` in sorted order with fixed metadata, so the same samples always
give the same bytes. Shards are filled greedily in key order up to a sample
count and a byte cap, named `<prefix>-NNNNNN.tar`, and described by an
`_info.json` in the layout timm, chug and the PDFA/IDL releases use
(`splits.train.filenames`, `shard_lengths`, `num_samples`).
"""

import io
import json
import os
import tarfile
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from corpusio.keys import check_extension, safe_key

TAR_BLOCK = 512
TAR_END = 2 * TAR_BLOCK
TAR_RECORD = tarfile.RECORDSIZE
INFO_NAME = "_info.json"
DEFAULT_MAX_SAMPLES = 1000
DEFAULT_MAX_BYTES = 512 * 1024 * 1024
FIXED_MTIME = 0


@dataclass(frozen=True)
class Sample:
    """One WebDataset sample: `members` maps an extension ("json", "pdf") to its bytes."""

    key: str
    members: dict[str, bytes] = field(default_factory=dict)

    def __post_init__(self):
        if safe_key(self.key) != self.key:
            raise ValueError(f"unsafe sample key {self.key!r}: build keys with corpusio.keys")
        if not self.members:
            raise ValueError(f"sample {self.key!r} has no members")
        for ext, data in self.members.items():
            check_extension(ext)
            if not isinstance(data, bytes):
                raise TypeError(f"member {self.key}.{ext} must be bytes, not {type(data).__name__}")

    @property
    def tar_bytes(self) -> int:
        """Bytes this sample takes inside a tar (headers and padding included)."""
        return sum(
            _member_tar_bytes(f"{self.key}.{ext}", len(d)) for ext, d in self.members.items()
        )


@dataclass(frozen=True)
class ShardInfo:
    name: str
    num_samples: int
    bytes: int


def _member_tar_bytes(name: str, size: int) -> int:
    pax = 3 * TAR_BLOCK if len(name) > 100 else 0
    return pax + TAR_BLOCK + -(-size // TAR_BLOCK) * TAR_BLOCK


def shard_name(prefix: str, index: int) -> str:
    return f"{prefix}-{index:06d}.tar"


def tar_file_bytes(content_bytes: int) -> int:
    """Size of a tar file holding `content_bytes` of members: end blocks, padded to a record."""
    return -(-(content_bytes + TAR_END) // TAR_RECORD) * TAR_RECORD


def plan_parts(sizes: list[int], max_samples: int, max_bytes: int) -> list[range]:
    """Split consecutive samples (their tar sizes, in write order) into shards within both caps.

    A sample bigger than `max_bytes` gets a shard of its own rather than being dropped.
    """
    if max_samples < 1 or max_bytes < 1:
        raise ValueError("shard caps must be positive")
    parts, start, used = [], 0, 0
    for i, size in enumerate(sizes):
        count = i - start
        if count and (count >= max_samples or tar_file_bytes(used + size) > max_bytes):
            parts.append(range(start, i))
            start, used = i, 0
        used += size
    if start < len(sizes):
        parts.append(range(start, len(sizes)))
    return parts


def write_tar(fileobj, samples: Iterable[Sample]) -> list[dict]:
    """Write samples to `fileobj` as a tar with fixed metadata; return their index entries.

    An entry is {"key", "members": {ext: [offset, size]}} with the byte offset
    of each member's data in the tar, so a reader can seek straight to it.
    """
    index = []
    with tarfile.open(fileobj=fileobj, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for sample in samples:
            members = {}
            for ext in sorted(sample.members):
                data = sample.members[ext]
                info = tarfile.TarInfo(f"{sample.key}.{ext}")
                info.size = len(data)
                info.mtime = FIXED_MTIME
                info.mode = 0o444
                info.uid = info.gid = 0
                info.uname = info.gname = ""
                tar.addfile(info, io.BytesIO(data))
                padded = -(-len(data) // TAR_BLOCK) * TAR_BLOCK
                members[ext] = [tar.offset - padded, len(data)]
            index.append({"key": sample.key, "members": members})
    return index


def index_name(shard: str) -> str:
    return f"{shard}.index.json"


def dumps_index(shard: str, entries: list[dict]) -> bytes:
    return (json.dumps({"shard": shard, "samples": entries}, sort_keys=True) + "\n").encode()


def read_member(fileobj, entry: dict, ext: str) -> bytes:
    """One member's bytes, read by seeking to the offset its index entry gives."""
    offset, size = entry["members"][ext]
    fileobj.seek(offset)
    data = fileobj.read(size)
    if len(data) != size:
        raise tarfile.ReadError(f"{entry['key']}.{ext}: {len(data)} of {size} bytes at {offset}")
    return data


def split_member_name(name: str) -> tuple[str, str] | None:
    """'dir/key.ext.more' -> ('key', 'ext.more') as WebDataset groups members; None if no ext."""
    base = name.rsplit("/", 1)[-1]
    if "." not in base or base.startswith("."):
        return None
    key, ext = base.split(".", 1)
    return key, ext


class _CountingReader:
    """A read-only stream that counts the bytes handed out."""

    def __init__(self, fileobj):
        self._fileobj = fileobj
        self.count = 0

    def read(self, size=-1):
        data = self._fileobj.read(size)
        self.count += len(data)
        return data


def iter_tar_samples(fileobj) -> Iterator[dict]:
    """Samples of a WebDataset tar read as a stream: {"__key__": key, ext: bytes, ...}.

    Consecutive members with the same key form one sample, as WebDataset reads
    them; members without an extension and non-file entries are skipped. A
    truncated tar raises tarfile.ReadError after the complete samples before
    it: Python's tarfile takes a cut at a header for the end of the archive,
    so the end-of-archive block is checked here.
    """
    reader = _CountingReader(fileobj)
    current: dict | None = None
    with tarfile.open(fileobj=reader, mode="r|") as tar:
        for member in tar:
            parts = split_member_name(member.name) if member.isfile() else None
            if parts is None:
                continue
            key, ext = parts
            if current is not None and current["__key__"] != key:
                yield current
                current = None
            if current is None:
                current = {"__key__": key}
            data = tar.extractfile(member).read()
            if len(data) != member.size:
                raise tarfile.ReadError(f"{member.name}: {len(data)} of {member.size} bytes")
            current[ext] = data
        end = tar.offset
    if reader.count < end + TAR_BLOCK:
        raise tarfile.ReadError(f"no end-of-archive block after byte {end}: truncated")
    if current is not None:
        yield current


def build_info(name: str, shards: Iterable[ShardInfo], split: str = "train") -> dict:
    """The `_info.json` content for a set of shards (sorted by name)."""
    shards = sorted(shards, key=lambda s: s.name)
    return {
        "name": name,
        "splits": {
            split: {
                "name": split,
                "filenames": [s.name for s in shards],
                "shard_lengths": [s.num_samples for s in shards],
                "num_samples": sum(s.num_samples for s in shards),
            }
        },
        "shards": [
            {
                "name": s.name,
                "num_samples": s.num_samples,
                "bytes": s.bytes,
                "index": index_name(s.name),
            }
            for s in shards
        ],
        "total_bytes": sum(s.bytes for s in shards),
    }


def dumps_info(info: dict) -> bytes:
    return (json.dumps(info, indent=2, sort_keys=True) + "\n").encode("utf-8")


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write a local file under a temporary name, then rename it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_shards(
    out_dir: Path,
    samples: Iterable[Sample],
    prefix: str = "shard",
    max_samples: int = DEFAULT_MAX_SAMPLES,
    max_bytes: int = DEFAULT_MAX_BYTES,
    name: str | None = None,
) -> list[ShardInfo]:
    """Write samples to local shards in key order, plus `_info.json`; no Beam needed.

    The Beam sink (pipelines.sinks) does the same work spread over workers.
    Duplicate keys raise ValueError: a tar with two samples of one key reads back wrong.
    """
    out_dir = Path(out_dir)
    ordered = sorted(samples, key=lambda s: s.key)
    for a, b in zip(ordered, ordered[1:], strict=False):
        if a.key == b.key:
            raise ValueError(f"duplicate sample key {a.key!r}")
    infos = []
    for index, part in enumerate(
        plan_parts([s.tar_bytes for s in ordered], max_samples, max_bytes)
    ):
        buffer = io.BytesIO()
        entries = write_tar(buffer, (ordered[i] for i in part))
        shard = shard_name(prefix, index)
        atomic_write_bytes(out_dir / shard, buffer.getvalue())
        atomic_write_bytes(out_dir / index_name(shard), dumps_index(shard, entries))
        infos.append(ShardInfo(shard, len(entries), len(buffer.getvalue())))
    atomic_write_bytes(out_dir / INFO_NAME, dumps_info(build_info(name or prefix, infos)))
    return infos
