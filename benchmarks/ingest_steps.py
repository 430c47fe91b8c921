"""Where the CPU of a TwentyToo ingest goes: CPU-seconds per step, whatever thread did the work.

``benchmarks/ingest.py`` measures wall time and memory; this script answers the question behind them on a
CPU-bound machine: what each step costs. To charge every step its own cost:

- the event files are read into memory first (the reader's cost is printed on its own);
- the Parquet writer encodes in the calling thread instead of its background thread, and the steps the
  events' worker thread does run in the calling thread too;
- the ingest's stopwatch reads the process's CPU time instead of the wall clock, so work done in polars'
  threads is charged to the step that asked for it.

Not charged to any step: finishing the Parquet file, writing the products and users tables, and
quarantining malformed CSV lines (small).

It uses a sample written by ``benchmarks/ingest.py`` (``var/bench/sample-<N>``)::

    .venv/bin/python benchmarks/ingest.py --events 1000000 --runs 1
    .venv/bin/python benchmarks/ingest_steps.py var/bench/sample-1000000
"""

from __future__ import annotations

import argparse
import gc
import tempfile
import time
from pathlib import Path

from atelier.config import load_settings
from atelier.ingest import _common, report
from atelier.ingest.twentytoo_events import EventIngest, event_sources
from atelier.ingest.twentytoo_products import products_source, read_products
from atelier.schema import conform


class _ReadAlready:
    """A ChunkReader stand-in over chunks read before the clock starts."""

    def __init__(self, sources, chunks):
        self.sources = sources
        self._chunks = chunks

    def __iter__(self):
        return iter(self._chunks)


class _InCallingThread:
    """A Prefetch stand-in that produces each item when it is asked for, in the calling thread."""

    def __init__(self, items, **_):
        self._items = items

    def __enter__(self):
        return self._items

    def __exit__(self, *_):
        pass


def _write_here(self, rows):
    if rows.height:
        self._write_now(conform("interactions", rows))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sample", type=Path, help="a folder with products.csv and the two events files")
    args = parser.parse_args()
    _common.InteractionWriter.write = _write_here
    _common.Prefetch = _InCallingThread

    gc.disable()  # as ingest() does: the work is in columns, and the collector would only rescan live objects
    settings = load_settings()
    events = [args.sample / "events_before_2023-06-01.csv", args.sample / "events_after_2023-06-01.csv"]
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder)
        ingest_report, quarantine = report.IngestReport("twentytoo", str(out)), report.Quarantine(out)
        cpu = {}
        start = time.process_time()
        catalogue = read_products(
            products_source(args.sample / "products.csv"), ingest_report, quarantine, args.sample / "images"
        )
        cpu["products catalogue"] = time.process_time() - start
        sources = event_sources(events, settings.ingest)
        start = time.process_time()
        chunks = [(source, chunk) for source in sources for chunk in source.chunks()]
        cpu["read the event files"] = time.process_time() - start
        ingest = EventIngest(settings.ingest, catalogue, out, ingest_report, quarantine)
        # the CPU of every thread, per step
        ingest.watch = report.Stopwatch(clock=time.process_time)
        ingest.prepare_watch = report.Stopwatch(clock=time.process_time)
        ingest.read(_ReadAlready(sources, chunks))
        ingest.close()
        start = time.process_time()
        ingest.users.finish(quarantine)
        cpu["users table"] = time.process_time() - start
        rows = sum(chunk.rows.height for _, chunk in chunks)

    watched = ingest.prepare_watch.seconds + ingest.watch.seconds
    # In one thread, each stage's "wait" is the other stage's work, charged already.
    steps = {f"events: {step}": seconds for step, seconds in watched.items() if not step.startswith("wait")}
    table = sorted((cpu | steps).items(), key=lambda item: -item[1])
    total = sum(cpu.values()) + sum(steps.values())
    print("| step | CPU s | CPU s per million raw rows | share |\n|---|---|---|---|")
    for step, seconds in table:
        print(f"| {step} | {seconds:.2f} | {seconds / rows * 1e6:.2f} | {seconds / total:.0%} |")
    print(f"| **all** | {total:.2f} | {total / rows * 1e6:.2f} | |")
    print(f"\n{rows:,} raw event rows; on 2 cores the ingest cannot take less than {total / 2:.2f} s.")


if __name__ == "__main__":
    main()
