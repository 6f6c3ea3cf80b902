"""mrcom.agents: SAC behaviour policies, multi-scenario datasets, scenario adaptation and evaluation."""

from ._buffer import EpisodeBuffer as EpisodeBuffer
from ._buffer import TransitionBuffer as TransitionBuffer
from ._loop import LoopResult as LoopResult
from ._loop import evaluate_policy as evaluate_policy
from ._loop import run_sac as run_sac
from ._sac import (
    Batch as Batch,
)
from ._sac import (
    SACConfig as SACConfig,
)
from ._sac import (
    SACState as SACState,
)
from ._sac import (
    sac_act as sac_act,
)
from ._sac import (
    sac_init as sac_init,
)
from ._sac import (
    sac_update as sac_update,
)
