"""The Idefics3 additions to the Cauldron, one converter per subset.

Each module reads its dataset's published layout (`read_source(path, images=None)` yields
`SourceItem`s) and turns an item into a Cauldron row (`convert(item, seed)` returns the row
dict or a `Reject`). REGISTRY maps the subset name, which is also each turn's `source`, to
its converter.
"""

from cauldron.subsets import cord_v2, docmatix, geo170k, iiw400, lnqa, sharegpt4o
from cauldron.subsets.base import Converter, SourceImage, SourceItem

REGISTRY: dict[str, Converter] = {
    module.NAME: Converter(module.NAME, module.read_source, module.convert)
    for module in (cord_v2, lnqa, sharegpt4o, iiw400, geo170k, docmatix)
}

__all__ = ["REGISTRY", "Converter", "SourceImage", "SourceItem"]
