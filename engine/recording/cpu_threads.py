"""Which thread runs torch's CPU thread pool: the one that runs models, and no other.

torch's CPU wheels parallelise operators with OpenMP (libgomp). libgomp keeps a pool of
worker threads for every thread that starts a parallel region. As soon as a second
thread of the process has used torch (a GUI thread normalising a mosaic, say), there are
more OpenMP threads than cores on a small machine; libgomp then cuts its barrier spinning
to a few hundred iterations, and every operator pays for waking sleeping workers. On a
2-core machine this made ResNet-101's forward pass to layer3 about 1.5 times slower in
the engine thread than in a script (BENCHMARKS.md, "What bounds figure 1").

So the thread that runs models calls :func:`run_models_here` (it gets torch's default
number of threads, or the number asked for), and every other thread that touches torch
calls :func:`stay_single_threaded` before its first operator, so that it never starts a
pool of its own. Both settings are per thread: neither changes the other thread's.

One subtlety: torch sets up a thread's count lazily, from the last count any thread
asked for, at that thread's first operator. Both functions therefore let torch do that
set-up first (``torch.get_num_threads()``) and then set the count, so that a later call
in another thread cannot leak into this one.
"""

from __future__ import annotations

import torch

#: torch's default intra-op thread count (``OMP_NUM_THREADS`` if set, else the cores),
#: read when this module is first imported, before any thread changes its own.
DEFAULT_THREADS = torch.get_num_threads()


def run_models_here(threads: int | None = None) -> int:
    """Give the calling thread torch's CPU thread pool; returns the number of threads.

    Parameters
    ----------
    threads : int, optional
        Intra-op threads for this thread's operators; :data:`DEFAULT_THREADS` by default.
    """
    n = DEFAULT_THREADS if threads is None else int(threads)
    if n < 1:
        raise ValueError(f"threads must be at least 1, not {threads}")
    _set_this_thread(n)
    return n


def stay_single_threaded() -> None:
    """Run the calling thread's torch operators on that thread alone (no OpenMP pool)."""
    _set_this_thread(1)


def _set_this_thread(n: int) -> None:
    torch.get_num_threads()  # torch's lazy per-thread set-up happens now, not at a later operator
    torch.set_num_threads(n)


def threads_here() -> int:
    """The number of intra-op threads the calling thread's operators use."""
    return torch.get_num_threads()
