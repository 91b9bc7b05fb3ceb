"""The local Ray cluster the Ray tests (unit and integration) run on, one per test module."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import ray


@contextmanager
def local_cluster() -> Iterator[None]:
    """A 2-CPU Ray cluster in this process, quiet (no dashboard, no progress bars), shut down after."""
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    ray.data.DataContext.get_current().enable_progress_bars = False
    try:
        yield
    finally:
        ray.shutdown()
