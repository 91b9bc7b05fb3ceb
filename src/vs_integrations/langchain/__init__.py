"""LangChain adapter for Verbalized Sampling.

``VerbalizedSampler`` (a Runnable returning the distribution; streams ``DistributionChunk``
states), ``draw()`` (the LCEL step drawing one answer from it), ``VerbalizedChatModel`` (a
drop-in chat model), ``VerbalizedOutputParser``, ``ChatLocalModel`` (the embedded model), and
the errors that are both the package's and LangChain's.

Needs the ``langchain`` extra: ``pip install 'vs-integrations[langchain]'``.
"""

from ._errors import VSBackendUnreachable, VSContextTooLong, VSOutputParserException, VSRequestRefused
from ._messages import UnsupportedMessage
from .chat_model import VerbalizedChatModel
from .checkpoint import CHECKPOINT_TYPES
from .draw import draw
from .local_chat_model import ChatLocalModel
from .output_parser import VerbalizedOutputParser
from .sampler import DistributionChunk, VerbalizedSampler

__all__ = [
    "CHECKPOINT_TYPES",
    "ChatLocalModel",
    "DistributionChunk",
    "UnsupportedMessage",
    "VSBackendUnreachable",
    "VSContextTooLong",
    "VSOutputParserException",
    "VSRequestRefused",
    "VerbalizedChatModel",
    "VerbalizedOutputParser",
    "VerbalizedSampler",
    "draw",
]
