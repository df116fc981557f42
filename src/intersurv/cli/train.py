"""``intersurv train``: architectures x seeds x folds into a resumable run directory.

Options override a ``--config`` TOML file, whose keys are those of
:class:`intersurv.training.config.ExperimentConfig`::

    cohort = "glioma-sim"
    architectures = ["unimodal", "late", "early"]   # "unimodal" = one per modality
    seeds = [0, 1, 2]
    [protocol]
    kind = "cv"            # or "holdout"
    folds = 5              # test_fraction = 0.2 for holdout
    [train]                # keyword arguments of intersurv.fit (intersurv.training.settings)
    max_epochs = 100

Re-running the same command resumes; ``intersurv train --out RUN`` alone resumes
RUN with its recorded configuration.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..cohort import Cohort
    from ..training.config import ExperimentConfig


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train architectures x seeds x folds into a run directory (resumable)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cohort", help="built-in cohort name or cohort directory")
    p.add_argument("--arch", help="architecture(s), comma-separated (e.g. unimodal,late,early); required")
    p.add_argument("--seeds", help="a count (3 = seeds 0,1,2) or a comma list (0,5,7; '7,' = seed 7); "
                                   "default 3")
    proto = p.add_mutually_exclusive_group()
    proto.add_argument("--folds", type=int, help="k-fold cross-validation per seed (default: hold-out)")
    proto.add_argument("--holdout", type=float, metavar="FRACTION",
                       help="hold-out test fraction per seed (default 0.2)")
    p.add_argument("--modalities", help="use only these modalities, comma-separated (default: all)")
    p.add_argument("--horizons", help="metric horizons in the cohort's time unit, comma-separated")
    p.add_argument("--max-epochs", type=int, help="maximum training epochs (default 1000)")
    p.add_argument("--patience", type=int, help="early-stopping patience in epochs (default 20)")
    p.add_argument("--lr", type=float, help="learning rate (default 1e-3)")
    p.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                   help="any other keyword argument of intersurv.fit (repeatable; VALUE as in TOML)")
    p.add_argument("--config", help="TOML file with the experiment configuration")
    p.add_argument("--out", required=True, help="run directory")
    p.add_argument("--jobs", type=int, default=1, help="units run in parallel processes (default 1); "
                                                        "results do not depend on it")
    p.add_argument("--threads", type=int, help="torch threads per unit (default 1); results may differ "
                                               "in the last bits with another value")
    add_executor_options(p)
    p.set_defaults(func=_train)


def add_executor_options(p: argparse.ArgumentParser) -> None:
    """``--executor``, ``--address`` and ``--device`` (``train``, ``audit``, ``demo``)."""
    p.add_argument("--executor", choices=("local", "ray"), default="local",
                   help="local: this machine (--jobs processes); ray: Ray tasks of --threads CPUs each, on a "
                        "local Ray instance or the cluster at --address (docs/ray.md)")
    p.add_argument("--address", help="Ray cluster address for --executor ray (e.g. auto, HOST:6379, ray://HOST:10001)")
    p.add_argument("--device", help="auto | cpu | cuda | cuda:N: where networks train and explain "
                                    "(default auto: a GPU if torch sees one, else the CPU)")


def _csv(text: str) -> list[str]:
    return [s.strip() for s in text.split(",") if s.strip()]


def parse_seeds(text: str) -> list[int]:
    """``"3"`` -> [0, 1, 2]; ``"0,5,7"`` -> [0, 5, 7]; ``"7,"`` -> [7]."""
    from ..errors import IntersurvError

    try:
        if "," in text:
            return [int(s) for s in _csv(text)]
        count = int(text)
    except ValueError:
        raise IntersurvError(f"--seeds {text!r}: expected a count or a comma-separated list of integers") from None
    if count < 1:
        raise IntersurvError(f"--seeds {text!r}: the count must be >= 1")
    return list(range(count))


def toml_value(text: str) -> object:
    """``text`` read as a TOML value (``3``, ``1e-3``, ``true``, ``[8, 4]``), else the string."""
    import tomllib

    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def resolve_options(args: argparse.Namespace, base: dict[str, Any] | None = None, *,
                    default_seeds: str | None = "3",
                    required: tuple[str, ...] = ("cohort", "architectures")) -> dict[str, Any]:
    """The experiment config dict: ``base``, then --config, then the options, then defaults.

    Shared by ``train``, ``audit`` and ``demo``; options a command does not
    define are skipped. ``default_seeds`` applies when neither the config nor
    --seeds names seeds (None: leave them to the caller).
    """
    import tomllib
    from pathlib import Path

    from ..errors import IntersurvError

    data: dict[str, Any] = dict(base or {})
    if args.config:
        path = Path(args.config)
        if not path.is_file():
            raise IntersurvError(f"{path}: config file not found")
        try:
            data.update(tomllib.loads(path.read_text(encoding="utf-8")))
        except tomllib.TOMLDecodeError as exc:
            raise IntersurvError(f"{path}: invalid TOML ({exc})") from None
    if getattr(args, "cohort", None):
        data["cohort"] = args.cohort
    if args.arch:
        data["architectures"] = _csv(args.arch)
    if args.seeds:
        data["seeds"] = parse_seeds(args.seeds)
    elif "seeds" not in data and default_seeds is not None:
        data["seeds"] = parse_seeds(default_seeds)
    protocol = dict(data.get("protocol", {}))
    if args.folds is not None:
        protocol.update(kind="cv", folds=args.folds)
    if args.holdout is not None:
        protocol.update(kind="holdout", test_fraction=args.holdout)
    data["protocol"] = protocol
    if getattr(args, "threads", None) is not None:
        data["threads"] = args.threads
    if getattr(args, "allow_missing", False):
        data["allow_missing"] = True
    if getattr(args, "modalities", None):
        data["modalities"] = _csv(args.modalities)
    if getattr(args, "horizons", None):
        try:
            data["horizons"] = [float(h) for h in _csv(args.horizons)]
        except ValueError:
            raise IntersurvError(f"--horizons {args.horizons!r}: expected comma-separated numbers") from None
    train = dict(data.get("train", {}))
    for item in args.param:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise IntersurvError(f"--param {item!r}: expected KEY=VALUE")
        train[key.strip()] = toml_value(value.strip())
    for key in ("max_epochs", "patience", "lr", "device"):
        if getattr(args, key, None) is not None:
            train[key] = getattr(args, key)
    data["train"] = train
    for key in required:
        if key not in data:
            raise IntersurvError(f"--{'arch' if key == 'architectures' else key} is required "
                                 "(or give it in --config)")
    return data


def load_options_cohort(data: dict[str, Any], out: Any) -> "Cohort":
    """The cohort that resolved options name: ``data["cohort"]`` is replaced by its resolved source, which
    must not contain the run directory ``out``; ``drop_incomplete`` and ``allow_missing`` as given."""
    from ..datasets import load_cohort, resolve_cohort_source
    from ..io.outdir import refuse_inside_cohort

    data["cohort"] = resolve_cohort_source(str(data["cohort"]))
    refuse_inside_cohort(out, data["cohort"])
    return load_cohort(data["cohort"], drop_incomplete=bool(data.get("drop_incomplete", False)),
                       allow_missing=bool(data.get("allow_missing", False)))


def _train(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..models import expand_architectures
    from ..training.config import ExperimentConfig
    from ..training.experiment import run_experiment, summary_table
    from ..training.rundir import RunDir

    out = Path(args.out)
    nothing_given = not (args.config or args.cohort or args.arch)
    cohort: Cohort | None = None
    if nothing_given and (out / "config.json").is_file():
        config = RunDir(out).config
    else:
        data = resolve_options(args)
        cohort = load_options_cohort(data, out)
        data["architectures"] = expand_architectures(list(data["architectures"]),
                                                     list(data.get("modalities") or cohort.modality_names))
        config = ExperimentConfig.from_dict(data, source=args.config or "options")
    units = run_experiment(config, out, cohort=cohort, jobs=args.jobs, executor=args.executor,
                           address=args.address)
    print(format_table(summary_table(units, "c_harrell"), summary_table(units, "c_uno"), config))
    return 0


def format_table(c_harrell: dict[str, dict[str, Any]], c_uno: dict[str, dict[str, Any]],
                 config: "ExperimentConfig") -> str:
    """The end-of-run table: architecture, parameters, units, C-index and Uno's C, mean ± sd."""
    def cell(s: dict[str, Any]) -> str:
        if s["mean"] is None:
            return "-"
        return f"{s['mean']:.3f}" + ("" if s["sd"] is None else f" ± {s['sd']:.3f}")

    rows = [("architecture", "params", "units", "C-index (Harrell)", "C-index (Uno)")]
    for arch, s in c_harrell.items():
        params = "-" if s["n_params"] is None else f"{s['n_params']:,}"
        rows.append((arch, params, str(s["n"]), cell(s), cell(c_uno[arch])))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))
             for r in rows]
    proto = config.protocol
    what = (f"{proto.folds}-fold CV" if proto.kind == "cv" else f"hold-out {proto.test_fraction:g}")
    across = next(iter(c_harrell.values()))["across"] if c_harrell else ""
    lines.append(f"mean ± sd across {across} ({what}, seeds {', '.join(map(str, config.seeds))}; "
                 "sd = sample standard deviation)")
    return "\n".join(lines)
