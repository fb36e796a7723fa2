"""One BLAS thread for the engine.

The network's matrix products are small (conv2's per chunk is 800×200 by 200×8), so a second
BLAS thread gains ~5 % at best. But OpenBLAS's worker threads spin while they wait, and on a
2-core machine they fight the window's GUI thread, the training worker, the helper processes
(cnnviz.nn.parallel) and any other process: measured here under load, a batch-32 forward took
69 ms with two BLAS threads and 2.7 ms with one. The cores are used by processes instead.
"""

from __future__ import annotations

import numpy  # noqa: F401  (loads NumPy's BLAS: threadpoolctl limits only libraries already loaded)
from threadpoolctl import threadpool_limits

_limits = None


def use_single_blas_thread() -> None:
    """Limit NumPy's BLAS to one thread for the rest of the process (idempotent)."""
    global _limits
    if _limits is None:
        _limits = threadpool_limits(limits=1, user_api="blas")
