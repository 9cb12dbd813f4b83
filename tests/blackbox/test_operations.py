"""Operations (issue 11, part 3): `/healthz` and `/readyz`; `/metrics` read with `prometheus_client`'s own text
parser after real traffic, including UMA grants, and the counters moved as they should; `--log-format json`
writes one JSON object per line, and the request id a response echoed (`X-Request-Id`) is on its access line
and in the decision log."""

from __future__ import annotations

import json
import secrets

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from conftest import REPO_ROOT
from support import HTTP_TIMEOUT
from uma_support import ID_TOKEN_FORMAT, UMA_GRANT, cli_decisions, email_policy, make_scene


def scrape(server) -> dict[tuple[str, tuple], float]:
    """Every sample of `/metrics`, keyed by (sample name, sorted labels), parsed by prometheus_client."""
    response = requests.get(f"{server.base_url}/metrics", timeout=HTTP_TIMEOUT)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4"), response.headers
    samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def uma_grant(server, client, ticket: str, request_id: str | None = None, **params: str) -> requests.Response:
    """The UMA grant as a plain form post (client_secret_basic), with an `X-Request-Id` when given."""
    headers = {"X-Request-Id": request_id} if request_id else {}
    return requests.post(
        server.endpoint("token_endpoint"),
        data={"grant_type": UMA_GRANT, "ticket": ticket, **params},
        auth=(client.client_id, client.secret),
        headers=headers,
        timeout=HTTP_TIMEOUT,
    )


def json_log_lines(server) -> list[dict]:
    """The server's log, each line parsed as JSON (the fixture's own `$ command` lines left out)."""
    lines = [line for line in server.log_path.read_text().splitlines() if line and not line.startswith("$ ")]
    parsed = []
    for line in lines:
        try:
            entry = json.loads(line)
        except ValueError:
            pytest.fail(f"a log line that is not JSON: {line!r}")
        assert isinstance(entry, dict) and {"time", "level", "target", "message"} <= set(entry), line
        parsed.append(entry)
    return parsed


def test_healthz_and_readyz_answer_200_on_a_running_server(uma):
    health = requests.get(f"{uma.base_url}/healthz", timeout=HTTP_TIMEOUT)
    assert health.status_code == 200, health.text
    assert health.json() == {"status": "ok"}
    ready = requests.get(f"{uma.base_url}/readyz", timeout=HTTP_TIMEOUT)
    assert ready.status_code == 200, ready.text
    assert ready.json() == {"status": "ready"}


def test_a_malformed_request_id_is_replaced_and_a_good_one_echoed(uma):
    good = requests.get(f"{uma.base_url}/healthz", headers={"X-Request-Id": "lb-7f3a.1"}, timeout=HTTP_TIMEOUT)
    assert good.headers.get("X-Request-Id") == "lb-7f3a.1"
    bad = requests.get(f"{uma.base_url}/healthz", headers={"X-Request-Id": "x" * 300}, timeout=HTTP_TIMEOUT)
    echoed = bad.headers.get("X-Request-Id")
    assert echoed and echoed != "x" * 300 and len(echoed) <= 128, echoed


def test_metrics_move_with_traffic_and_json_logs_carry_the_request_id(make_server, tmp_path):
    server = make_server("--log-format", "json")
    scene = make_scene(server, tmp_path)
    bob = scene.party("bob")
    checking = scene.register(["view"], name="Checking")
    scene.share("bob-views", email_policy(["view"], [bob.email]))
    id_token = scene.id_token(bob)
    before = scrape(server)

    # need_info (no claims yet), then an RPT with Bob's ID token: both through the token endpoint.
    asked = f"ops-{secrets.token_hex(6)}"
    first = uma_grant(server, scene.app, scene.ticket((checking, ["view"])), request_id=asked)
    assert first.status_code == 403 and first.json()["error"] == "need_info", first.text
    assert first.headers.get("X-Request-Id") == asked
    second = uma_grant(server, scene.app, first.json()["ticket"], claim_token=id_token,
                       claim_token_format=ID_TOKEN_FORMAT)
    assert second.status_code == 200, second.text
    generated = second.headers.get("X-Request-Id")
    assert generated and generated != asked
    missing = requests.get(f"{server.base_url}/uma/resources/not-a-resource-{secrets.token_hex(4)}",
                           headers={"Authorization": f"Bearer {scene.pat}"}, timeout=HTTP_TIMEOUT)
    assert missing.status_code == 404, missing.text

    after = scrape(server)
    moved = lambda name, **labels: value(after, name, **labels) - value(before, name, **labels)  # noqa: E731

    assert moved("uma_cedar_uma_grant_answers_total", answer="need_info") == 1
    assert moved("uma_cedar_uma_grant_answers_total", answer="rpt") == 1
    assert moved("uma_cedar_uma_grant_answers_total", answer="request_denied") == 0
    assert moved("uma_cedar_http_requests_total", method="POST", route="/token", status="403") == 1
    assert moved("uma_cedar_http_requests_total", method="POST", route="/token", status="200") == 1
    assert moved("uma_cedar_http_request_duration_seconds_count", method="POST", route="/token") == 2
    assert value(after, "uma_cedar_http_request_duration_seconds_bucket", method="POST", route="/token",
                 le="+Inf") == value(after, "uma_cedar_http_request_duration_seconds_count", method="POST",
                                     route="/token")
    # The route pattern labels the 404, never the raw path.
    assert not any("not-a-resource" in str(labels) for _, labels in after), "a raw path became a label"
    assert moved("uma_cedar_http_requests_total", method="GET", route="/uma/resources/{id}", status="404") == 1
    # Each grant looked up Alice's policies: the first may compile them, later ones hit the cache.
    lookups = (moved("uma_cedar_policy_cache_lookups_total", result="hit")
               + moved("uma_cedar_policy_cache_lookups_total", result="miss"))
    assert lookups >= 2, lookups
    assert moved("uma_cedar_store_commit_duration_seconds_count") >= 2, "both grants wrote"
    assert value(after, "uma_cedar_store_write_queue_depth") >= 0
    assert ("uma_cedar_store_write_queue_depth", ()) in after
    assert value(after, "uma_cedar_webhook_deliveries", state="pending") == 0
    assert value(after, "uma_cedar_store_readable") == 1

    # Logs: JSON lines; the access line of each grant carries the id its response echoed.
    logs = json_log_lines(server)
    access = {e.get("request_id"): e for e in logs if e["target"] == "uma_cedar::access"}
    assert access[asked]["route"] == "/token" and access[asked]["status"] == 403, access[asked]
    assert access[generated]["status"] == 200, access[generated]
    assert all("?" not in e["path"] for e in access.values()), "no query strings in the access log"

    # The decision log shows the same ids, through the admin CLI.
    entries = [e for e in cli_decisions(server, scene.alice.username) if e["resource_id"] == checking]
    assert [(e["answer"], e["http_request_id"]) for e in entries] == [("permit", generated), ("need_info", asked)]


def test_metrics_behind_a_token_refuse_other_callers(make_server, tmp_path):
    config = tmp_path / "uma-cedar.toml"
    token = secrets.token_urlsafe(24)
    config.write_text(f'metrics_token = "{token}"\n')
    server = make_server("--config", str(config))
    refused = requests.get(f"{server.base_url}/metrics", timeout=HTTP_TIMEOUT)
    assert refused.status_code == 401, refused.text
    allowed = requests.get(f"{server.base_url}/metrics", headers={"Authorization": f"Bearer {token}"},
                           timeout=HTTP_TIMEOUT)
    assert allowed.status_code == 200
    families = {f.name for f in text_string_to_metric_families(allowed.text)}
    assert {"uma_cedar_http_requests", "uma_cedar_uma_grant_answers"} <= families, families


def test_every_metric_served_is_documented_and_every_documented_one_served(uma):
    text = (REPO_ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    documented = {line.split("`")[1] for line in text.splitlines() if line.startswith("| `uma_cedar_")}
    response = requests.get(f"{uma.base_url}/metrics", timeout=HTTP_TIMEOUT)
    # The parser names a counter's family without `_total`; the exposition (and the docs) use the full name.
    served = {f.name + ("_total" if f.type == "counter" else "") for f in text_string_to_metric_families(response.text)}
    assert served == documented, f"served but undocumented: {served - documented}; documented but not served: " \
                                 f"{documented - served}"
