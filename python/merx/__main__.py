"""Command line: fit a linear (lmer) or generalized linear (glmer, with ``--family``) mixed
model and print lme4's summary.

    python -m merx fit DATA.csv "Reaction ~ Days + (Days | Subject)" [--ml]
    python -m merx fit --example sleepstudy "Reaction ~ Days + (Days | Subject)"
    python -m merx fit DATA.csv "cbind(s, f) ~ x + (1 | g)" --family binomial [--link probit] [--nagq 0]
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
    "       python -m merx fit DATA.csv FORMULA --family FAMILY [--link LINK] [--nagq N] [...]\n"
    "       python -m merx fit --example NAME FORMULA [--ml | --family FAMILY ...] [--print]\n"
    "       python -m merx examples"
)


SHORT_USAGE = (
    "python -m merx fit DATA.csv FORMULA [--ml | --family FAMILY [--link LINK] [--nagq N]] "
    "| fit --example NAME FORMULA | examples"
)


class _UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line instead of usage + traceback-like output
        raise _UsageError(message)


def _build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m merx", usage=USAGE, description="Linear and generalized linear mixed-effects models (lme4's lmer and glmer).")
    p.add_argument("--version", action="store_true", help="print merx's version and exit")
    sub = p.add_subparsers(dest="command", parser_class=_Parser)
    f = sub.add_parser("fit", usage=USAGE, help="fit a model and print its summary")
    f.add_argument("args", nargs="+", metavar="DATA FORMULA", help="CSV file and formula (only the formula with --example)")
    f.add_argument("--example", metavar="NAME", help="use a bundled data set instead of a CSV file")
    f.add_argument("--ml", action="store_true", help="maximum likelihood instead of REML")
    f.add_argument("--weights", metavar="COL", help="column of prior weights")
    f.add_argument("--offset", metavar="COL", help="column of offsets")
    f.add_argument("--ddf", metavar="METHOD", default=None,
                   help="lmer's t tests: Satterthwaite (default, as lmerTest), Kenward-Roger, or lme4 (lme4's own summary)")
    f.add_argument("--print", dest="short", action="store_true", help="print the short form (print(fit)) instead of summary")
    f.add_argument("--family", metavar="FAMILY", help="fit a GLMM (glmer) of this family: binomial, poisson, Gamma, inverse.gaussian or gaussian")
    f.add_argument("--link", metavar="LINK", help="link function of --family (default: the family's canonical link)")
    f.add_argument("--nagq", metavar="N", type=int, help="glmer's nAGQ: 1 (default, Laplace), 0 (faster) or more (quadrature)")
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
    if ns.family is None:
        if ns.link is not None or ns.nagq is not None:
            raise _UsageError("--link and --nagq need --family (they apply to glmer)")
        from .models.lmer import lmer

        fit = lmer(formula, data, REML=not ns.ml, weights=ns.weights, offset=ns.offset, data_name=data_name)
    else:
        # glmer always fits by maximum likelihood: --ml changes nothing there
        from .families import resolve_family
        from .models.glmer import glmer

        family = resolve_family(ns.family)
        if ns.link is not None:
            family = type(family)(link=ns.link)
        nagq = 1 if ns.nagq is None else ns.nagq
        fit = glmer(formula, data, family, weights=ns.weights, offset=ns.offset, nAGQ=nagq, data_name=data_name)
    if ns.short:
        return str(fit)
    return str(fit.summary(ddf=ns.ddf)) if ns.family is None else str(fit.summary())


def _error_text(message: str) -> str:
    """An error on one line, except a formula's echo with its caret line underneath, which
    stays as it is (the caret points at a column of the line above it)."""
    lines = message.split("\n")
    if len(lines) >= 3 and lines[-1].strip() and set(lines[-1].strip()) == {"^"}:
        return " ".join(" ".join(lines[:-2]).split()) + "\n" + lines[-2] + "\n" + lines[-1]
    return " ".join(message.split())


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        ns = _build_parser().parse_args(argv)
        if ns.version:
            from . import __version__

            print(f"merx {__version__}")
            return 0
        if ns.command is None:
            raise _UsageError("no command given (use 'fit' or 'examples')")
        if ns.command == "examples":
            from .datasets import example_models

            models = example_models()
            width = max(len(n) for n in models)
            for name, (formula, options) in models.items():
                print(f"{name:<{width}}  {formula}" + (f"  {options}" if options else ""))
            print("\nfit one: python -m merx fit --example NAME \"FORMULA\" [OPTIONS]")
            return 0
        print(_fit(ns))
        return 0
    except _UsageError as e:
        print(f"merx: error: {e} (usage: {SHORT_USAGE})", file=sys.stderr)
        return 2
    except MerxError as e:
        print(f"merx: error: {_error_text(str(e))}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"merx: error: {e}", file=sys.stderr)
        return 2


def main_exit() -> None:
    """The ``merx`` console script: ``merx fit ...`` is ``python -m merx fit ...``."""
    sys.exit(main())


if __name__ == "__main__":
    sys.exit(main())
