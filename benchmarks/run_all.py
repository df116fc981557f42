"""``make bench``: speed and memory of the interaction engine, the training and the demo.

Prints tables of figures and writes them, with the machine description and
the date, to ``benchmarks/results.md``. Every ratio compares timings taken in
the same process of the same run, after a warm-up; a timing is the median of
5 repeats (wall clock, seconds); timings compared with each other are taken
in turn within each repeat.

Sections (issue 9):

1. engine (``intersurv.interactions.explain``, mean masker) against (a) a
   per-patient, per-coalition loop (one forward pass per patient and
   coalition, how the glioma study's scripts work) and (b) the floor: the bare
   batched forward passes of exactly the rows the engine evaluates, on
   pre-built inputs;
2. the same with the marginal masker (K = 100) and with M = 3 and 4;
3. shapiq's ``ExactComputer`` run per patient on the same game: time ratio and
   the largest absolute difference of the Shapley values and Möbius coefficients;
4. scaling in N and in M (a smaller MLP), each N in its own subprocess so that
   its peak RSS (``ru_maxrss``) is its own;
5. training time per epoch per architecture on glioma-sim, and the wall time
   and peak RSS of ``intersurv demo`` (a subprocess);
6. 100 additive-null refits of one glioma-sim fusion model trained one by one,
   batched (``fit_batched``) and the floor of the bare stacked passes
   (``benchmarks/batched_training.py``; skip with ``--skip-batched``);
7. the study-sized protocol, 575 patients at wsi 2,048 + rna 12,778
   features, every architecture, 5 seeds x 5 folds, the audit's default
   answers: wall time and peak memory (``benchmarks/study_protocol.py``; about
   15 minutes on 2 cores; skip with ``--skip-study``);
8. explaining 8 feature groups against the floor of its forward passes
   (``benchmarks/groups.py``; issue 23's goal: at most 1.5 x the floor).
9. ``intersurv study``: a two-cohort study against the sum of the two audits
   run alone (``benchmarks/study.py``; about 5 minutes on 2 cores; skip with
   ``--skip-cohorts``; the three-TCGA-table study with ``--tcga DIR``).

The loop of (1a) costs ``N 2^M`` passes; it (and shapiq) is timed on the first
115 patients and scaled to N (the passes are independent and
identical in cost, so the loop is exactly linear in the patients).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from intersurv.interactions import explain
from intersurv.interactions.coalitions import coalition_members
from intersurv.io.atomic import write_text_atomic

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
Arrays = dict[str, np.ndarray]


# ----------------------------------------------------------------- utilities
def median_time(fn: Callable[[], Any], repeats: int) -> float:
    """Median wall time (s) of ``repeats`` calls of ``fn``, after one warm-up call."""
    return median_times({"fn": fn}, repeats)["fn"]


def median_times(fns: dict[str, Callable[[], Any]], repeats: int) -> dict[str, float]:
    """Median wall time (s) of each function, after a warm-up call of each.

    The functions are called in turn within each repeat (interleaved), so that a
    slow spell of a shared machine hits all of them alike.
    """
    for fn in fns.values():
        fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return {name: statistics.median(t) for name, t in times.items()}


def machine() -> dict[str, str]:
    """CPU model, cores, RAM, Python and torch versions."""
    cpu = platform.processor() or "unknown"
    mem = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem = f"{int(line.split()[1]) / 1024**2:.1f} GiB"
                break
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {"CPU": cpu, "cores available": str(cores), "torch threads": str(torch.get_num_threads()),
            "RAM": mem, "Python": platform.python_version(), "torch": torch.__version__,
            "platform": platform.platform()}


def table(headers: list[str], rows: list[list[Any]]) -> str:
    """A markdown table."""
    def cell(v: Any) -> str:
        if isinstance(v, float):
            return f"{v:.3g}" if abs(v) < 1e4 else f"{v:.0f}"
        return str(v)
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(v) for v in r) + " |" for r in rows]
    return "\n".join(lines)


# ------------------------------------------------------- the model and game
def mlp(width_in: int, hidden: tuple[int, ...], seed: int = 0) -> torch.nn.Module:
    """An early-fusion MLP ``width_in -> hidden... -> 1`` (ReLU), random weights, eval mode."""
    torch.manual_seed(seed)
    layers: list[torch.nn.Module] = []
    widths = (width_in, *hidden)
    for a, b in zip(widths[:-1], widths[1:]):
        layers += [torch.nn.Linear(a, b), torch.nn.ReLU()]
    layers.append(torch.nn.Linear(widths[-1], 1))
    return torch.nn.Sequential(*layers).eval()


class LogRisk:
    """Model callable ``dict -> (n,)`` log-risks: concatenate the modalities in order, run the MLP."""

    def __init__(self, net: torch.nn.Module, modalities: list[str]) -> None:
        self.net = net
        self.modalities = modalities

    def tensor(self, x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return self.net(x)[:, 0]

    def __call__(self, X: Arrays) -> np.ndarray:
        x = torch.from_numpy(np.concatenate([X[m] for m in self.modalities], axis=1))
        return self.tensor(x).numpy()


def cohort_arrays(n: int, widths: list[int], seed: int = 0) -> Arrays:
    """Random float32 modality arrays ``m0, m1, ...`` of the given widths."""
    rng = np.random.default_rng(seed)
    return {f"m{i}": rng.standard_normal((n, w), dtype=np.float32) for i, w in enumerate(widths)}


def split_width(total: int, n_mod: int) -> list[int]:
    """``total`` input features split as evenly as possible over ``n_mod`` modalities."""
    return [len(a) for a in np.array_split(np.arange(total), n_mod)]


def engine_batches(n: int, n_mod: int, k: int, batch_size: int = 4096) -> list[int]:
    """Row counts of the forward passes ``evaluate_coalitions`` makes (shared background)."""
    full = [min(batch_size, n - s) for s in range(0, n, batch_size)]
    per = max(1, batch_size // k)
    masked = [min(per, n - s) * k for s in range(0, n, per)]
    return [k] + masked * (2**n_mod - 2) + full


def masked_rows(x: Arrays, background: Arrays, keep: np.ndarray, modalities: list[str]) -> Arrays:
    """The rows of one patient (``x[m]`` is ``(1, d)``) with the modalities not kept replaced."""
    k = len(background[modalities[0]])
    return {m: np.repeat(x[m], k, axis=0) if keep[i] else background[m] for i, m in enumerate(modalities)}


def loop_values(model: LogRisk, X: Arrays, background: Arrays, n_patients: int) -> np.ndarray:
    """The study's way: one forward pass per patient per coalition; ``(n_patients, 2^M)``."""
    modalities = list(X)
    members = coalition_members(len(modalities))
    out = np.empty((n_patients, len(members)))
    for a in range(n_patients):
        xa = {m: X[m][a:a + 1] for m in modalities}
        for c, keep in enumerate(members):
            out[a, c] = model(masked_rows(xa, background, keep, modalities)).mean()
    return out


def background_rows(X: Arrays, masker: str, k: int, seed: int) -> Arrays:
    """The rows the engine's masker uses (reference = X): the mean row, or K rows drawn with ``seed``."""
    if masker == "mean":
        return {m: v.mean(axis=0, keepdims=True, dtype=np.float64).astype(v.dtype) for m, v in X.items()}
    rng = np.random.default_rng(seed)
    n = len(next(iter(X.values())))
    rows = np.sort(rng.choice(n, size=k, replace=False))
    return {m: v[rows] for m, v in X.items()}


# ------------------------------------------------------------ sections 1-3
def engine_vs_baselines(args: argparse.Namespace) -> tuple[list[list[Any]], dict[str, Any]]:
    """Sections 1-2: engine vs loop vs floor for (masker, M) cases."""
    cases = [("mean", 2, args.n), ("marginal", 2, args.n_marginal), ("mean", 3, args.n), ("mean", 4, args.n)]
    rows, checks = [], {}
    for masker, n_mod, n in cases:
        widths = split_width(args.width, n_mod)
        X = cohort_arrays(n, widths)
        model = LogRisk(mlp(args.width, args.hidden), list(X))
        k = args.k if masker == "marginal" else 1

        def run_engine() -> Any:
            return explain(model, X, reference=X, masker=masker, background=k, seed=0)

        n_loop = min(n, args.loop_patients)
        bg = background_rows(X, masker, k, seed=0)
        batches = engine_batches(n, n_mod, k)
        x = torch.randn(max(batches), args.width)
        t = median_times({"engine": run_engine,
                          "floor": lambda: [model.tensor(x[:b]) for b in batches],
                          "loop": lambda: loop_values(model, X, bg, n_loop)}, args.repeats)
        t_engine, t_floor, t_loop = t["engine"], t["floor"], t["loop"] * n / n_loop
        # the engine and the loop compute the same game (same background rows)
        diff = float(np.abs(run_engine().coalition_values[:n_loop] - loop_values(model, X, bg, n_loop)).max())
        checks[f"{masker} M={n_mod}"] = diff
        rows.append([masker, n_mod, n, k, t_engine, t_floor, t_loop, t_loop / t_engine, t_engine / t_floor, diff])
    return rows, checks


def shapiq_comparison(args: argparse.Namespace) -> list[list[Any]]:
    """Section 3: shapiq ExactComputer per patient (SV and Möbius) vs the engine, mean masker, M = 2."""
    from shapiq import ExactComputer

    X = cohort_arrays(args.n, split_width(args.width, 2))
    modalities = list(X)
    model = LogRisk(mlp(args.width, args.hidden), modalities)
    bg = background_rows(X, "mean", 1, 0)
    n_sh = min(args.n, args.loop_patients)

    def per_patient(a: int) -> tuple[np.ndarray, np.ndarray]:
        def game(coalitions: np.ndarray) -> np.ndarray:
            rows = {m: np.where(coalitions[:, [i]], X[m][a], bg[m][0]) for i, m in enumerate(modalities)}
            return model(rows).astype(np.float64)
        exact = ExactComputer(game, n_players=2)
        sv, mob = exact("SV"), exact("Moebius")
        return (np.array([sv[(0,)], sv[(1,)]]), np.array([mob[()], mob[(0,)], mob[(1,)], mob[(0, 1)]]))

    t = median_times({"shapiq": lambda: [per_patient(a) for a in range(n_sh)],
                      "engine": lambda: explain(model, X, reference=X, masker="mean")}, args.repeats)
    t_engine, t_shapiq = t["engine"], t["shapiq"] * args.n / n_sh
    e = explain(model, X, reference=X, masker="mean")
    res = [per_patient(a) for a in range(n_sh)]
    d_sv = float(np.abs(np.stack([r[0] for r in res]) - e.shapley[:n_sh]).max())
    d_mob = float(np.abs(np.stack([r[1] for r in res]) - e.mobius[:n_sh]).max())
    return [[args.n, n_sh, t_engine, t_shapiq, t_shapiq / t_engine, d_sv, d_mob]]


# --------------------------------------------------------------- section 4
def scaling_child(n: int, n_mod: int, width: int, hidden: tuple[int, ...], repeats: int) -> dict[str, float]:
    """One scaling point (run in its own process): engine time, RSS after inputs, peak RSS."""
    X = cohort_arrays(n, split_width(width, n_mod))
    model = LogRisk(mlp(width, hidden), list(X))
    explain(model, X, reference=X, masker="mean")  # warm-up before measuring the RSS base
    Path("/proc/self/clear_refs").write_text("5")  # reset the peak (VmHWM) to the current RSS
    rss_inputs = proc_status_mib("VmRSS")
    t = median_time(lambda: explain(model, X, reference=X, masker="mean"), repeats)
    return {"time": t, "rss_inputs": rss_inputs, "peak": proc_status_mib("VmHWM"),
            "inputs_mib": sum(v.nbytes for v in X.values()) / 2**20}


def proc_status_mib(field: str) -> float:
    """``VmRSS`` (current) or ``VmHWM`` (peak since the last reset) of this process, in MiB (Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"{field} not in /proc/self/status")


def scaling(args: argparse.Namespace) -> tuple[list[list[Any]], list[list[Any]]]:
    """Section 4: engine time and peak RSS vs N (M = 2), and time vs M (N fixed), small MLP."""
    def point(n: int, n_mod: int) -> dict[str, float]:
        cmd = [sys.executable, str(Path(__file__).resolve()), "--child",
               json.dumps([n, n_mod, args.scale_width, list(args.scale_hidden), args.repeats])]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        return json.loads(out.strip().splitlines()[-1])

    by_n = []
    for n in args.scale_n:
        p = point(n, 2)
        by_n.append([n, p["time"], 1e6 * p["time"] / (n * 4), p["inputs_mib"], p["rss_inputs"], p["peak"],
                     p["peak"] - p["rss_inputs"]])
    by_m = []
    for n_mod in args.scale_m:
        p = point(args.scale_m_n, n_mod)
        by_m.append([n_mod, 2**n_mod, p["time"], 1e6 * p["time"] / (args.scale_m_n * 2**n_mod),
                     p["peak"] - p["rss_inputs"]])
    return by_n, by_m


# --------------------------------------------------------------- section 5
def training(args: argparse.Namespace) -> list[list[Any]]:
    """Seconds per epoch per architecture on glioma-sim: (t(E+1 epochs) - t(1 epoch)) / E."""
    from intersurv.datasets import BUILTINS
    from intersurv.models.registry import ARCHITECTURES
    from intersurv.training.fit import fit

    cohort = BUILTINS["glioma-sim"].load()
    archs = [f"unimodal:{m}" for m in cohort.modality_names] + [a for a in ARCHITECTURES if a != "unimodal"]
    rows = []
    for arch in archs:
        def run(epochs: int) -> float:
            t0 = time.perf_counter()
            fit(cohort, arch, seed=0, max_epochs=epochs, patience=epochs + 1)
            return time.perf_counter() - t0
        run(1)  # warm-up
        t1 = statistics.median(run(1) for _ in range(args.repeats_train))
        tn = statistics.median(run(1 + args.epochs) for _ in range(args.repeats_train))
        rows.append([arch, (tn - t1) / args.epochs, t1])
    return rows


def demo(args: argparse.Namespace) -> list[list[Any]]:
    """``intersurv demo`` in a subprocess: wall time, and the largest peak RSS of it or its workers."""
    exe = Path(sys.executable).with_name("intersurv")
    if not exe.exists():
        return [["intersurv not installed", "", "", ""]]
    probe = subprocess.run([str(exe), "demo", "--help"], capture_output=True, text=True)
    if probe.returncode != 0:
        return [["`intersurv demo` not available", "", "", probe.stderr.strip().splitlines()[-1:]]]
    with tempfile.TemporaryDirectory() as tmp:
        wrapper = ("import resource,subprocess,sys,time,json;t=time.perf_counter();"
                   "r=subprocess.run(sys.argv[1:],capture_output=True);"
                   "print(json.dumps([r.returncode,time.perf_counter()-t,"
                   "resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss/1024]))")
        out = subprocess.run([sys.executable, "-c", wrapper, str(exe), "demo", "--out", f"{tmp}/demo"],
                             check=True, capture_output=True, text=True).stdout
    rc, wall, peak = json.loads(out)
    return [["`intersurv demo`", rc, wall, peak]]


# -------------------------------------------------------------------- main
def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="toy sizes (a smoke run, figures meaningless)")
    p.add_argument("--out", default=str(HERE / "results.md"), help="results file (default benchmarks/results.md)")
    p.add_argument("--skip-demo", action="store_true", help="do not run `intersurv demo`")
    p.add_argument("--skip-batched", action="store_true", help="do not run section 6 (batched training)")
    p.add_argument("--skip-study", action="store_true", help="do not run section 7, the study-sized protocol (long)")
    p.add_argument("--skip-cohorts", action="store_true", help="do not run section 9, the multi-cohort study")
    p.add_argument("--tcga", help="directory of the three TCGA tables: section 9 also times a study of them")
    p.add_argument("--child", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    full = dict(n=575, n_marginal=115, k=100, width=4096, hidden=(2048, 200), repeats=5,
                loop_patients=115, scale_n=[575, 5000, 50000], scale_m=list(range(2, 9)), scale_m_n=5000,
                scale_width=512, scale_hidden=(128,), epochs=3, repeats_train=1, refits=100, refits_slow=10)
    quick = dict(n=40, n_marginal=12, k=5, width=32, hidden=(16, 8), repeats=1,
                 loop_patients=10, scale_n=[50], scale_m=[3], scale_m_n=50,
                 scale_width=16, scale_hidden=(8,), epochs=1, repeats_train=1, refits=3, refits_slow=2)
    for key, value in (quick if args.quick else full).items():
        setattr(args, key, value)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    if args.child:
        n, n_mod, width, hidden, repeats = json.loads(args.child)
        print(json.dumps(scaling_child(n, n_mod, width, tuple(hidden), repeats)))
        return 0
    started = time.perf_counter()
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    parts = [f"# intersurv benchmarks\n\nRun {when} with `make bench` (`python benchmarks/run_all.py"
             f"{' --quick' if args.quick else ''}`). Times are wall-clock seconds, median of "
             f"{args.repeats} repeats after a warm-up unless stated.\n",
             "## Machine\n\n" + table(["", ""], [[k, v] for k, v in machine().items()])]

    def section(title: str, text: str) -> None:
        parts.append(f"## {title}\n\n{text}")
        print(f"\n## {title}\n\n{text}", flush=True)

    hidden = " -> ".join(map(str, (args.width, *args.hidden, 1)))
    rows, _ = engine_vs_baselines(args)
    section("1-2. Engine vs per-patient loop vs bare batched passes",
            f"Early-fusion MLP {hidden}, random weights, torch no_grad; M modalities splitting the "
            f"{args.width} inputs. Loop: one forward pass per patient per coalition (K rows for the "
            f"marginal masker), timed on the first {args.loop_patients} patients and scaled to N. "
            "Floor: the engine's batches of forward passes on pre-built inputs. Engine, floor and loop "
            "are timed in turn within each repeat. "
            "max|engine - loop| checks both compute the same game.\n\n"
            + table(["masker", "M", "N", "K", "engine s", "floor s", "loop s", "loop/engine",
                     "engine/floor", "max abs diff"], rows))
    section("3. shapiq ExactComputer per patient (mean masker, M = 2)",
            f"Same MLP and game; shapiq's `ExactComputer(game, n_players=2)` computing `SV` and `Moebius` "
            f"for each patient, timed on the first {args.loop_patients} patients and scaled to N.\n\n"
            + table(["N", "patients checked", "engine s", "shapiq s", "shapiq/engine",
                     "max abs diff SV", "max abs diff Möbius"], shapiq_comparison(args)))
    by_n, by_m = scaling(args)
    scale_mlp = " -> ".join(map(str, (args.scale_width, *args.scale_hidden, 1)))
    section("4. Scaling (mean masker, smaller MLP " + scale_mlp + ")",
            "Each point in its own subprocess. RSS after inputs: resident memory (VmRSS) after building the "
            "inputs and a warm-up explain; the peak (VmHWM) is then reset and read after the timed runs; "
            "extra = peak - RSS after inputs.\n\n"
            + table(["N (M = 2)", "engine s", "µs per N·2^M", "inputs MiB", "RSS after inputs MiB",
                     "peak RSS MiB", "extra MiB"], by_n)
            + f"\n\n" + table(["M (N = " + str(args.scale_m_n) + ")", "2^M", "engine s", "µs per N·2^M",
                               "extra MiB"], by_m))
    section("5a. Training on glioma-sim",
            f"`intersurv.fit` with default hyperparameters; s/epoch = (time of {1 + args.epochs} epochs - "
            f"time of 1 epoch) / {args.epochs}; the 1-epoch time includes setup and validation.\n\n"
            + table(["architecture", "s per epoch", "1-epoch fit s"], training(args)))
    if not args.skip_demo:
        section("5b. `intersurv demo`",
                "Subprocess; peak RSS is the largest ru_maxrss of the demo process or any worker it waited "
                "for (RUSAGE_CHILDREN).\n\n" + table(["run", "exit code", "wall s", "peak RSS MiB"], demo(args)))
    if not args.skip_batched:
        from batched_training import DESCRIPTION, HEADERS, batched_rows

        section("6. Batched training: additive-null refits", DESCRIPTION.format(refits=args.refits,
                slow=args.refits_slow) + "\n\n" + table(HEADERS, batched_rows(args.refits, args.refits_slow,
                                                                              args.quick)))
    if not args.skip_study:
        from study_protocol import study_section

        section("7. The study-sized protocol", study_section(args.quick))
    from groups import HEADERS as GROUP_HEADERS, description, group_rows

    section("8. Feature groups: 8 players vs the floor", description(args.quick) + "\n\n"
            + table(GROUP_HEADERS, group_rows(args.quick)))
    if not args.skip_cohorts:
        from study import cohorts_section

        section("9. A study over several cohorts", cohorts_section(args.quick, args.tcga))
    parts.append(f"Total benchmark time: {time.perf_counter() - started:.0f} s.\n")
    write_text_atomic(args.out, "\n\n".join(parts))
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
