"""The insights as JSON, as a page and as CSV: who sees whose figures, and bad filters."""

from __future__ import annotations

import csv
import io

from fastapi.testclient import TestClient

from closeout.db import Database
from closeout.domain import Role
from closeout.tokens import create_token
from tests.api.conftest import GRACE, LI, SAM, Scene, sign_in


def _api(client: TestClient, db: Database, name: str, role: Role) -> dict[str, str]:
    return {"Authorization": f"Bearer {create_token(db, name, role)}"}


def test_the_json_report_for_a_manager_and_for_an_account_manager(
    client: TestClient, db: Database, scene: Scene
) -> None:
    everyone = client.get("/api/insights", headers=_api(client, db, GRACE, Role.MANAGER))
    assert everyone.status_code == 200, everyone.text
    report = everyone.json()
    assert report["funnel"]["counts"]["opened"] == 3  # the scene's three cases, opened now
    assert sum(r["cases"] for r in report["opened"]) == 3
    assert [h["age"] for h in report["holds"]] == [
        "under 30 days", "30 to 90 days", "90 days to a year", "over a year"
    ]  # fmt: skip
    assert report["win_back"]["by"] == "trigger"

    sam = _api(client, db, SAM, Role.ACCOUNT_MANAGER)
    own = client.get("/api/insights", headers=sam).json()
    assert own["filter"]["owner"] == SAM and own["funnel"]["counts"]["opened"] == 1
    lower = client.get("/api/insights", headers=sam, params={"country": "de"}).json()
    assert lower["filter"]["country"] == "DE"
    refused = client.get("/api/insights", headers=sam, params={"owner": LI})
    assert refused.status_code == 403 and "own customers" in refused.text


def test_bad_filters_are_refused_with_a_reason(
    client: TestClient, db: Database, scene: Scene
) -> None:
    headers = _api(client, db, GRACE, Role.MANAGER)
    for params, reason in (
        ({"trigger": "boredom"}, "unknown trigger 'boredom'"),
        ({"by": "colour"}, "unknown breakdown 'colour'"),
        ({"since": "2026-11-30", "until": "2026-11-01"}, "since must come before until"),
        ({"since": "2010-01-01", "until": "2026-01-01"}, "five years at most"),
        ({"since": "yesterday"}, "since"),
        ({"country": "Germany"}, "country must be a two-letter ISO 3166 code"),
        ({"country": "1A"}, "country must be a two-letter"),
    ):
        answer = client.get("/api/insights", headers=headers, params=params)
        assert answer.status_code == 422 and reason in answer.text, (params, answer.text)


def test_the_page_and_its_csv_files(client: TestClient, scene: Scene) -> None:
    sign_in(client, GRACE)
    page = client.get("/insights", params={"by": "owner"})
    assert page.status_code == 200
    assert 'data-step="opened"' in page.text and "<svg" in page.text
    assert 'href="/insights.csv?section=funnel&' in page.text
    funnel = client.get("/insights.csv", params={"section": "funnel"})
    assert funnel.status_code == 200 and funnel.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(funnel.text)))
    assert rows[0] == {"step": "opened", "cases": "3", "rate": "1.0"}
    assert client.get("/insights.csv", params={"section": "secrets"}).status_code == 422
    client.cookies.clear()
    sign_in(client, SAM)
    mine = client.get("/insights").text
    assert "Customers of sam.okafor@example.com." in mine and 'id="f-owner"' not in mine
