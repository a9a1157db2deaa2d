"""Each thread keeps its own torch thread count: the engine's pool, a single-threaded GUI."""

import threading

import pytest
import torch

from engine.cpu_threads import DEFAULT_THREADS, run_models_here, stay_single_threaded, threads_here


def test_the_model_thread_keeps_its_pool_when_another_thread_goes_single_threaded():
    seen = {}
    claimed, gui_done = threading.Event(), threading.Event()

    def engine():
        seen["claimed"] = run_models_here(3)
        seen["before"] = threads_here()
        claimed.set()
        gui_done.wait(10)
        seen["after"] = threads_here()

    thread = threading.Thread(target=engine)
    thread.start()
    try:
        assert claimed.wait(10)
        stay_single_threaded()
        assert threads_here() == 1
    finally:
        gui_done.set()
        thread.join(10)
        torch.set_num_threads(DEFAULT_THREADS)
    assert seen == {"claimed": 3, "before": 3, "after": 3}


def test_a_new_model_thread_gets_the_default_even_after_another_thread_changed_its_own():
    seen = {}
    try:
        stay_single_threaded()

        def engine():
            seen["claimed"] = run_models_here()

        thread = threading.Thread(target=engine)
        thread.start()
        thread.join(10)
    finally:
        torch.set_num_threads(DEFAULT_THREADS)
    assert seen["claimed"] == DEFAULT_THREADS
    assert DEFAULT_THREADS >= 1


def test_a_thread_count_below_one_is_refused_with_the_number():
    with pytest.raises(ValueError, match="at least 1, not 0"):
        run_models_here(0)


def test_a_claim_made_before_the_threads_first_operator_survives_a_later_change_elsewhere():
    # torch sets a thread's count up lazily from the last count asked for anywhere; the
    # engine claims its pool before its first operator, and the GUI thread changes its own
    # afterwards (the order in the window).
    seen = {}
    claimed, gui_done = threading.Event(), threading.Event()

    def engine():
        run_models_here(2)
        claimed.set()
        gui_done.wait(10)
        seen["first operator"] = threads_here()

    thread = threading.Thread(target=engine)
    thread.start()
    try:
        assert claimed.wait(10)
        stay_single_threaded()
    finally:
        gui_done.set()
        thread.join(10)
        torch.set_num_threads(DEFAULT_THREADS)
    assert seen == {"first operator": 2}
