"""DSPy adapter: the ``VerbalizedSampling`` module and the embedded model as a DSPy LM.

Needs the ``dspy`` extra: ``pip install 'vs-integrations[dspy]'`` (``local`` for ``local_lm``).
"""

from .local_engine import AsyncLocalEngine, LocalEngine, local_lm
from .module import VerbalizedSampling, verbalized_signature

__all__ = ["AsyncLocalEngine", "LocalEngine", "VerbalizedSampling", "local_lm", "verbalized_signature"]
