"""The ``intersurv`` command line: a thin layer over the library.

Each module in this package that defines ``register(subparsers)`` adds one
subcommand (or a group of them). ``register`` sets ``func`` on its parser(s):
a function taking the parsed arguments and returning an exit status. Heavy
imports happen inside those functions so that ``--help`` stays fast.

User mistakes are raised as :class:`~intersurv.errors.IntersurvError`: their
one-line message is printed to stderr and the exit status is 2, with no
traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import pkgutil
import sys

from .. import __version__
from ..errors import IntersurvError


class _StderrHandler(logging.Handler):
    """Log records as ``intersurv: message`` on the current ``sys.stderr``."""

    def emit(self, record: logging.LogRecord) -> None:
        print(f"intersurv: {record.getMessage()}", file=sys.stderr)


def _configure_logging(*, quiet: bool) -> None:
    logger = logging.getLogger("intersurv")
    logger.setLevel(logging.WARNING if quiet else logging.INFO)
    logger.propagate = False
    if not any(isinstance(h, _StderrHandler) for h in logger.handlers):
        logger.addHandler(_StderrHandler())


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="intersurv",
        description="Train multimodal survival models and audit discrimination, calibration "
        "and cross-modal interaction (InterSHAP for Cox models).",
    )
    parser.add_argument("--version", action="version", version=f"intersurv {__version__}")
    parser.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        register = getattr(module, "register", None)
        if register is not None:
            register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _configure_logging(quiet=args.quiet)
    if getattr(args, "func", None) is None:
        parser.print_help()
        return 0 if args.command is None else 2
    try:
        return int(args.func(args) or 0)
    except IntersurvError as exc:
        print(f"intersurv: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("intersurv: interrupted", file=sys.stderr)
        return 130
