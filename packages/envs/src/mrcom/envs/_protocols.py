"""Named train/evaluate distributions for every protocol of the paper (Tables 1-3, Figure 3)."""

from __future__ import annotations

import dataclasses

from ._scenario import ScenarioDistribution

__all__ = ["Protocol", "PROTOCOLS", "OOD_SAMPLING"]

OOD_SAMPLING: tuple[str, ...] = ("outside", "wide")


@dataclasses.dataclass(frozen=True)
class Protocol:
    """A training distribution and the distribution of the target scenarios it is evaluated on.

    Arguments:
        name: key in `PROTOCOLS`.
        train: distribution of the training scenarios.
        eval: distribution of the target (evaluation) scenarios. For an OOD protocol it is the wider box
            with ``outside=train``: every target has at least one of length scale, size scale and target
            speed outside the training range (the paper: "the test scenario's distributions exceed those
            of the training set").
        in_distribution: whether ``eval`` equals ``train`` (ID) or exceeds it (OOD).
    """

    name: str
    train: ScenarioDistribution
    eval: ScenarioDistribution
    in_distribution: bool

    def eval_distribution(self, ood_sampling: str = "outside") -> ScenarioDistribution:
        """The target distribution: ``"outside"`` the training box (default) or the ``"wide"`` box whole."""
        if ood_sampling not in OOD_SAMPLING:
            raise ValueError(f"ood_sampling={ood_sampling!r}: must be one of {OOD_SAMPLING}")
        if ood_sampling == "wide":
            return dataclasses.replace(self.eval, outside=None)
        return self.eval

    def to_dict(self) -> dict:
        """Plain-Python dict."""
        return {
            "name": self.name,
            "train": self.train.to_dict(),
            "eval": self.eval.to_dict(),
            "in_distribution": self.in_distribution,
        }


def _t1(alpha: float, beta: float) -> ScenarioDistribution:
    return ScenarioDistribution(alpha=alpha, beta=beta)


def _t2(alpha: float) -> ScenarioDistribution:
    return ScenarioDistribution(alpha=alpha, fixed_target_fraction=0.5)


def _build() -> dict[str, Protocol]:
    rows = {
        # Table 1: dynamics + reward.
        "table1-a": (_t1(5, 20), _t1(5, 20), True),
        "table1-b": (_t1(5, 20), _t1(10, 50), False),
        "table1-c": (_t1(10, 50), _t1(10, 50), True),
        "table1-d": (_t1(10, 50), _t1(20, 100), False),
        # Table 2: dynamics only, target fixed at 0.5 v_max.
        "table2-a": (_t2(5), _t2(5), True),
        "table2-b": (_t2(5), _t2(10), False),
        "table2-c": (_t2(10), _t2(10), True),
        "table2-d": (_t2(10), _t2(20), False),
    }
    # Table 3: observation functions. The paper does not say which dynamics/reward ranges it uses there;
    # we take Table 1(a)'s (alpha=5, beta=20) and evaluate in distribution with the same function.
    for fn in ("add_g", "add_d", "msk_r", "msk_f"):
        d = ScenarioDistribution(alpha=5, beta=20, obs_fn=fn)
        rows[f"table3-{fn}"] = (d, d, True)
    return {
        name: Protocol(name, train, ev if iid else dataclasses.replace(ev, outside=train), iid)
        for name, (train, ev, iid) in rows.items()
    }


PROTOCOLS: dict[str, Protocol] = _build()
