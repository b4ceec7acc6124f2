import ctypes
import ctypes.util
import sys
import threading
import time
import tracemalloc

import pytest

from views import halves, two_views


@pytest.fixture
def views():
    return two_views()


@pytest.fixture(scope="session")
def digit_halves():
    return halves()


_M_MMAP_THRESHOLD = -3  # glibc's malloc.h


def _anonymous_bytes():
    """Resident anonymous memory of this process: numpy's, torch's, everyone's."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("RssAnon:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no RssAnon in /proc/self/status")


def peak_memory_growth(fn):
    """Peak memory ``fn()`` adds, in bytes, counting torch's allocations too.

    tracemalloc sees only Python's and numpy's allocations, so the resident
    anonymous memory is also sampled every 0.5 ms, from a baseline taken after
    glibc hands its free pages back (``malloc_trim``): memory freed by earlier
    tests cannot then hide new allocations. Memory-mapped file pages are not
    anonymous, so reading a memmap does not count. The larger of the two is
    returned. Linux with glibc only (the test skips elsewhere).

    glibc's dynamic mmap threshold lets large freed blocks stay in a fragmented
    heap, so the resident size would grow with the number of blocks read even
    though nothing is kept; a fixed 1 MiB threshold (``mallopt``) returns each
    large block on ``free``. Afterwards the threshold is left at glibc's
    largest dynamic value, 32 MiB, so later code is not slowed by it.
    """
    if not sys.platform.startswith("linux") or not ctypes.util.find_library("c"):
        pytest.skip("resident memory is read from Linux's /proc with glibc")
    libc = ctypes.CDLL(ctypes.util.find_library("c"))
    libc.mallopt(_M_MMAP_THRESHOLD, 2**20)
    libc.malloc_trim(0)
    base = _anonymous_bytes()
    top, done = [base], threading.Event()

    def watch():
        while not done.is_set():
            top[0] = max(top[0], _anonymous_bytes())
            time.sleep(0.0005)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    tracemalloc.start()
    try:
        fn()
        _, traced = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        done.set()
        watcher.join()
        libc.mallopt(_M_MMAP_THRESHOLD, 32 * 2**20)
    return max(traced, max(top[0], _anonymous_bytes()) - base)
