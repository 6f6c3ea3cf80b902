"""Suite-wide guard for the long-lived pytest worker processes (every test directory sees this file).

XLA's CPU backend maps memory for every program it compiles (about six mappings each, measured) and keeps
them until the program's cache entry goes. A worker that runs half the suite compiles thousands of
programs; near the kernel's ``vm.max_map_count`` (65530 by default) a further ``mmap`` fails and the
compiler segfaults. So after each test module, when the process holds more than ``MAP_BUDGET`` mappings,
JAX's caches are cleared: below the budget nothing is dropped, and the session-scoped fixtures that share
compiled programs between modules keep them.
"""

from __future__ import annotations

import gc
import os
import sys

import pytest

MAP_BUDGET = 20_000  # a third of the default vm.max_map_count
_MAPS_LOG = os.environ.get("MRCOM_TEST_MAPS_LOG")  # diagnosis: one "count module" line per module


def _mappings() -> int:
    try:
        with open("/proc/self/maps", "rb") as maps:
            return sum(1 for _ in maps)
    except OSError:  # not Linux: nothing to guard
        return 0


@pytest.fixture(scope="module", autouse=True)
def _release_compiled_programs(request):
    yield
    count = _mappings()
    if _MAPS_LOG:
        with open(_MAPS_LOG, "a") as log:
            log.write(f"{os.getpid()} {count} {request.node.nodeid}\n")
    if count > MAP_BUDGET and "jax" in sys.modules:
        sys.modules["jax"].clear_caches()
        gc.collect()
