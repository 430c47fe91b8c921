"""Settings: one typed object from TOML plus ATELIER_* overrides, validated once with clear messages."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from atelier.config import Settings, load_settings
from atelier.errors import ConfigError
from atelier.ingest.columns import age_group

EXAMPLE = Path(__file__).resolve().parents[1] / "atelier.example.toml"


def test_example_file_documents_exactly_the_defaults():
    assert load_settings(EXAMPLE).model_dump() == Settings().model_dump()


def test_toml_file_and_environment(tmp_path, monkeypatch):
    path = tmp_path / "atelier.toml"
    path.write_text("[ingest]\nchunk_size = 5000\nmin_age = 16\n")
    assert load_settings(path).ingest.chunk_size == 5000
    monkeypatch.setenv("ATELIER_INGEST__CHUNK_SIZE", "7000")
    settings = load_settings(path)
    assert settings.ingest.chunk_size == 7000  # the environment beats the file
    assert settings.ingest.min_age == 16
    monkeypatch.setenv("ATELIER_CONFIG", str(path))
    assert load_settings().ingest.min_age == 16


def test_json_lists_from_the_environment(monkeypatch):
    monkeypatch.setenv("ATELIER_INGEST__AGE_GROUPS", '[{"name": "young", "min": 10, "max": 29}]')
    assert [g.name for g in load_settings().ingest.age_groups] == ["young"]


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ("[ingest]\nchunk_size = 10\n", "ingest.chunk_size"),
        ("[ingest]\nchunk_size = 'many'\n", "ingest.chunk_size"),
        ("[ingest]\nmin_age = 90\nmax_age = 20\n", "min_age 90 must be below max_age 20"),
        ("[ingest]\nunknown_products = 'drop'\n", "ingest.unknown_products"),
        ("[ingest]\nnot_a_setting = 1\n", "not_a_setting"),
        ("[[ingest.interaction_rules]]\nkind = 'view'\nweight = 1\n", "'*' for both"),
        ("[[ingest.interaction_rules]]\nevent = 'x'\nkind = 'like'\nweight = 1\n", "kind"),
        (
            "[[ingest.age_groups]]\nname='a'\nmin=10\nmax=40\n[[ingest.age_groups]]\nname='b'\nmin=30\nmax=50\n",
            "overlap",
        ),
        ("[ingest\n", "cannot read config"),
    ],
)
def test_invalid_settings_say_what_and_where(tmp_path, toml, message):
    path = tmp_path / "bad.toml"
    path.write_text(toml)
    with pytest.raises(ConfigError, match=r"bad\.toml") as err:
        load_settings(path)
    assert message in str(err.value)


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_settings(tmp_path / "nope.toml")


def test_rule_helpers():
    ingest = Settings().ingest
    assert "purchase" in ingest.events_of_interest
    assert ingest.buttons_of_interest == {"heart_button", "bag_button"}
    ages = pl.Series([30.0, 5.0, 17.6, 100.0, None])
    groups = pl.select(age_group(pl.lit(ages), ingest.age_groups)).to_series().to_list()
    assert groups == ["25-34", None, "18-24", "65+", None]
