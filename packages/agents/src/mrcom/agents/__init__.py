"""mrcom.agents: SAC behaviour policies, multi-scenario datasets, scenario adaptation and evaluation.

Names load on first use (`lazy_loader` over `__init__.pyi`): the configuration layer (`PipelineConfig`,
`preset`, `PRESETS`, `ABLATIONS`, `METHODS`, `parse_overrides`, `Workdir`, `default_workdir`, the atomic
writers) imports no JAX, so sweeps and analysis can read configs and run folders without loading it.
The commands are in `mrcom.agents.cli` (console scripts `mrcom-pipeline`, `mrcom-collect`,
`mrcom-train`, `mrcom-adapt`).
"""

import lazy_loader as _lazy

__getattr__, __dir__, __all__ = _lazy.attach_stub(__name__, __file__)
