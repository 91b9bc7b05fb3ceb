"""Verbalized Sampling over Ray Data (the ``ray`` extra): see :mod:`vs_integrations.ray.base`."""

from .base import OUTPUT_TYPES, error_record, postprocess, preprocess, verbalize

__all__ = ["OUTPUT_TYPES", "error_record", "postprocess", "preprocess", "verbalize"]
