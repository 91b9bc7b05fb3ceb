"""LangChain adapter for Verbalized Sampling.

``VerbalizedSampler`` (a Runnable), ``VerbalizedChatModel`` (a drop-in chat model),
``VerbalizedOutputParser``, and ``ChatLocalModel`` (the embedded model).

Needs the ``langchain`` extra: ``pip install 'vs-integrations[langchain]'``.
"""

from .chat_model import VerbalizedChatModel
from .local_chat_model import ChatLocalModel
from .output_parser import VerbalizedOutputParser
from .sampler import VerbalizedSampler

__all__ = ["ChatLocalModel", "VerbalizedChatModel", "VerbalizedOutputParser", "VerbalizedSampler"]
