"""The ``atelier`` command: a thin shell over the package (no logic of its own lives here)."""

from __future__ import annotations

import json
import logging
import os
import shutil
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.logging import RichHandler

from atelier import __version__
from atelier.config import load_settings, with_section
from atelier.errors import AtelierError, InputError, NotFoundError

app = typer.Typer(
    name="atelier",
    help="Atelier: a fashion recommendation engine (Top Picks Together, Similar Styles, Personalized Picks).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
# Off a terminal (logs, pipes) rich would wrap tables at 80 columns; reports read better wider.
console = Console(stderr=True, width=None if sys.stderr.isatty() else 160)
out = Console(width=None if sys.stdout.isatty() else 160)
log = logging.getLogger("atelier")

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="TOML settings file (default: $ATELIER_CONFIG or ./atelier.toml)"),
]


@app.callback()
def _main(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="debug logging")] = False,
) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(message)s",
        handlers=[RichHandler(console=console, show_path=False, show_time=False)],
    )


@app.command()
def version() -> None:
    """Print the version."""
    out.print(__version__)


@app.command()
def sample(
    out_dir: Annotated[Path, typer.Option("--out", help="folder to write the raw export into")],
    products: Annotated[int | None, typer.Option(help="number of products")] = None,
    users: Annotated[int | None, typer.Option(help="number of shoppers")] = None,
    events: Annotated[int | None, typer.Option(help="number of raw event rows")] = None,
    seed: Annotated[int | None, typer.Option(help="random seed (same seed, same files)")] = None,
    config: ConfigOption = None,
) -> None:
    """Write a synthetic shop as a raw TwentyToo export, with a known answer in ground_truth.json."""
    from atelier.sample import write_sample

    s = load_settings(config).sample
    files = write_sample(
        out_dir,
        products=products or s.products,
        users=users or s.users,
        events=events or s.events,
        seed=s.seed if seed is None else seed,
    )
    log.info(
        "sample shop written to %s (products.csv, 2 event files, images/, ground_truth.json)", files.root
    )


@app.command()
def ingest(
    inputs: Annotated[list[Path], typer.Argument(help="raw files (twentytoo: PRODUCTS.csv EVENTS.csv...)")],
    out_dir: Annotated[Path, typer.Option("--out", help="data folder to write the canonical tables into")],
    fmt: Annotated[
        str,
        typer.Option("--format", "-f", help="twentytoo | hm | fashion-product-images | events-csv | baskets"),
    ] = "twentytoo",
    chunk_size: Annotated[int | None, typer.Option(help="event rows read per chunk")] = None,
    images: Annotated[Path | None, typer.Option(help="folder of product pictures")] = None,
    unknown_products: Annotated[
        str | None, typer.Option(help="events naming products missing from the catalogue: quarantine | keep")
    ] = None,
    user_col: Annotated[str | None, typer.Option(help="events-csv: user column")] = None,
    item_col: Annotated[str | None, typer.Option(help="events-csv: product column")] = None,
    event_col: Annotated[str | None, typer.Option(help="events-csv: event type column")] = None,
    time_col: Annotated[str | None, typer.Option(help="events-csv: time column")] = None,
    session_col: Annotated[str | None, typer.Option(help="events-csv: session column")] = None,
    columns: Annotated[
        str | None, typer.Option(help="events-csv: comma-separated column names for a file without header")
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Clean raw exports into DATA_DIR/{products,users,interactions}.parquet, a report and a quarantine."""
    from atelier.ingest import ingest as run_ingest

    mapping = {
        "user": user_col,
        "item": item_col,
        "event": event_col,
        "timestamp": time_col,
        "session": session_col,
        "column_names": columns.split(",") if columns else None,
    }
    settings = load_settings(config)
    options = {
        "chunk_size": chunk_size,
        "images_dir": str(images) if images else None,
        "unknown_products": unknown_products,
    }
    changes = {k: v for k, v in options.items() if v is not None}
    columns_given = {k: v for k, v in mapping.items() if v is not None}
    if columns_given:
        changes["events_csv"] = settings.ingest.events_csv.model_dump() | columns_given
    settings = with_section(settings, "ingest", **changes)
    report = run_ingest(fmt, inputs, out_dir, settings)
    out.print(report.summary())
    log.info("report: %s", Path(out_dir) / "ingest_report.json")


@app.command()
def evaluate(
    data_dir: Annotated[Path, typer.Argument(help="data folder written by `atelier ingest`")],
    out_dir: Annotated[Path, typer.Option("--out", help="folder for metrics.json, report.md, report.html")],
    split_date: Annotated[
        str | None,
        typer.Option(help="YYYY-MM-DD: train before, test from (default: the source's natural split)"),
    ] = None,
    leave_last: Annotated[
        int | None, typer.Option(help="instead of a date: hold out each user's last N interactions")
    ] = None,
    k: Annotated[list[str] | None, typer.Option("--k", help="cut-offs, e.g. --k 5,10 or --k 12")] = None,
    widgets: Annotated[str | None, typer.Option(help="comma-separated: together,similar,personal")] = None,
    models: Annotated[
        str | None,
        typer.Option(help="comma-separated models to measure (default: all; baselines always run)"),
    ] = None,
    seed: Annotated[int | None, typer.Option(help="random seed (same seed, same report)")] = None,
    config: ConfigOption = None,
) -> None:
    """Measure every widget's methods beside the popularity and random baselines; write the report."""
    from atelier.evaluate import evaluate as run_evaluate
    from atelier.evaluate.report import headline, write_report

    options: dict[str, object] = {
        "split_date": split_date,
        "k": [part for value in k for part in value.split(",") if part.strip()] if k else None,
        "widgets": widgets.split(",") if widgets else None,
        "models": models.split(",") if models else None,
        "seed": seed,
    }
    if leave_last is not None:
        if split_date is not None:
            raise InputError("--split-date and --leave-last are two different splits: give one of them")
        options |= {"split": "last-n", "leave_last": leave_last}
    settings = load_settings(config)
    settings = with_section(settings, "evaluate", **{k: v for k, v in options.items() if v is not None})
    if seed is not None:  # one seed for the whole run, the random baseline's included
        settings = with_section(settings, "models", seed=seed)
    evaluation = run_evaluate(data_dir, settings)
    paths = write_report(evaluation, out_dir)
    out.print(headline(evaluation))
    log.info("report: %s (and %s, %s)", paths["html"], paths["markdown"].name, paths["metrics"].name)


@app.command("tune-hybrid")
def tune_hybrid(
    data_dir: Annotated[Path, typer.Argument(help="data folder written by `atelier ingest`")],
    blocks: Annotated[str, typer.Option(help="comma-separated hybrid blocks to weigh")] = "text,image,colour",
    step: Annotated[float, typer.Option(help="grid step of the weights (they sum to 1)")] = 0.1,
    top: Annotated[int, typer.Option(help="how many weightings to list")] = 10,
    seed: Annotated[
        int | None, typer.Option(help="sample seed; tune on another sample than you report on")
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Choose the hybrid encoder's block weights by evaluation (precision@k of same-label neighbours)."""
    from rich.table import Table

    from atelier.evaluate.tune import tune_hybrid as run_tune
    from atelier.features.dataset import Dataset
    from atelier.models import hybrid_block, hybrid_parts

    settings = load_settings(config)
    if seed is not None:
        settings = with_section(settings, "evaluate", seed=seed)
    available = hybrid_parts(settings)
    names = [b.strip() for b in blocks.split(",") if b.strip()]
    unknown = [b for b in names if b not in available]
    if unknown or not names:
        raise InputError(
            f"--blocks: unknown {', '.join(unknown) or '(none given)'} (expected some of "
            f"{', '.join(available)})"
        )
    names = list(dict.fromkeys(hybrid_block(b, settings) for b in names))  # `image` is one of the networks
    results = run_tune(Dataset.load(data_dir), settings, {b: available[b] for b in names}, step)
    k = max(settings.evaluate.k)
    table = Table(title=f"hybrid weights by precision@{k} of same-label neighbours, best first")
    for name in [*names, *(f"same {label}" for label in results[0].precision), "mean"]:
        table.add_column(name, justify="right")
    for r in results[:top]:
        table.add_row(
            *(f"{r.weights[b]:.2f}" for b in names),
            *(f"{v:.4f}" for v in r.precision.values()),
            f"{r.mean:.4f}",
        )
    out.print(table)
    best = ", ".join(f"{b} = {w:g}" for b, w in results[0].weights.items() if w > 0)
    out.print(f"[similar]\nhybrid_weights = {{ {best} }}", highlight=False, markup=False)


@app.command()
def train(
    data_dir: Annotated[Path, typer.Argument(help="data folder written by `atelier ingest`")],
    out_dir: Annotated[Path, typer.Option("--out", help="artefact folder to write")],
    only: Annotated[
        str | None, typer.Option(help="comma-separated widgets (default: every trainable one)")
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Train the widgets' serving models into one versioned artefact folder."""
    from atelier.pipeline import train as run_train

    manifest = run_train(data_dir, out_dir, load_settings(config), only.split(",") if only else None)
    out.print_json(data={k: v for k, v in manifest.items() if k != "settings"})


@app.command()
def recommend(
    widget: Annotated[str, typer.Argument(help="together | similar | user")],
    item_id: Annotated[str, typer.Argument(metavar="ID", help="product id (together, similar) or user id")],
    artifacts: Annotated[Path, typer.Option(help="artefact folder written by `atelier train`")],
    n: Annotated[int, typer.Option("--n", help="how many recommendations")] = 10,
    model: Annotated[
        str | None, typer.Option(help="similar: the encoder (tfidf, text, image, colour, clip, hybrid)")
    ] = None,
    in_stock: Annotated[bool, typer.Option(help="only products not known to be out of stock")] = False,
    exclude_department: Annotated[
        bool, typer.Option(help="together: leave out the product's own department")
    ] = False,
    bundles: Annotated[int, typer.Option(help="together: also list this many complete-the-look sets")] = 0,
    same_audience: Annotated[bool, typer.Option(help="similar: only the product's target audience")] = False,
    price_min: Annotated[float | None, typer.Option(help="similar: lowest price")] = None,
    price_max: Annotated[float | None, typer.Option(help="similar: highest price")] = None,
    method: Annotated[
        str | None,
        typer.Option(
            help="user: the method for a known shopper (history, user_cf, item_cf, profile, two_tower)"
        ),
    ] = None,
    age_group: Annotated[str | None, typer.Option(help="user: a new shopper's age group, e.g. 25-34")] = None,
    region: Annotated[str | None, typer.Option(help="user: a new shopper's region")] = None,
    department: Annotated[str | None, typer.Option(help="user: only this department")] = None,
    keep_bought: Annotated[bool, typer.Option(help="user: keep what the shopper already bought")] = False,
) -> None:
    """Print a widget's recommendations for one product (together, similar) or one shopper (user) as JSON."""
    from atelier.engine import Engine

    engine = Engine.load(artifacts)
    result: dict = {"widget": widget, "product_id": item_id}
    if widget == "together":
        items = engine.together(item_id, n, in_stock=in_stock, exclude_department=exclude_department)
        if bundles:
            result["bundles"] = engine.bundles(item_id, bundles, in_stock, exclude_department)
    elif widget == "similar":
        items = engine.similar(item_id, n, model, in_stock, same_audience, price_min, price_max)
        result["other_colours"] = [r.as_dict() for r in engine.other_colours(item_id)]
    elif widget == "user":
        result = {"widget": widget, "user_id": item_id}
        demographics = {"age_group": age_group, "region": region}
        path, items = engine.personal(item_id, n, method, demographics, not keep_bought, in_stock, department)
        result["path"] = path
    else:
        raise InputError(f"widget {widget!r}: expected together, similar or user")
    result["recommendations"] = [r.as_dict() for r in items]
    out.print_json(data=result)


@app.command()
def serve(
    artifacts: Annotated[Path, typer.Argument(help="artefact folder written by `atelier train`")],
    host: Annotated[str, typer.Option(help="address to listen on (loopback by default)")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to listen on")] = 8000,
    config: ConfigOption = None,
) -> None:
    """Serve the storefront (/) and the REST API (/v1/..., docs at /docs) over an artefact folder."""
    _serve(artifacts, host, port, load_settings(config), config)


def _serve(artifacts: Path, host: str, port: int, settings, config: Path | None) -> None:
    """Run ``service.workers`` server processes under uvicorn's supervisor (SIGHUP replaces them one by one
    with fresh ones that load the artefacts again; SIGTERM stops them after their requests in flight)."""
    import multiprocessing
    import tempfile
    from concurrent.futures import ProcessPoolExecutor

    import uvicorn
    from uvicorn.config import STARTUP_FAILURE
    from uvicorn.supervisors import Multiprocess

    from atelier.api.serving import ARTIFACTS_ENV, DrainingHttpProtocol, check_artifacts
    from atelier.store.sql import Store

    # bad artefacts fail here, in one clear line (a worker that cannot load them would only be noticed by the
    # supervisor after service.worker_start_seconds); in a process of its own, so this one keeps no copy
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as checker:
        checker.submit(check_artifacts, artifacts).result()
    # the worker processes read the same settings
    os.environ[ARTIFACTS_ENV] = str(artifacts.resolve())
    if config is not None:
        os.environ["ATELIER_CONFIG"] = str(config.resolve())
    service = settings.service
    uvicorn_config = uvicorn.Config(
        "atelier.api.serving:worker_app",
        factory=True,
        http=DrainingHttpProtocol,  # a worker being replaced answers the requests it has just accepted
        host=host,
        port=port,
        workers=service.workers,
        log_level="warning",
        access_log=False,
        timeout_worker_healthcheck=service.worker_start_seconds,
        timeout_graceful_shutdown=30,
    )
    supervisor = Multiprocess(uvicorn_config, sockets=[uvicorn_config.bind_socket()])
    # only now that the port is ours: what every worker loads (a service already running on this store
    # follows it too)
    Store(service.store_url).record_served(artifacts.resolve())
    out.print(
        f"[bold]Storefront:[/] http://{host}:{port}   API docs: http://{host}:{port}/docs   "
        f"({service.workers} workers; Ctrl-C stops, SIGHUP reloads)"
    )
    metrics_dir = tempfile.mkdtemp(prefix="atelier-metrics-")
    try:  # the workers share one metrics folder (Prometheus multiprocess mode)
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
        supervisor.run()
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)
    if any(worker.exitcode == STARTUP_FAILURE for worker in supervisor.processes):
        raise InputError(f"a worker could not load {artifacts} (the line above says why): nothing served")


api_keys = typer.Typer(
    help="Keys for the API's write endpoints (events): kept hashed in the service's store."
)
app.add_typer(api_keys, name="api-key")


@api_keys.command("create")
def api_key_create(
    name: Annotated[str, typer.Argument(help="who the key is for, e.g. shop-backend")],
    config: ConfigOption = None,
) -> None:
    """Create a key and print it once (only its digest is stored: keep it safe)."""
    from atelier.store.sql import Store

    key = Store(load_settings(config).service.store_url).create_api_key(name)
    out.print(key, highlight=False, markup=False)


@api_keys.command("revoke")
def api_key_revoke(
    name: Annotated[str, typer.Argument(help="the key's name")],
    config: ConfigOption = None,
) -> None:
    """Revoke the key of ``name``."""
    from atelier.store.sql import Store

    if not Store(load_settings(config).service.store_url).revoke_api_key(name):
        raise NotFoundError(f"no API key named {name!r}")
    log.info("revoked the API key %r", name)


@app.command()
def demo(
    workdir: Annotated[Path, typer.Option(help="where the sample shop and its data go")] = Path("var/demo"),
    serve_it: Annotated[
        bool, typer.Option("--serve/--no-serve", help="end by serving the storefront")
    ] = True,
    port: Annotated[int, typer.Option(help="storefront port (127.0.0.1)")] = 8000,
    config: ConfigOption = None,
) -> None:
    """The one-command tour: make the sample shop (once), ingest it, train, show recommendations, and serve the
    storefront at http://127.0.0.1:8000."""
    from atelier.engine import Engine
    from atelier.ingest import ingest as run_ingest
    from atelier.pipeline import train as run_train
    from atelier.sample import SampleFiles, write_sample

    settings = load_settings(config)
    raw = SampleFiles(workdir / "raw")
    if raw.ground_truth.is_file():
        log.info("reusing the sample shop in %s", raw.root)
    else:
        s = settings.sample
        log.info("writing a sample shop: %s products, %s shoppers, %s events", s.products, s.users, s.events)
        write_sample(raw.root, products=s.products, users=s.users, events=s.events, seed=s.seed)
    report = run_ingest("twentytoo", [raw.products, *raw.events], workdir / "data", settings)
    out.print(report.summary())
    run_train(workdir / "data", workdir / "artifacts", settings)
    engine = Engine.load(workdir / "artifacts")
    pairs = json.loads(raw.ground_truth.read_text())["complementary_pairs"]
    example = pairs[0][0] if pairs else str(engine.items.ids[0])
    out.print(f"[bold]Top Picks Together[/] for product {example}:")
    for r in engine.together(example, n=5):
        out.print(f"  {r.product_id}  ({r.source}) {r.reason}", highlight=False, markup=False)
    log.info("tables in %s, models in %s", workdir / "data", workdir / "artifacts")
    if serve_it:
        _serve(workdir / "artifacts", "127.0.0.1", port, settings, config)


def main() -> None:
    """Entry point: domain errors become one clear line on stderr and exit code 2, never a traceback."""
    try:
        app()
    except AtelierError as exc:
        console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
