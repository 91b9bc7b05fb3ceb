"""DSPy adapter: the ``VerbalizedSampling`` module, its metric, and the embedded model as a DSPy LM.

Needs the ``dspy`` extra: ``pip install 'vs-integrations[dspy]'`` (``local`` for ``local_lm``).
"""

from .errors import (
    VSAdapterParseError,
    VSContextWindowExceeded,
    VSLMInvalidRequestError,
    VSLMRateLimitError,
    VSLMRequestRefused,
    VSLMServerError,
    VSLMTimeoutError,
    VSLMTransportError,
)
from .local_engine import AsyncLocalEngine, LocalEngine, local_lm
from .metric import DistributionMetric
from .module import VerbalizedSampling, verbalized_signature

__all__ = [
    "AsyncLocalEngine",
    "DistributionMetric",
    "LocalEngine",
    "VSAdapterParseError",
    "VSContextWindowExceeded",
    "VSLMInvalidRequestError",
    "VSLMRateLimitError",
    "VSLMRequestRefused",
    "VSLMServerError",
    "VSLMTimeoutError",
    "VSLMTransportError",
    "VerbalizedSampling",
    "local_lm",
    "verbalized_signature",
]
