"""The compose file and the Kubernetes manifest listen beyond loopback; the service does not.

The image's own ``ENV`` is checked with the rest of the Dockerfile in test_prometheus_rules.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from socialpulse.settings import Settings

pytestmark = pytest.mark.deploy

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
EVERY_INTERFACE = "0.0.0.0"  # noqa: S104 - what the image is meant to bind


def test_service_default_is_loopback() -> None:
    assert Settings.model_fields["metrics_host"].default == "127.0.0.1"


def test_compose_and_k8s_listen_on_every_interface() -> None:
    compose: dict[str, Any] = yaml.safe_load(
        (DEPLOY / "compose" / "docker-compose.yml").read_text()
    )
    environment = compose["services"]["socialpulse"]["environment"]
    assert environment["SOCIALPULSE_METRICS_HOST"] == EVERY_INTERFACE
    [deployment] = [
        d
        for d in yaml.safe_load_all((DEPLOY / "k8s" / "socialpulse.yml").read_text())
        if d and d["kind"] == "Deployment"
    ]
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["SOCIALPULSE_METRICS_HOST"] == EVERY_INTERFACE
