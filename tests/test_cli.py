"""The `atelier` command: thin, documented, and one clear line (exit 2) for bad input."""

from __future__ import annotations

import json

import pytest

from cli_support import atelier


def test_help_lists_the_commands():
    result = atelier("--help")
    assert result.returncode == 0
    for command in ("sample", "ingest", "demo"):
        assert command in result.stdout


def test_sample_then_ingest(tmp_path):
    raw, data = tmp_path / "raw", tmp_path / "data"
    assert atelier("sample", "--out", str(raw), "--events", "2000", "--seed", "3").returncode == 0
    events = sorted(str(p) for p in raw.glob("events_*.csv"))
    result = atelier(
        "ingest", "--format", "twentytoo", str(raw / "products.csv"), *events, "--out", str(data)
    )
    assert result.returncode == 0, result.stderr
    assert "interactions" in result.stdout  # the summary table
    report = json.loads((data / "ingest_report.json").read_text())
    assert report["reconciles"] and (data / "interactions.parquet").is_file()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["ingest", "nope.csv", "other.csv", "--out", "x"], "nope.csv: file not found"),
        (["ingest", "-f", "xml", "a", "--out", "x"], "unknown format 'xml'"),
        (["ingest", "--config", "missing.toml", "a", "--out", "x"], "missing.toml not found"),
        (
            ["ingest", "--unknown-products", "drop", "a", "--out", "x"],
            "invalid ingest option: unknown_products",
        ),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path, args, message):
    (tmp_path / "a").write_text("x")
    result = atelier(*args, cwd=tmp_path)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_missing_column_is_named(tmp_path):
    (tmp_path / "products.csv").write_text("product_id,title\nab,cd\n")
    (tmp_path / "events.csv").write_text("User_ID\nu1\n")
    result = atelier("ingest", "products.csv", "events.csv", "--out", "data", cwd=tmp_path)
    assert result.returncode == 2
    assert "products.csv: missing required column 'price'" in result.stderr


def test_demo_runs_its_steps(tmp_path):
    result = atelier("demo", "--workdir", str(tmp_path / "demo"), "--no-serve")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "demo" / "raw" / "ground_truth.json").is_file()
    assert (tmp_path / "demo" / "data" / "users.parquet").is_file()
    again = atelier("demo", "--workdir", str(tmp_path / "demo"), "--no-serve")
    assert "reusing the sample shop" in again.stderr


def test_tune_hybrid_prints_the_best_weights(ingested):
    data_dir = str(ingested[0])
    result = atelier("tune-hybrid", data_dir, "--blocks", "tfidf,colour", "--step", "0.5", "--top", "3")
    assert result.returncode == 0, result.stderr
    assert "[similar]" in result.stdout and "hybrid_weights = {" in result.stdout
    assert "same department" in result.stdout
    result = atelier("tune-hybrid", data_dir, "--blocks", "tfidf,fabric")
    assert result.returncode == 2 and "unknown fabric" in result.stderr
