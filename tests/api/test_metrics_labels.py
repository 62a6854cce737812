"""The request metrics keep a bounded label set whatever paths and methods clients send."""

from __future__ import annotations

import re
import uuid

from tests.stack import Stack


def test_random_methods_and_paths_add_no_labels(stack: Stack) -> None:
    token = uuid.uuid4().hex[:8].upper()
    for index in range(5):
        stack.client.request(f"X{token}{index}", f"/v1/random-{token}-{index}")
        stack.client.request(f"X{token}{index}", "/healthz")
        stack.client.get(f"/v1/random-{token}-{index}/deeper")

    text = stack.client.get("/metrics").text

    assert token not in text
    assert token.lower() not in text
    methods = set(re.findall(r'method="([^"]*)"', text))
    assert methods <= {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "other"}
    assert 'endpoint="unmatched",method="other",status="404"' in text


def test_metrics_content_type_prometheus_text(stack: Stack) -> None:
    response = stack.client.get("/metrics")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
