"""The Cauldron row: `images` (a list of images) and `texts` (a list of {user, assistant,
source} turns), as published in HuggingFaceM4/the_cauldron.

FEATURES is the single definition of the layout; SCHEMA is its Arrow form, carrying the
`huggingface` metadata, so parquet written with it loads back through `datasets` with real
Image features and concatenates with any other Cauldron-shaped table without a cast.
"""

import datasets
import pyarrow as pa

TURN_FEATURE = {
    "user": datasets.Value("string"),
    "assistant": datasets.Value("string"),
    "source": datasets.Value("string"),
}
FEATURES = datasets.Features(
    {"images": datasets.Sequence(datasets.Image()), "texts": [TURN_FEATURE]}
)
SCHEMA = FEATURES.arrow_schema


def image_struct(data: bytes) -> dict:
    """An image cell holding the encoded bytes as they came (no path, no re-encoding)."""
    return {"bytes": data, "path": None}


def turn(user: str, assistant: str, source: str) -> dict:
    return {"user": user, "assistant": assistant, "source": source}


def cauldron_row(images: list[bytes], turns: list[tuple[str, str]], source: str) -> dict:
    """One row: every image of the example and its (user, assistant) turns in order."""
    return {
        "images": [image_struct(data) for data in images],
        "texts": [turn(user, assistant, source) for user, assistant in turns],
    }


def rows_table(rows: list[dict]) -> pa.Table:
    """Rows as an Arrow table with SCHEMA, ready for parquet."""
    return pa.Table.from_pylist(rows, schema=SCHEMA)
