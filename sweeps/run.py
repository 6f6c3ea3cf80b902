"""``python -m sweeps.run [COMMAND] [with NAMED_CONFIG... key=value...]``: one Sacred run of MrCoM.

Commands: collect, train, adapt, evaluate, pipeline (default). Named configs: smoke, quick, paper;
the protocols (table1-a ... table3-msk_f); ablation-wo_d, ablation-wo_c, ablation-wo_ls, ablation-wo_lv.

Options (taken out before Sacred parses the rest):
  --set KEY=VALUE   a config field, as in every MrCoM command (VALUE parsed as JSON when possible;
                    repeat it), e.g. --set worldmodel.steps=500 --set adapt.real_steps=2000;
                    the same as Sacred's `with worldmodel.steps=500`, but a bad key is refused
                    at once, naming it and the allowed ones
  --file DIR        FileStorageObserver folder (default runs/sacred, unless --mongo or --sql is given)
  --mongo URL       record to MongoDB (MongoObserver), e.g. mongodb://host:27017/mrcom
  --sql URL         record to an SQL database (SqlObserver), e.g. postgresql://user@host/sacred
  (Give --file as well to record to both; the database then assigns the run ids.)
  --jax-cache DIR   JAX persistent compilation cache (default runs/jax_cache)
  -h, --help        this text, then Sacred's own help

Examples:
  python -m sweeps.run pipeline with quick table1-a
  python -m sweeps.run train with smoke table2-b ablation-wo_ls worldmodel.lambda_s=0.3 seed=2
  python -m sweeps.run pipeline with quick --set worldmodel.steps=500 --set seed=2
  python -m sweeps.run print_config with paper table3-add_g
"""

from __future__ import annotations

import sys
from typing import Any

from mrcom.agents import PipelineConfig, parse_overrides
from sweeps.layout import RunsDir

_VALUE_FLAGS = {
    "--file": "file",
    "--mongo": "mongo",
    "--sql": "sql",
    "--jax-cache": "jax_cache",
    "--set": "set",
}
PROG = "python -m sweeps.run"


def split_args(argv: list[str]) -> tuple[dict, list[str]]:
    """Separate this wrapper's options from the arguments that go to Sacred.

    Arguments:
        argv: the arguments after the program name.

    Returns:
        ``(options, rest)``: options has keys file, mongo, sql, jax_cache, set (a list), help.

    Raises:
        ValueError: an option without its value.
    """
    opts: dict[str, Any] = {
        "file": None,
        "mongo": None,
        "sql": None,
        "jax_cache": str(RunsDir().jax_cache),
        "set": [],
        "help": False,
    }
    rest: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        key, _, inline = arg.partition("=")
        if key in _VALUE_FLAGS:
            if inline:
                value = inline
            elif i + 1 < len(argv):
                i += 1
                value = argv[i]
            else:
                raise ValueError(f"{key} needs a value")
            if key == "--set":
                opts["set"].append(value)
            else:
                opts[_VALUE_FLAGS[key]] = value
        elif arg in ("-h", "--help"):
            opts["help"] = True
        else:
            rest.append(arg)
        i += 1
    return opts, rest


def set_updates(items: list[str]) -> list[str]:
    """``--set`` items -> Sacred ``with`` updates (``key=<Python literal>``), keys checked against the config.

    Arguments:
        items: ``KEY=VALUE`` strings (the grammar of ``mrcom.agents``' ``parse_overrides``).

    Returns:
        ``["worldmodel.steps=500", "envs.engine='mjx'", ...]``.

    Raises:
        ValueError: a malformed item or a key the config does not have (naming it and the allowed ones).
    """
    if not items:
        return []
    return [f"{key}={value!r}" for key, value in parse_overrides(items, allowed=_allowed()).items()]


def _allowed() -> dict[str, Any]:
    """The keys of the experiment's config: ``PipelineConfig.to_dict()`` plus the run keys."""
    from sweeps.experiment import RUN_KEYS

    return {**PipelineConfig().to_dict(), **{k: None for k in RUN_KEYS if k != "command"}}


def check_with_keys(rest: list[str]) -> None:
    """Refuse a Sacred ``with key=value`` update whose key the config lacks, as ``--set`` does (Sacred
    itself would answer with its ConfigAddedError and exit 1)."""
    if "with" not in rest:
        return
    keys = []
    for token in rest[rest.index("with") + 1 :]:
        if token.startswith("-"):
            break
        if "=" in token:
            keys.append(token.split("=", 1)[0] + "=0")
    try:
        parse_overrides(keys, allowed=_allowed())
    except ValueError as e:
        raise ValueError("with " + str(e).removeprefix("--set ")) from None


def with_updates(rest: list[str], updates: list[str]) -> list[str]:
    """Sacred's arguments with ``updates`` added to its ``with`` list (after the user's own)."""
    if not updates:
        return rest
    if "with" in rest:
        i = rest.index("with") + 1
        while i < len(rest) and not rest[i].startswith("-"):
            i += 1
        return [*rest[:i], *updates, *rest[i:]]
    i = 1 if rest and not rest[0].startswith("-") else 0  # after the command, if any
    return [*rest[:i], "with", *updates, *rest[i:]]


def main(argv: list[str] | None = None) -> None:
    """Entry point of ``python -m sweeps.run``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    prog = PROG
    try:
        opts, rest = split_args(argv)
        check_with_keys(rest)
        rest = with_updates(rest, set_updates(opts["set"]))
    except ValueError as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        sys.exit(2)
    from sweeps.experiment import ex

    if opts["help"]:
        print(__doc__)
        print("Named configs:", " ".join(sorted(ex.named_configs)))
        print("\nSacred's options:\n")
        ex.run_commandline([prog, "--help"])
        return
    from sweeps._jaxcache import enable_compilation_cache
    from sweeps._observers import make_observers

    if opts["file"] is None and not (opts["mongo"] or opts["sql"]):
        opts["file"] = str(RunsDir().sacred)
    enable_compilation_cache(opts["jax_cache"])
    ex.observers.extend(make_observers(opts["file"], opts["mongo"], opts["sql"]))
    run = ex.run_commandline([prog, *rest])
    if run is None or run.status != "COMPLETED":
        sys.exit(1)


if __name__ == "__main__":
    main()
