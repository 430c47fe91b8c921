"""``atelier evaluate``: split the data, run every widget's protocol on the baselines and models, report.

evaluation = evaluate(data_dir, settings)      # measure
write_report(evaluation, report_dir)           # metrics.json, report.md, report.html, plots/
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from atelier.config import Settings
from atelier.errors import ConfigError
from atelier.evaluate import protocols
from atelier.evaluate.results import Comparison, Row, summarize
from atelier.evaluate.splits import Split, make_split, similar_catalogue
from atelier.features.dataset import Dataset
from atelier.models import BASELINES, NAMED_ONLY, REGISTRY, make_model, models_for
from atelier.models.base import Recommender
from atelier.progress import progress

log = logging.getLogger(__name__)

PROTOCOLS = {"together": protocols.together, "similar": protocols.similar, "personal": protocols.personal}


@dataclass
class Evaluation:
    """Everything ``atelier evaluate`` measured, ready to be written as a report."""

    data_dir: str
    split: str
    ks: list[int]
    baseline: str
    bootstrap: int
    seed: int
    rows: list[Row] = field(default_factory=list)
    comparisons: list[Comparison] = field(default_factory=list)
    populations: list[dict] = field(default_factory=list)
    notes: dict[str, list[str]] = field(default_factory=dict)


def evaluate(
    data_dir: str | Path,
    settings: Settings,
    extra_models: Mapping[str, Mapping[str, Recommender]] | None = None,
) -> Evaluation:
    """Measure every registered model (and ``extra_models[widget]``) with each widget's protocol."""
    ev = settings.evaluate
    unknown = [m for m in ev.models if m not in REGISTRY]
    if unknown:
        raise ConfigError(
            f"evaluate.models: unknown {', '.join(unknown)} (expected some of {', '.join(REGISTRY)})"
        )
    if ev.baseline not in REGISTRY:
        raise ConfigError(
            f"evaluate.baseline {ev.baseline!r} is not a model (expected one of {', '.join(REGISTRY)})"
        )
    data = Dataset.load(data_dir)
    split = make_split(data, ev, _source_format(Path(data_dir)))
    log.info(
        "split %s: %s training and %s test interactions",
        split.description,
        f"{split.train.interactions.height:,}",
        f"{split.test.height:,}",
    )
    result = Evaluation(str(data_dir), split.description, ev.k, ev.baseline, ev.bootstrap, ev.seed)
    with progress() as bar:
        for widget in ev.widgets:
            if widget != "similar" and split.test.height == 0:
                result.notes[widget] = [f"not measured: {split.description}"]
                continue
            widget_split = split
            if widget == "similar" and (ev.similar_catalogue or ev.similar_pictured_only):
                sample = similar_catalogue(split.train, ev)
                widget_split = Split(sample, split.test.clear(), split.description)
            models, notes = _fitted_models(
                widget, widget_split, settings, (extra_models or {}).get(widget, {})
            )
            task = bar.add_task(f"evaluate {widget}", total=2 * len(models))
            bar.advance(task, len(models))
            populations, protocol_notes = PROTOCOLS[widget](
                widget_split, models, ev, lambda _method, task=task: bar.advance(task)
            )
            if widget_split is not split:
                protocol_notes.insert(
                    0,
                    f"judged within a catalogue of {widget_split.train.n_items:,} products drawn from "
                    f"{split.train.n_items:,}"
                    + (" with a picture" if ev.similar_pictured_only else "")
                    + (f", stratified by {ev.similar_labels[0]}" if ev.similar_catalogue else ""),
                )
            result.notes[widget] = notes + protocol_notes
            for pop in populations:
                if pop.n_queries == 0:
                    result.notes[widget].append(f"{pop.name}: none in the test data, not measured")
                    continue
                result.populations.append(
                    {"widget": widget, "population": pop.name, "n_users": pop.n_queries}
                )
                # The configured baseline cannot be fitted without events (a bare catalogue): compare with random.
                baseline = ev.baseline if ev.baseline in pop.values else "random"
                rows, comparisons = summarize(pop, baseline, ev.seed)
                result.rows += rows
                result.comparisons += comparisons
    return result


def _fitted_models(
    widget: str, split: Split, settings: Settings, extra: Mapping[str, Recommender]
) -> tuple[dict[str, Recommender], list[str]]:
    train = protocols.basket_training_data(split, settings.evaluate) if widget == "together" else split.train
    has_interactions = train.interactions.height > 0
    models: dict[str, Recommender] = {}
    notes = []
    chosen = settings.evaluate.models
    for name in models_for(widget):
        if chosen and name not in chosen and name not in BASELINES:
            continue
        if name in NAMED_ONLY and name not in chosen:
            notes.append(
                f"{name} not measured: name it in evaluate.models (--models); it may download weights"
            )
            continue
        model = make_model(name, settings)
        if model.needs_interactions and not has_interactions:
            notes.append(f"{name} left out: the training data has no interactions to learn from")
            continue
        models[name] = model.fit(train)
    for name, model in extra.items():
        models[name] = model.fit(train)
    return models, notes


def _source_format(data_dir: Path) -> str | None:
    report = data_dir / "ingest_report.json"
    if not report.is_file():
        return None
    return json.loads(report.read_text()).get("format")


__all__ = ["Evaluation", "evaluate"]
