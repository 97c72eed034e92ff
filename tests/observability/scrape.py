"""Reading /metrics the way Prometheus does: the text format, parsed by prometheus-client."""

from __future__ import annotations

from litestar.testing import AsyncTestClient
from prometheus_client.parser import text_string_to_metric_families

TOKEN = "scrape-token-for-tests"


class Scrape:
    """One scrape's samples; a missing series reads 0 (a counter not yet incremented)."""

    def __init__(self, text: str) -> None:
        self.samples = {
            (sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
        }

    def value(self, name: str, **labels: str) -> float:
        return self.samples.get((name, frozenset(labels.items())), 0.0)

    def names(self) -> set[str]:
        return {name for name, _ in self.samples}


async def scrape(client: AsyncTestClient, token: str | None = TOKEN) -> Scrape:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = await client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.text
    return Scrape(response.text)
