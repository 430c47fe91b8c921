"""Benchmark: frequent itemsets and rules — Atelier's FP-Growth against PyFIM (C) and mlxtend (sparse fpgrowth).

On the FIMI basket files in ``../shared/data/fimi`` (``retail.dat``, ``T10I4D100K.dat``), at each minimum support,
every tool runs end to end in a fresh child process: **load** the file, **mine** the frequent itemsets, derive the
**rules** (single consequent, no confidence threshold: the same 39,633 rules for all at 0.05% on retail). The
child measures its own steps — total = load + mine + rules; the imports, a per-process constant, are shown
apart — and reports its peak RSS (``ru_maxrss``: interpreter and imports included). A warm-up child first fills
numba's on-disk cache, so compile time is not counted as mining; loading the compiled code from that cache is.

- ``atelier``: ``read_basket_file`` -> ``atelier.mining.fpgrowth`` -> ``association_rules``;
- ``pyfim``: Python lists from the file -> ``fim.fpgrowth(target="r", mode="o")``, which mines and derives the
  rules in one call (its itemset count comes from a second, untimed call);
- ``mlxtend``: the same sparse matrix as a sparse DataFrame -> ``fpgrowth`` -> ``association_rules`` (which
  also emits rules with several consequents; the table counts the single-consequent ones);
- ``pairs``: Atelier's all-pairs rules (count, support, confidence, lift of every co-bought pair).

Medians of ``--runs`` runs (mlxtend: ``--mlxtend-runs``), printed as Markdown::

    .venv/bin/python benchmarks/together.py --runs 3 --out-md var/bench/together.md
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIMI = ROOT.parent / "shared" / "data" / "fimi"
DATASETS = {"retail": "retail.dat", "T10I4D100K": "T10I4D100K.dat"}
SUPPORTS = (0.005, 0.001, 0.0005)
TOOLS = ("atelier", "pyfim", "mlxtend")
# The targets, at 0.05% on retail.
TARGET_VS_PYFIM = 3.0
TARGET_VS_MLXTEND = 5.0
TARGET_PEAK_MB = 500
TARGET_PAIRS_S = 1.0


def child(tool: str, path: Path, support: float) -> dict:
    """Run one tool once; return its timings (imports apart: a per-process constant) and counts."""
    t_import = time.perf_counter()
    if tool == "pyfim":
        import fim
    else:
        from atelier.mining import association_rules, fpgrowth
        from atelier.mining.baskets_file import read_basket_file
        from atelier.mining.pairs import pair_rules
    if tool == "mlxtend":
        import warnings

        import pandas as pd
        from mlxtend.frequent_patterns import association_rules as mlx_rules
        from mlxtend.frequent_patterns import fpgrowth as mlx_fpgrowth
    t0 = time.perf_counter()
    if tool == "pyfim":
        baskets = [line.split() for line in path.read_text().splitlines() if line.strip()]
        t1 = time.perf_counter()
        # One call mines and derives the rules: its time is the "mine" column, "rules" stays 0.
        rules = fim.fpgrowth(baskets, target="r", supp=support * 100, conf=0, zmin=2, report="scl", mode="o")
        t2 = t3 = time.perf_counter()
        n_itemsets = len(
            fim.fpgrowth(baskets, target="s", supp=support * 100, zmin=1, report="a")
        )  # not timed
        n_rules = len(rules)
    elif tool == "mlxtend":
        matrix, _ = read_basket_file(path)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            frame = pd.DataFrame.sparse.from_spmatrix(matrix.astype(bool))
        t1 = time.perf_counter()
        itemsets = mlx_fpgrowth(frame, min_support=support)
        t2 = time.perf_counter()
        rules = mlx_rules(itemsets, num_itemsets=matrix.shape[0], metric="confidence", min_threshold=0.0)
        t3 = time.perf_counter()
        n_itemsets, n_rules = len(itemsets), int((rules["consequents"].map(len) == 1).sum())
    elif tool == "atelier":
        matrix, _ = read_basket_file(path)
        t1 = time.perf_counter()
        itemsets = fpgrowth(matrix, support)
        t2 = time.perf_counter()
        rules = association_rules(itemsets)
        t3 = time.perf_counter()
        n_itemsets, n_rules = len(itemsets), len(rules)
    elif tool == "pairs":
        matrix, _ = read_basket_file(path)
        t1 = time.perf_counter()
        table = pair_rules(matrix)
        t2 = t3 = time.perf_counter()
        n_itemsets, n_rules = 0, table.n_rules
    else:
        raise ValueError(tool)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "imports": t0 - t_import, "load": t1 - t0, "mine": t2 - t1, "rules": t3 - t2, "total": t3 - t0,
        "itemsets": n_itemsets, "rules_n": n_rules, "peak_mb": peak_mb,
    }  # fmt: skip


def run_child(tool: str, path: Path, support: float, timeout: float) -> dict | None:
    cmd = [sys.executable, __file__, "--child", tool, str(path), str(support)]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        print(f"  {tool} timed out after {timeout:.0f} s", file=sys.stderr)
        return None
    if done.returncode != 0:
        print(f"  {tool} failed: {done.stderr.strip().splitlines()[-1:]}", file=sys.stderr)
        return None
    return json.loads(done.stdout.strip().splitlines()[-1])


def median(runs: list[dict]) -> dict:
    keys = ("imports", "load", "mine", "rules", "total", "peak_mb")
    return {k: statistics.median(r[k] for r in runs) for k in keys} | {
        "itemsets": runs[0]["itemsets"], "rules_n": runs[0]["rules_n"], "runs": len(runs),
    }  # fmt: skip


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--child", nargs=3, metavar=("TOOL", "FILE", "SUPPORT"), help=argparse.SUPPRESS)
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=list(DATASETS))
    parser.add_argument("--supports", nargs="+", type=float, default=list(SUPPORTS))
    parser.add_argument("--tools", nargs="+", default=list(TOOLS), choices=list(TOOLS))
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--mlxtend-runs", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=900)
    parser.add_argument("--out-md", type=Path)
    args = parser.parse_args(argv)
    if args.child:
        tool, path, support = args.child
        print(json.dumps(child(tool, Path(path), float(support))))
        return
    if not FIMI.is_dir():
        print(f"{FIMI} not found: the benchmark needs the FIMI basket files (../shared/data/fimi)")
        return
    tools = [t for t in args.tools if t != "pyfim" or _importable("fim")]
    tools = [t for t in tools if t != "mlxtend" or _importable("mlxtend")]
    missing = set(args.tools) - set(tools)
    if missing:
        print(f"not installed, left out: {', '.join(sorted(missing))} (pip install -e '.[bench]')")
    run_child("atelier", FIMI / DATASETS[args.datasets[0]], 0.01, args.timeout)  # warm numba's cache
    rows = []
    for name in args.datasets:
        path = FIMI / DATASETS[name]
        pairs = [r for r in (run_child("pairs", path, 0, args.timeout) for _ in range(args.runs)) if r]
        if pairs:
            rows.append((name, "all pairs", "atelier pairs", median(pairs)))
        for support in args.supports:
            for tool in tools:
                n = args.mlxtend_runs if tool == "mlxtend" else args.runs
                runs = [r for r in (run_child(tool, path, support, args.timeout) for _ in range(n)) if r]
                print(f"{name} {support:.2%} {tool}: {[round(r['total'], 2) for r in runs]}", file=sys.stderr)
                if runs:
                    rows.append((name, f"{support:.2%}", tool, median(runs)))
    table = markdown(rows)
    print(table)
    if args.out_md:
        args.out_md.parent.mkdir(parents=True, exist_ok=True)
        args.out_md.write_text(table + "\n")


def markdown(rows: list[tuple[str, str, str, dict]]) -> str:
    totals = {(d, s, t): m["total"] for d, s, t, m in rows}
    lines = [
        "| data | min support | tool | total s | load s | mine s | rules s | (imports s) | peak RSS MB | itemsets "
        "| rules | total / PyFIM | mlxtend / total |",
        "|" + "---|" * 13,
    ]
    for data, support, tool, m in rows:
        pyfim = totals.get((data, support, "pyfim"))
        mlx = totals.get((data, support, "mlxtend"))
        vs_pyfim = f"{m['total'] / pyfim:.2f}x" if pyfim and tool != "pyfim" else ""
        vs_mlx = f"{mlx / m['total']:.1f}x" if mlx and tool != "mlxtend" else ""
        cells = [
            data, support, tool, f"{m['total']:.2f}", f"{m['load']:.2f}", f"{m['mine']:.2f}", f"{m['rules']:.2f}",
            f"({m['imports']:.2f})", f"{m['peak_mb']:.0f}", f"{m['itemsets']:,}", f"{m['rules_n']:,}", vs_pyfim, vs_mlx,
        ]  # fmt: skip
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", *verdicts(rows)]
    return "\n".join(lines)


def verdicts(rows: list[tuple[str, str, str, dict]]) -> list[str]:
    by = {(d, s, t): m for d, s, t, m in rows}
    ours, pyfim, mlx = (by.get(("retail", "0.05%", t)) for t in ("atelier", "pyfim", "mlxtend"))
    pairs = by.get(("retail", "all pairs", "atelier pairs"))
    out = ["Targets (retail, 0.05%):"]
    if ours and pyfim:
        ratio = ours["total"] / pyfim["total"]
        out.append(
            f"- within {TARGET_VS_PYFIM:.0f}x of PyFIM: {ratio:.2f}x — {_ok(ratio <= TARGET_VS_PYFIM)}"
        )
    if ours and mlx:
        speedup = mlx["total"] / ours["total"]
        out.append(
            f"- at least {TARGET_VS_MLXTEND:.0f}x faster than mlxtend: {speedup:.1f}x — {_ok(speedup >= 5)}"
        )
    if ours:
        out.append(
            f"- peak RSS under {TARGET_PEAK_MB} MB: {ours['peak_mb']:.0f} MB — {_ok(ours['peak_mb'] < 500)}"
        )
    if pairs:
        out.append(
            f"- all-pairs rules under {TARGET_PAIRS_S:.0f} s: {pairs['mine']:.2f} s — {_ok(pairs['mine'] < 1)}"
        )
    return out


def _ok(passed: bool) -> str:
    return "**met**" if passed else "**missed**"


def _importable(module: str) -> bool:
    try:
        __import__(module)
    except ImportError:
        return False
    return True


if __name__ == "__main__":
    main()
