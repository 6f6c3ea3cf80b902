"""Jitting with a per-config choice of XLA's backend optimization level."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax

# XLA's backend optimization level 0: LLVM does little. On a CPU the programs compile about 2x faster
# and run about 2.5x slower (benchmarks/worldmodel.py), which pays where compiling is most of the
# time: the smoke preset's tiny models and budgets.
FAST_COMPILE_OPTIONS: dict[str, Any] = {"xla_backend_optimization_level": 0}


def jit_by_config(fast_compile: Callable[..., bool]) -> Callable[[Callable], Callable]:
    """Decorator: `eqx.filter_jit(fn)`, plus a copy compiled with `FAST_COMPILE_OPTIONS` that is used
    when `fast_compile(*args, **kwargs)` is True (read outside the trace, e.g. from a static config).
    Called under another trace (JAX allows compiler options on top-level jits only), it is the
    plain copy, inlined into the caller's program.

    Arguments:
        fast_compile: picks the copy from the call's arguments.

    Returns:
        A decorator; the decorated function dispatches to one of two jitted copies, which it
        keeps as `.jitted` (plain, fast-compile).
    """

    def decorate(fn: Callable) -> Callable:
        optimized = eqx.filter_jit(fn)
        # `compiler_options` reaches jax.jit through filter_jit's keywords (not in its type stubs)
        quick = eqx.filter_jit(fn, compiler_options=FAST_COMPILE_OPTIONS)  # type: ignore[call-overload]

        @functools.wraps(fn)
        def call(*args, **kwargs):
            nested = any(isinstance(x, jax.core.Tracer) for x in jax.tree.leaves((args, kwargs)))
            fast = not nested and fast_compile(*args, **kwargs)
            return (quick if fast else optimized)(*args, **kwargs)

        call.jitted = (optimized, quick)  # type: ignore[attr-defined]
        return call

    return decorate
