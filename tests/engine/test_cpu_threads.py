"""Each thread keeps its own torch thread count: the engine's pool, a single-threaded GUI."""

import threading

import pytest
import torch

from engine.recording.cpu_threads import DEFAULT_THREADS, run_models_here, stay_single_threaded, threads_here


def engine_thread_around(gui_step, claim: int) -> dict:
    """Counts an engine thread sees: after claiming ``claim`` threads, and after ``gui_step``.

    The engine thread claims its count before its first operator; ``gui_step`` then runs
    in the calling thread (the window's order). The caller's count is restored after.
    """
    seen = {}
    claimed, gui_done = threading.Event(), threading.Event()

    def engine():
        seen["claimed"] = run_models_here(claim)
        claimed.set()
        gui_done.wait(10)
        seen["after"] = threads_here()

    thread = threading.Thread(target=engine)
    thread.start()
    try:
        assert claimed.wait(10)
        gui_step()
    finally:
        gui_done.set()
        thread.join(10)
        torch.set_num_threads(DEFAULT_THREADS)
    return seen


def test_the_model_thread_keeps_its_pool_when_another_thread_goes_single_threaded():
    gui = {}

    def gui_step():
        stay_single_threaded()
        gui["threads"] = threads_here()

    assert engine_thread_around(gui_step, claim=3) == {"claimed": 3, "after": 3}
    assert gui == {"threads": 1}


def test_a_claim_made_before_the_threads_first_operator_survives_a_later_change_elsewhere():
    # torch sets a thread's count up lazily, at its first operator, from the last count
    # asked for anywhere; here the engine's first operator comes after the GUI's change.
    assert engine_thread_around(stay_single_threaded, claim=2) == {"claimed": 2, "after": 2}


def test_a_new_model_thread_gets_the_default_even_after_another_thread_changed_its_own():
    seen = {}
    try:
        stay_single_threaded()
        thread = threading.Thread(target=lambda: seen.update(claimed=run_models_here()))
        thread.start()
        thread.join(10)
    finally:
        torch.set_num_threads(DEFAULT_THREADS)
    assert seen == {"claimed": DEFAULT_THREADS} and DEFAULT_THREADS >= 1


def test_a_thread_count_below_one_is_refused_with_the_number():
    with pytest.raises(ValueError, match="at least 1, not 0"):
        run_models_here(0)
