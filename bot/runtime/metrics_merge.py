"""`/metrics` of `serve` with worker processes: each process counts in its own registry, and the front's scrape
adds the workers' samples to its own (prometheus_client's parser reads their text), so the answers, PlanetScale's
requests and the watch, counted where the work runs, still show under the one endpoint."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector


class Summed(Collector):
    """The families of several expositions, each sample the sum of its values (the earliest `_created`)."""

    def __init__(self, texts: Sequence[bytes]):
        self.texts = texts

    def collect(self) -> Iterator[Metric]:
        families: dict[str, Metric] = {}
        values: dict[str, dict[tuple[str, tuple[tuple[str, str], ...]], float]] = {}
        for text in self.texts:
            for family in text_string_to_metric_families(text.decode("utf-8")):
                families.setdefault(family.name, family)
                summed = values.setdefault(family.name, {})
                for sample in family.samples:
                    key = (sample.name, tuple(sorted(sample.labels.items())))
                    if key not in summed:
                        summed[key] = sample.value
                    elif sample.name.endswith("_created"):
                        summed[key] = min(summed[key], sample.value)
                    else:
                        summed[key] += sample.value
        for name, family in families.items():
            merged = Metric(family.name, family.documentation, family.type, family.unit)
            for (sample_name, labels), value in values[name].items():
                merged.add_sample(sample_name, dict(labels), value)
            yield merged


def exposition(registry: CollectorRegistry, others: Sequence[Callable[[], Sequence[bytes]]]) -> bytes:
    """This process's metrics, with those the others give added (a worker that does not answer gives none)."""
    own = generate_latest(registry)
    if not others:
        return own
    texts = [own, *(text for other in others for text in other())]
    merged = CollectorRegistry()
    merged.register(Summed(texts))
    return generate_latest(merged)
