"""Compatibility shim: Sacred 0.8.7 imports ``pkg_resources`` (from setuptools), which recent Python
environments no longer ship. When the real module is missing we register a minimal stand-in built
on :mod:`importlib.metadata` that provides exactly what Sacred uses: ``working_set`` (iterable, with
``by_key``; each distribution has ``project_name``, ``key``, ``version``, ``_get_metadata``) and
``resource_filename``. Import this module before ``sacred``.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import sys
import types
from pathlib import Path


class _Distribution:
    """The parts of a ``pkg_resources.Distribution`` that Sacred reads."""

    def __init__(self, dist: importlib.metadata.Distribution):
        self._dist = dist
        self.project_name = dist.metadata["Name"] or ""
        self.key = self.project_name.lower()
        self.version = dist.version

    def _get_metadata(self, name: str) -> list[str]:
        text = self._dist.read_text(name)
        return [line.strip() for line in (text or "").splitlines() if line.strip()]


class _WorkingSet:
    """Lazily enumerated installed distributions, like ``pkg_resources.working_set``."""

    def __init__(self):
        self._dists: list[_Distribution] | None = None

    def _load(self) -> list[_Distribution]:
        if self._dists is None:
            self._dists = [_Distribution(d) for d in importlib.metadata.distributions()]
        return self._dists

    def __iter__(self):
        return iter(self._load())

    @property
    def by_key(self) -> dict[str, _Distribution]:
        return {d.key: d for d in self._load()}


def _resource_filename(package: str, resource: str) -> str:
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        raise ValueError(f"package={package!r}: not importable")
    return str(Path(spec.origin).parent / resource)


def install() -> None:
    """Register the stand-in as ``pkg_resources`` unless the real module is importable."""
    if "pkg_resources" in sys.modules or importlib.util.find_spec("pkg_resources") is not None:
        return
    module = types.ModuleType("pkg_resources")
    module.__doc__ = "MrCoM stand-in for setuptools' pkg_resources (importlib.metadata based)."
    module.working_set = _WorkingSet()
    module.resource_filename = _resource_filename
    sys.modules["pkg_resources"] = module


install()
