"""Random access to our shards through their index files: sample i without reading the rest.

The streaming loader (`make_loader`) is what training uses; this is for evaluation,
inspection and any sampler that wants indices (a fixed subset, a curriculum, a
resume point): `IndexedShards(".../shards/_info.json")[i]` gives the sample as
webdataset groups it ({"__key__", "__url__", ext: bytes}), read by seeking to the
byte offsets in `<shard>.index.json`.
"""

import bisect
import json
from pathlib import Path

import torch

from corpusio.shards import INFO_NAME, read_member


class IndexedShards(torch.utils.data.Dataset):
    """A map-style dataset over every sample of a shard folder, in `_info.json` order."""

    def __init__(self, shards: str | Path):
        folder = Path(shards)
        info_path = folder / INFO_NAME if folder.is_dir() else folder
        info = json.loads(info_path.read_text())
        self.folder = info_path.parent
        self._entries: list[list[dict]] = []
        self._paths: list[Path] = []
        for shard in info["shards"]:
            index = json.loads((self.folder / shard["index"]).read_text())
            if len(index["samples"]) != shard["num_samples"]:
                raise ValueError(f"{shard['index']}: index and _info.json disagree on samples")
            self._paths.append(self.folder / shard["name"])
            self._entries.append(index["samples"])
        self._starts = [0]
        for entries in self._entries:
            self._starts.append(self._starts[-1] + len(entries))
        self._files: dict[int, object] = {}  # open shard files, per process

    def __len__(self) -> int:
        return self._starts[-1]

    def locate(self, i: int) -> tuple[int, int]:
        """(shard number, position in that shard) of sample i."""
        if not -len(self) <= i < len(self):
            raise IndexError(f"sample {i} of {len(self)}")
        i %= len(self)
        shard = bisect.bisect_right(self._starts, i) - 1
        return shard, i - self._starts[shard]

    def __getitem__(self, i: int) -> dict:
        shard, position = self.locate(i)
        entry = self._entries[shard][position]
        handle = self._open(shard)
        sample = {"__key__": entry["key"], "__url__": str(self._paths[shard])}
        for ext in entry["members"]:
            sample[ext] = read_member(handle, entry, ext)
        return sample

    def _open(self, shard: int):
        handle = self._files.get(shard)
        if handle is None:
            handle = self._files[shard] = open(self._paths[shard], "rb")  # noqa: SIM115
        return handle

    def close(self) -> None:
        for handle in self._files.values():
            handle.close()
        self._files.clear()

    def __getstate__(self):
        # DataLoader workers open their own files.
        state = dict(self.__dict__)
        state["_files"] = {}
        return state
