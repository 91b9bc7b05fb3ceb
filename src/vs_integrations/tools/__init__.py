"""Tools built on the core.

The ``vs`` command line (``cli``), resumable JSONL batches (``batch``) and the paper's evaluation
(``evaluation``).
"""
