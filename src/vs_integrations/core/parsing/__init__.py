"""The stages of the reply parser, one module each, each using only the public names of those below.

``items`` holds what the stages hand on; ``list_scanner``, ``xml_scanner`` and ``json_scanner``
each read one reply format, whole (``extract_*``, ``read_json``) or as it streams (``*Stream``),
the JSON one over ``json_reader`` (the lenient JSON reader); ``detect``
picks the format of a whole reply (:func:`extract`) or of a streaming one
(:class:`StreamDetector`); ``normalise`` turns items into a
:class:`~vs_integrations.core.distribution.Distribution`. :mod:`vs_integrations.core.parser`
is the public facade.
"""

from .detect import StreamDetector, extract
from .items import Extraction, FormatStream, Item
from .json_scanner import LIST_KEYS, PROBABILITY_KEYS, TEXT_KEYS, extract_records
from .normalise import build_distribution, no_candidates_message, read_probability

__all__ = [
    "LIST_KEYS",
    "PROBABILITY_KEYS",
    "TEXT_KEYS",
    "Extraction",
    "FormatStream",
    "Item",
    "StreamDetector",
    "build_distribution",
    "extract",
    "extract_records",
    "no_candidates_message",
    "read_probability",
]
