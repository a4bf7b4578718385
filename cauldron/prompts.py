"""User phrasings for the subsets whose source has no question of its own.

Each subset keeps its phrasings in one place. The phrasing of a row is drawn from a hash of
(seed, subset, row id), so a row gets the same prompt whatever order, worker or bundle it
is processed in, and a different seed gives a different but equally stable draw.
"""

import hashlib

PROMPTS: dict[str, tuple[str, ...]] = {
    "cord_v2": (
        "Extract the information on this receipt and return it as JSON.",
        "Read the receipt in the image and give its contents as a JSON object.",
        "Write the receipt's menu items and totals as JSON.",
        "Parse this receipt into JSON: list the items with their counts and prices, "
        "then the subtotal and total fields.",
        "What does this receipt say? Answer with JSON only.",
    ),
    "iiw400": (
        "Describe this image in as much detail as you can.",
        "Give a detailed description of the image.",
        "Write a thorough, detailed description of everything visible in this picture.",
        "Describe the image in detail, covering the objects, their colors, positions and any text.",
        "What does this image show? Please describe it in full detail.",
    ),
}


def prompt_index(seed: int, subset: str, row_id: str, count: int) -> int:
    """A stable index in range(count) for one row; blake2b, never Python's salted hash."""
    key = f"{seed}\x1f{subset}\x1f{row_id}".encode()
    digest = hashlib.blake2b(key, digest_size=8).digest()
    return int.from_bytes(digest, "big") % count


def draw(seed: int, subset: str, row_id: str) -> str:
    """The user phrasing for one row of `subset`."""
    options = PROMPTS[subset]
    return options[prompt_index(seed, subset, row_id, len(options))]
