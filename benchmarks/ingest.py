"""Benchmark: Atelier's TwentyToo ingest against the seeds' straightforward pandas method.

For each size (``--events``) a synthetic raw export is written under ``var/bench/`` once (a JSON
stamp records its parameters and the generator's source hash; a matching sample is reused). Then,
``--runs`` times and interleaved, each method runs end to end on the same files in a fresh child
process (raw CSVs in, Parquet tables out):

- ``atelier``: ``atelier.ingest.ingest("twentytoo", ...)`` with the default settings;
- ``seeds``: ``benchmarks/seeds_method.py``, the seed documents' chunked pandas preprocessing;
- ``duckdb``: ``benchmarks/duckdb_method.py``, the events job in DuckDB SQL (every core, its own CSV reader),
  without the quarantine, the reconciled report and the catalogue's cleaning: a reference point for what an
  engine built for such queries does with the job on this machine, not a rival Atelier could be swapped for;
- ``pyarrow-read``: ``pyarrow.csv.read_csv`` of the event files and nothing else (all its threads). It is no
  ingest: it calibrates the machine against the issue's reference ("pyarrow's CSV reader alone parses about
  5,000,000 rows/s"), so a rows/s figure can be read beside what this machine can do at all. The child times
  the first read of a fresh process (what an ingest pays); after the runs, the same files are read again
  and again in this process, as a timing loop would measure a reader, every column as text and with
  pyarrow's default options: the issue's figure is more likely of that kind.

Wall time is measured around the child (interpreter start and imports included) and, inside it, around
the method alone ("ingest s": raw CSVs in, Parquet out, after the imports); peak memory is
the child's own ``ru_maxrss`` from ``os.wait4``; "others' CPU" is the share of the machine that
other processes used meanwhile. The table holds medians, printed as Markdown (``--out-md`` also
writes it to a file)::

    .venv/bin/python benchmarks/ingest.py --events 1000000 3000000 --runs 3 --out-md var/bench/ingest.md
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCH_DIR = ROOT / "var" / "bench"
SAMPLE = {"products": 2000, "users": 20000, "seed": 7}
METHODS = ("atelier", "seeds", "duckdb", "pyarrow-read")
INGESTS = ("atelier", "seeds")  # the methods that do the whole job
REFERENCE_READ_ROWS_PER_S = 5_000_000  # pyarrow's CSV reader alone, on the machine the issue was written on
TARGET_ROWS_PER_S = 1_000_000
TARGET_SPEEDUP = 3.0
MEMORY_GROWTH_TOLERANCE = 1.2  # "not growing": the peak at the largest size within 20% of the smallest

log = logging.getLogger("bench.ingest")


@dataclass
class Run:
    """One child process: what it cost and what it produced."""

    method: str
    events: int
    seconds: float
    cpu_seconds: float
    peak_mb: float
    others_cpu: float  # share of the machine's CPU time used by other processes during the run
    counts: dict[str, int]


@dataclass
class Result:
    """All runs of one method at one size."""

    method: str
    events: int
    runs: list[Run] = field(default_factory=list)

    @property
    def seconds(self) -> float:
        return statistics.median(r.seconds for r in self.runs)

    @property
    def cpu_seconds(self) -> float:
        return statistics.median(r.cpu_seconds for r in self.runs)

    @property
    def peak_mb(self) -> float:
        return statistics.median(r.peak_mb for r in self.runs)

    @property
    def others_cpu(self) -> float:
        return statistics.median(r.others_cpu for r in self.runs)

    @property
    def counts(self) -> dict[str, int]:
        return self.runs[-1].counts

    @property
    def rows_per_s(self) -> float:
        return self.counts["raw_event_rows"] / self.seconds

    @property
    def work_seconds(self) -> float:
        """Median time of the method itself (interpreter start and imports excluded)."""
        return statistics.median(r.counts["work_seconds"] for r in self.runs)

    @property
    def work_rows_per_s(self) -> float:
        return self.counts["raw_event_rows"] / self.work_seconds


# -- samples -----------------------------------------------------------------------------------------------
def source_hash(folder: Path) -> str:
    """Hash of the Python sources under ``folder``."""
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*.py")):
        digest.update(str(path.relative_to(folder)).encode() + path.read_bytes())
    return digest.hexdigest()[:16]


def generator_hash() -> str:
    """Hash of the sample generator's sources, so a changed generator invalidates stored samples."""
    return source_hash(ROOT / "src" / "atelier" / "sample")


def sample_files(events: int) -> tuple[Path, list[Path]]:
    """The products CSV and the events CSVs of the sample with ``events`` rows."""
    from atelier.sample import SampleFiles

    files = SampleFiles(BENCH_DIR / f"sample-{events}")
    return files.products, files.events


def ensure_sample(events: int) -> tuple[Path, list[Path]]:
    """Write the sample for ``events`` unless one with the same parameters is already there."""
    products, event_files = sample_files(events)
    root = products.parent
    stamp_path = root / "stamp.json"
    wanted = {**SAMPLE, "events": events, "generator": generator_hash()}
    if stamp_path.is_file() and all(p.is_file() for p in [products, *event_files]):
        stamp = json.loads(stamp_path.read_text())
        sizes = {p.name: p.stat().st_size for p in [products, *event_files]}
        if stamp.get("parameters") == wanted and stamp.get("sizes") == sizes:
            log.info("reusing %s", root)
            return products, event_files
    shutil.rmtree(root, ignore_errors=True)
    log.info("writing the sample with %s events to %s", f"{events:,}", root)
    code = (
        "import sys; from atelier.sample import write_sample; "
        f"write_sample(sys.argv[1], products={SAMPLE['products']}, users={SAMPLE['users']}, "
        f"events={events}, seed={SAMPLE['seed']})"
    )
    subprocess.run([sys.executable, "-c", code, str(root)], check=True, env=child_env())
    sizes = {p.name: p.stat().st_size for p in [products, *event_files]}
    stamp_path.write_text(json.dumps({"parameters": wanted, "sizes": sizes}, indent=1))
    return products, event_files


# -- children ----------------------------------------------------------------------------------------------
def child_env() -> dict[str, str]:
    """The environment without ATELIER_* overrides, so Atelier runs with its default settings."""
    return {k: v for k, v in os.environ.items() if not k.startswith("ATELIER_")}


def wait_for_quiet(max_wait: float, threshold: float = 10.0) -> None:
    """Wait (up to ``max_wait`` seconds) until other processes use under ``threshold`` % of the CPUs."""
    import psutil

    if max_wait <= 0:
        return
    deadline = time.monotonic() + max_wait
    while (busy := psutil.cpu_percent(interval=1.0)) >= threshold:
        if time.monotonic() >= deadline:
            log.warning("the machine is still %.0f%% busy after %.0f s; measuring anyway", busy, max_wait)
            return


def run_child(method: str, events: int, products: Path, event_files: list[Path]) -> Run:
    """Run one method in a fresh process; time it and read its peak memory from ``wait4``."""
    out = BENCH_DIR / "out" / f"{method}-{events}"
    shutil.rmtree(out, ignore_errors=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    result, errors = out.with_suffix(".json"), out.with_suffix(".stderr")
    result.unlink(missing_ok=True)
    argv = [sys.executable, str(Path(__file__).resolve()), "_child", method, str(out), str(result)]
    argv += [str(products), *map(str, event_files)]
    with errors.open("wb") as err:
        busy_before = machine_busy_seconds()
        start = time.perf_counter()
        # cwd has no atelier.toml: the defaults apply, as for the seeds' hard-coded rules.
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=err, cwd=BENCH_DIR, env=child_env())
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        busy = machine_busy_seconds() - busy_before
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        tail = errors.read_text(errors="replace")[-3000:]
        raise SystemExit(f"{method} at {events:,} events failed ({proc.returncode}):\n{tail}")
    cpu = usage.ru_utime + usage.ru_stime
    return Run(
        method=method,
        events=events,
        seconds=seconds,
        cpu_seconds=cpu,
        peak_mb=usage.ru_maxrss / 1024,  # kilobytes on Linux
        others_cpu=max(0.0, busy - cpu) / (seconds * (os.cpu_count() or 1)),
        counts=json.loads(result.read_text()),
    )


def machine_busy_seconds() -> float:
    """CPU seconds all processes have used since boot (every core, idle and I/O wait excluded)."""
    import psutil

    times = psutil.cpu_times()
    return sum(times) - times.idle - getattr(times, "iowait", 0.0)


def child_main(args: Sequence[str]) -> None:
    """Inside the child: ``METHOD OUT_DIR RESULT_JSON PRODUCTS EVENTS...``; writes the table sizes as JSON,
    and ``work_seconds``: the time of the method itself, raw CSVs in to Parquet out, after its imports."""
    method, out, result, products, *events = args
    if method == "atelier":
        import atelier.ingest.twentytoo  # noqa: F401  (imports are not the work, as for the seeds below)

        run = run_atelier
    elif method == "pyarrow-read":
        import pyarrow.csv  # noqa: F401

        run = run_read_only
    elif method == "duckdb":
        from duckdb_method import run
    else:
        from seeds_method import run
    start = time.perf_counter()
    counts = run(Path(products), [Path(e) for e in events], Path(out))
    counts["work_seconds"] = time.perf_counter() - start
    Path(result).write_text(json.dumps(counts))


def run_atelier(products: Path, events: list[Path], out: Path) -> dict[str, int]:
    """Atelier's ingest end to end; the sizes of what it wrote, from its report."""
    from atelier.config import load_settings
    from atelier.ingest import ingest

    report = ingest("twentytoo", [products, *events], out, load_settings()).to_dict()
    tables = report["tables"]
    return {
        "raw_event_rows": sum(f["rows_read"] for f in report["files"] if f["table"] == "interactions"),
        "interactions": tables["interactions"]["rows"],
        "users": tables["users"]["rows"],
        "products": tables["products"]["rows"],
    }


def run_read_only(products: Path, events: list[Path], out: Path) -> dict[str, int]:
    """pyarrow's CSV reader on the event files, every column as text, nothing else: the machine's yardstick."""
    return {"raw_event_rows": read_with_pyarrow(events, as_text=True)}


def read_with_pyarrow(events: list[Path], as_text: bool) -> int:
    """Rows of the event files read whole by ``pyarrow.csv.read_csv`` (all its threads): every column as
    text, as Atelier reads them, or with pyarrow's default options (types inferred)."""
    import csv

    import pyarrow as pa
    import pyarrow.csv as pacsv

    rows = 0
    for path in events:
        options = None
        if as_text:
            with path.open(newline="") as fh:
                names = next(csv.reader(fh))
            options = pacsv.ConvertOptions(column_types=dict.fromkeys(names, pa.large_string()))
        rows += pacsv.read_csv(path, convert_options=options).num_rows
    return rows


def warm_read_speeds(events: list[Path], repeats: int = 3) -> dict[str, float]:
    """Rows/s of pyarrow's reader on files this process has read before (page cache, memory pool and
    thread pool warm, as a timing loop measures a reader): the median of ``repeats`` reads, every column
    as text and with pyarrow's defaults. The ``pyarrow-read`` child measures the first read of a fresh
    process instead, which is what an ingest pays."""
    speeds = {}
    for as_text, label in ((True, "text"), (False, "defaults")):
        read_with_pyarrow(events, as_text)  # the warm-up, not timed
        rates = []
        for _ in range(repeats):
            start = time.perf_counter()
            rows = read_with_pyarrow(events, as_text)
            rates.append(rows / (time.perf_counter() - start))
        speeds[label] = statistics.median(rates)
    return speeds


def check_rules_match() -> None:
    """The seeds' hard-coded rules must be Atelier's defaults, or the two would not do the same job."""
    import seeds_method as seeds  # imported here: the Atelier child must not load pandas
    from atelier.config import DEFAULT_AGE_GROUPS, DEFAULT_RULES, IngestSettings

    by_button = {r.button: (r.kind, float(r.weight)) for r in DEFAULT_RULES if r.event == "*"}
    by_event = {r.event: (r.kind, float(r.weight)) for r in DEFAULT_RULES if r.button == "*"}
    defaults = IngestSettings()
    problems = []
    if by_button != seeds.INTERACTION_BY_BUTTON or by_event != seeds.INTERACTION_BY_EVENT:
        problems.append("interaction rules")
    if [g.name for g in DEFAULT_AGE_GROUPS] != seeds.AGE_LABELS or [
        g.max for g in DEFAULT_AGE_GROUPS
    ] != seeds.AGE_BINS[1:]:
        problems.append("age groups")
    if (defaults.min_age, defaults.max_age) != (seeds.MIN_AGE, seeds.MAX_AGE):
        problems.append("min/max age")
    if problems:
        raise SystemExit(
            f"benchmarks/seeds_method.py no longer matches atelier.config: {', '.join(problems)}"
        )


# -- report ------------------------------------------------------------------------------------------------
def markdown_table(results: list[Result]) -> str:
    """One row per method and size."""
    head = (
        "| method | events | raw event rows | process s, median (min-max) | raw rows/s | ingest s | "
        "ingest rows/s | CPU s | peak MB | others' CPU | interactions | users | products |"
    )
    lines = [head, "|" + "---|" * 13]
    for r in results:
        times = [run.seconds for run in r.runs]
        c = {k: f"{v:,}" for k, v in r.counts.items()}
        lines.append(
            f"| {r.method} | {r.events:,} | {c['raw_event_rows']} | {r.seconds:.2f} ({min(times):.2f}-"
            f"{max(times):.2f}) | {r.rows_per_s:,.0f} | {r.work_seconds:.2f} | {r.work_rows_per_s:,.0f} "
            f"| {r.cpu_seconds:.1f} | {r.peak_mb:,.0f} "
            f"| {r.others_cpu:.0%} | {c.get('interactions', '-')} | {c.get('users', '-')} "
            f"| {c.get('products', '-')} |"
        )
    return "\n".join(lines)


def verdicts(results: list[Result], warm: dict[int, dict[str, float]] | None = None) -> list[str]:
    """Speed ratios and the project's targets, one line each (``warm``: :func:`warm_read_speeds` per size)."""
    warm = warm or {}
    by = {(r.method, r.events): r for r in results}
    sizes = sorted({r.events for r in results})
    lines = []
    for n in sizes:
        a, s = by[("atelier", n)], by[("seeds", n)]
        ratio, work_ratio = s.seconds / a.seconds, s.work_seconds / a.work_seconds
        lines.append(
            f"- {n:,} events: Atelier/seeds speed {ratio:.2f}x per process, {work_ratio:.2f}x per ingest "
            f"(target >= {TARGET_SPEEDUP:g}x: {_ok(min(ratio, work_ratio) >= TARGET_SPEEDUP)}); Atelier "
            f"{a.rows_per_s:,.0f} raw rows/s per process, {a.work_rows_per_s:,.0f} per ingest (target >= "
            f"{TARGET_ROWS_PER_S:,}: {_ok(a.work_rows_per_s >= TARGET_ROWS_PER_S)}); peak memory "
            f"Atelier/seeds {a.peak_mb / s.peak_mb:.2f}"
        )
        if ("duckdb", n) in by:
            d = by[("duckdb", n)]
            same = d.counts["interactions"] == a.counts["interactions"]
            lines.append(
                f"- {n:,} events, reference: DuckDB does the events job without quarantine or report at "
                f"{d.work_rows_per_s:,.0f} rows/s per ingest, {d.rows_per_s:,.0f} per process; Atelier/DuckDB "
                f"speed {d.work_seconds / a.work_seconds:.2f}x per ingest, {d.seconds / a.seconds:.2f}x per "
                f"process; same number of interactions: {'yes' if same else 'NO'}"
            )
        if ("pyarrow-read", n) in by and by[("pyarrow-read", n)].work_rows_per_s > 0:
            lines.append(
                calibration_line(n, a.work_rows_per_s, by[("pyarrow-read", n)].work_rows_per_s, warm.get(n))
            )
    if len(sizes) > 1:
        small, large = sizes[0], sizes[-1]
        for method in INGESTS:
            growth = by[(method, large)].peak_mb / by[(method, small)].peak_mb
            if method == "atelier":
                verdict = f"target <= {MEMORY_GROWTH_TOLERANCE:g}: {_ok(growth <= MEMORY_GROWTH_TOLERANCE)}"
            else:
                verdict = "no target, for comparison"
            lines.append(
                f"- {method}: peak memory at {large:,} / at {small:,} events = {growth:.2f} ({verdict})"
            )
    return lines


def calibration_line(events: int, atelier: float, first_read: float, warm: dict[str, float] | None) -> str:
    """The reader's speeds here beside the issue's reference, and Atelier's ingest as a share of each."""
    ref = REFERENCE_READ_ROWS_PER_S
    # how the files were read, what Atelier's share is said to be of, rows/s
    reads = [("first read in a fresh process, as text", "the first read", first_read)]
    if warm:
        reads.append(("repeated reads, as text", "the repeated reads as text", warm["text"]))
        reads.append(
            ("repeated reads, pyarrow's defaults", "those with pyarrow's defaults", warm["defaults"])
        )
    speeds = "; ".join(
        f"{label}: {rate:,.0f} rows/s ({rate / ref:.0%} of the issue's)" for label, _, rate in reads
    )
    shares = ", ".join(f"{atelier / rate:.1%} of {short}" for _, short, rate in reads if rate > 0)
    return (
        f"- {events:,} events, calibration: pyarrow's CSV reader alone (the issue measured {ref:,} rows/s): "
        f"{speeds}. Atelier's ingest runs at {shares} (the target, {TARGET_ROWS_PER_S:,} rows/s, is "
        f"{TARGET_ROWS_PER_S / ref:.0%} of the issue's reader speed)"
    )


def git_state() -> str:
    """The commit measured, marked dirty when ``src/`` has uncommitted changes."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "src"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "commit unknown"
    return f"commit {commit}" + (" + uncommitted changes in src/" if dirty else "")


def _ok(passed: bool) -> str:
    return "PASS" if passed else "FAIL"


# -- main --------------------------------------------------------------------------------------------------
def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, nargs="+", default=[1_000_000, 3_000_000], help="sample sizes")
    parser.add_argument("--runs", type=int, default=3, help="runs per method and size (the median is shown)")
    parser.add_argument("--out-md", type=Path, help="also write the table and verdicts to this Markdown file")
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=120.0,
        help="before each run, wait up to this many seconds for other processes to leave the CPUs idle",
    )
    return parser.parse_args(argv)


def benchmark(samples: dict[int, tuple[Path, list[Path]]], runs: int, quiet_wait: float) -> list[Result]:
    """Every method at every size, ``runs`` times, methods interleaved so drift hits both alike."""
    results = []
    for events, (products, event_files) in samples.items():
        pair = [Result(m, events) for m in METHODS]
        for i in range(runs):
            for result in pair:
                wait_for_quiet(quiet_wait)
                run = run_child(result.method, events, products, event_files)
                result.runs.append(run)
                log.info(
                    "%-7s %s events, run %d/%d: %.2f s, %.0f MB, %s interactions, others' CPU %.0f%%",
                    run.method,
                    f"{events:,}",
                    i + 1,
                    runs,
                    run.seconds,
                    run.peak_mb,
                    f"{run.counts.get('interactions', 0):,}",
                    100 * run.others_cpu,
                )
        results.extend(pair)
    return results


def main(argv: Sequence[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["_child"]:
        child_main(argv[1:])
        return
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    args = parse_args(argv)
    check_rules_match()
    BENCH_DIR.mkdir(parents=True, exist_ok=True)
    samples = {events: ensure_sample(events) for events in args.events}  # all first: one generator version
    atelier_src, version = ROOT / "src" / "atelier", git_state()
    before = source_hash(atelier_src)
    results = benchmark(samples, args.runs, args.quiet_wait)
    warm = {}
    for events, (_, event_files) in samples.items():
        wait_for_quiet(args.quiet_wait)
        warm[events] = warm_read_speeds(event_files)
    machine = [
        f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}, repository at {version}, "
        f"{args.runs} run(s) per cell, medians"
    ]
    if source_hash(atelier_src) != before:
        machine.append("WARNING: src/atelier changed during the run; the figures mix code versions")
    text = "\n".join([markdown_table(results), "", *verdicts(results, warm), "", *machine])
    print(text)
    if args.out_md:
        args.out_md.parent.mkdir(parents=True, exist_ok=True)
        args.out_md.write_text(text + "\n")


if __name__ == "__main__":
    main()
