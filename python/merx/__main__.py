"""Command line: fit a linear mixed model and print lme4's summary.

    python -m merx fit DATA.csv "Reaction ~ Days + (Days | Subject)" [--ml]
    python -m merx fit --example sleepstudy "Reaction ~ Days + (Days | Subject)"
    python -m merx examples

Bad input (unknown file or column, malformed formula, ...) prints one line
``merx: error: ...`` on stderr and exits with status 2.
"""

from __future__ import annotations

import argparse
import sys

from .errors import MerxError

USAGE = (
    "python -m merx fit DATA.csv FORMULA [--ml] [--weights COL] [--offset COL] [--print]\n"
    "       python -m merx fit --example NAME FORMULA [--ml] [--print]\n"
    "       python -m merx examples"
)


SHORT_USAGE = "python -m merx fit DATA.csv FORMULA [--ml] | fit --example NAME FORMULA | examples"


class _UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line instead of usage + traceback-like output
        raise _UsageError(message)


def _build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m merx", usage=USAGE, description="Linear mixed-effects models (lme4's lmer).")
    sub = p.add_subparsers(dest="command", parser_class=_Parser)
    f = sub.add_parser("fit", usage=USAGE, help="fit a model and print its summary")
    f.add_argument("args", nargs="+", metavar="DATA FORMULA", help="CSV file and formula (only the formula with --example)")
    f.add_argument("--example", metavar="NAME", help="use a bundled data set instead of a CSV file")
    f.add_argument("--ml", action="store_true", help="maximum likelihood instead of REML")
    f.add_argument("--weights", metavar="COL", help="column of prior weights")
    f.add_argument("--offset", metavar="COL", help="column of offsets")
    f.add_argument("--print", dest="short", action="store_true", help="print the short form (print(fit)) instead of summary")
    sub.add_parser("examples", usage=USAGE, help="list the bundled data sets")
    return p


def _fit(ns) -> str:
    from . import datasets

    if ns.example is not None:
        if len(ns.args) != 1:
            raise _UsageError(f"with --example give only the formula, got {len(ns.args)} arguments")
        formula = ns.args[0]
        data = datasets.load_example(ns.example)
        data_name = ns.example
    else:
        if len(ns.args) != 2:
            raise _UsageError(
                f"fit needs a data file and a formula (or --example NAME and a formula), got {len(ns.args)} arguments"
            )
        path, formula = ns.args
        data = datasets.read_data(path)
        data_name = path
    from .models.lmer import lmer

    fit = lmer(formula, data, REML=not ns.ml, weights=ns.weights, offset=ns.offset, data_name=data_name)
    return str(fit) if ns.short else str(fit.summary())


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        ns = _build_parser().parse_args(argv)
        if ns.command is None:
            raise _UsageError("no command given (use 'fit' or 'examples')")
        if ns.command == "examples":
            from .datasets import list_examples

            print("\n".join(list_examples()))
            return 0
        print(_fit(ns))
        return 0
    except _UsageError as e:
        print(f"merx: error: {e} (usage: {SHORT_USAGE})", file=sys.stderr)
        return 2
    except MerxError as e:
        print(f"merx: error: {' '.join(str(e).split())}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"merx: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
