"""corpusio.tables: Parquet files that depend only on the rows, not on their order."""

import io
import random

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from corpusio.tables import file_count, file_of, row_digest, table_bytes

SCHEMA = pa.schema(
    [
        ("key", pa.string()),
        ("n", pa.int64()),
        ("blob", pa.binary()),
        ("texts", pa.list_(pa.struct([("user", pa.string()), ("assistant", pa.string())]))),
    ]
)


def _rows(count: int) -> list[dict]:
    return [
        {
            "key": f"doc{i}",
            "n": i,
            "blob": bytes([i % 256]) * (i % 7),
            "texts": [{"user": f"q{i}", "assistant": None if i % 3 else f"a{i}"}],
        }
        for i in range(count)
    ]


def test_the_same_rows_in_any_order_give_the_same_bytes():
    rows = _rows(300)
    shuffled = rows[:]
    random.Random(1).shuffle(shuffled)
    first, second = table_bytes(rows, SCHEMA), table_bytes(shuffled, SCHEMA)
    assert first == second
    table = pq.read_table(io.BytesIO(first))
    assert table.schema.equals(SCHEMA) and sorted(table.to_pylist(), key=lambda r: r["n"]) == rows
    assert table_bytes(rows[:-1], SCHEMA) != first


def test_digest_tells_types_and_structure_apart():
    values = [1, "1", True, 1.0, b"1", [1], {"a": 1}, {"a": "1"}, None, ["1", None], [None, "1"]]
    assert len({row_digest(v) for v in values}) == len(values)
    assert row_digest({"a": 1, "b": 2}) == row_digest({"b": 2, "a": 1})
    with pytest.raises(TypeError):
        row_digest({"a": object()})


def test_files_are_counted_by_bytes_and_rows_spread_over_them():
    assert file_count(0, 0) == 1
    assert file_count(10, 100, file_bytes=1000) == 1
    assert file_count(10, 2500, file_bytes=1000) == 3
    spread = {file_of(row_digest(r), 4) for r in _rows(200)}
    assert spread == {0, 1, 2, 3}


def test_an_empty_table_keeps_its_schema():
    table = pq.read_table(io.BytesIO(table_bytes([], SCHEMA)))
    assert table.num_rows == 0 and table.schema.equals(SCHEMA)
