"""``python -m sweeps.run [COMMAND] [with NAMED_CONFIG... key=value...]``: one Sacred run of MrCoM.

Commands: collect, train, adapt, evaluate, pipeline (default). Named configs: smoke, quick, paper;
the protocols (table1-a ... table3-msk_f); ablation-wo_d, ablation-wo_c, ablation-wo_ls, ablation-wo_lv.

Options (taken out before Sacred parses the rest):
  --file DIR        FileStorageObserver folder (default runs/sacred, unless --mongo or --sql is given)
  --mongo URL       record to MongoDB (MongoObserver), e.g. mongodb://host:27017/mrcom
  --sql URL         record to an SQL database (SqlObserver), e.g. postgresql://user@host/sacred
  (Give --file as well to record to both; the database then assigns the run ids.)
  --jax-cache DIR   JAX persistent compilation cache (default runs/jax_cache)
  -h, --help        this text, then Sacred's own help

Examples:
  python -m sweeps.run pipeline with quick table1-a
  python -m sweeps.run train with smoke table2-b ablation-wo_ls worldmodel.lambda_s=0.3 seed=2
  python -m sweeps.run print_config with paper table3-add_g
"""

from __future__ import annotations

import sys

_VALUE_FLAGS = {"--file": "file", "--mongo": "mongo", "--sql": "sql", "--jax-cache": "jax_cache"}


def split_args(argv: list[str]) -> tuple[dict, list[str]]:
    """Separate this wrapper's options from the arguments that go to Sacred.

    Arguments:
        argv: the arguments after the program name.

    Returns:
        ``(options, rest)``: options has keys file, mongo, sql, jax_cache, help.
    """
    opts = {"file": None, "mongo": None, "sql": None, "jax_cache": "runs/jax_cache", "help": False}
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
                raise SystemExit(f"error: {key} needs a value")
            opts[_VALUE_FLAGS[key]] = value
        elif arg in ("-h", "--help"):
            opts["help"] = True
        else:
            rest.append(arg)
        i += 1
    return opts, rest


def main(argv: list[str] | None = None) -> None:
    """Entry point of ``python -m sweeps.run``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    opts, rest = split_args(argv)
    from sweeps.experiment import ex

    prog = "python -m sweeps.run"
    if opts["help"]:
        print(__doc__)
        print("Named configs:", " ".join(sorted(ex.named_configs)))
        print("\nSacred's options:\n")
        ex.run_commandline([prog, "--help"])
        return
    from sweeps._jaxcache import enable_compilation_cache
    from sweeps._observers import make_observers

    if opts["file"] is None and not (opts["mongo"] or opts["sql"]):
        opts["file"] = "runs/sacred"
    enable_compilation_cache(opts["jax_cache"])
    ex.observers.extend(make_observers(opts["file"], opts["mongo"], opts["sql"]))
    run = ex.run_commandline([prog, *rest])
    if run is None or run.status != "COMPLETED":
        sys.exit(1)


if __name__ == "__main__":
    main()
