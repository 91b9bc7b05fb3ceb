"""LangChain adapter for Verbalized Sampling.

``VerbalizedSampler`` (a Runnable returning the distribution; streams ``DistributionChunk``
states), ``draw()`` (the LCEL step drawing one answer from it), ``VerbalizedChatModel`` (a
drop-in chat model), ``VerbalizedOutputParser``, and ``ChatLocalModel`` (the embedded model).

Needs the ``langchain`` extra: ``pip install 'vs-integrations[langchain]'``.
"""

from .chat_model import VerbalizedChatModel
from .draw import Draw, draw
from .local_chat_model import ChatLocalModel
from .output_parser import VerbalizedOutputParser
from .sampler import DistributionChunk, VerbalizedSampler

__all__ = [
    "ChatLocalModel",
    "DistributionChunk",
    "Draw",
    "VerbalizedChatModel",
    "VerbalizedOutputParser",
    "VerbalizedSampler",
    "draw",
]
