"""The stages of the reply parser, one module each.

``detect`` picks the format, ``json_scanner`` / ``xml_scanner`` / ``list_scanner`` find the
items, ``normalise`` turns items into a :class:`~vs_integrations.core.distribution.Distribution`,
``stream`` reads a reply as it arrives. :mod:`vs_integrations.core.parser` is the public facade.
"""

from .detect import extract
from .items import Extraction, Item
from .json_scanner import LIST_KEYS, PROBABILITY_KEYS, TEXT_KEYS, extract_records
from .normalise import build_distribution, read_probability

__all__ = [
    "LIST_KEYS",
    "PROBABILITY_KEYS",
    "TEXT_KEYS",
    "Extraction",
    "Item",
    "build_distribution",
    "extract",
    "extract_records",
    "read_probability",
]
