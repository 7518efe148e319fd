"""The HTTP server on real sockets: loopback by default, TLS and client certificates, basic auth.

Certificates come from a CA the test makes with openssl; a real Prometheus (Debian's binary)
scrapes `socialpulse run` through TLS, a client certificate and basic auth, with the same web
config file that ``promtool check web-config`` accepts for Prometheus itself.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import bcrypt
import pytest
import pytest_asyncio
import yaml
from prometheus_client import CollectorRegistry

from pki import Pki, make_pki
from ports import free_port
from prometheus_server import run_prometheus, run_tool
from socialpulse.core.pipeline import Pipeline
from socialpulse.export.basic_auth import BasicAuth
from socialpulse.export.server import HttpServer, build_app
from socialpulse.export.webconfig import load_web_config, server_ssl_context
from socialpulse.settings import Settings

pytestmark = pytest.mark.integration

USER, PASSWORD = "prometheus", "correct horse battery staple"
START_TIMEOUT_S = 120


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


def _web_config(
    dir: Path, pki: Pki, *, client_auth: str | None = None, users: bool = False
) -> Path:
    tls: dict[str, Any] = {"cert_file": str(pki.server.cert), "key_file": str(pki.server.key)}
    if client_auth is not None:
        tls |= {"client_auth_type": client_auth, "client_ca_file": str(pki.ca)}
    web: dict[str, Any] = {"tls_server_config": tls}
    if users:
        hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=10)).decode()
        web["basic_auth_users"] = {USER: hashed}
    path = dir / "web.yml"
    path.write_text(yaml.safe_dump(web))
    return path


def _client_context(pki: Pki, cert: str | None = None, trust: bool = True) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(pki.ca) if trust else None)
    pair = {"client": pki.client, "stranger": pki.stranger}.get(cert or "")
    if pair is not None:
        ctx.load_cert_chain(pair.cert, pair.key)
    return ctx


def _get(url: str, ctx: ssl.SSLContext | None = None, auth: str | None = None) -> int:
    """Status of GET ``url`` (401s included); raises OSError when no HTTP answer comes."""
    headers = {"Authorization": auth} if auth else {}
    request = urllib.request.Request(url, headers=headers)  # noqa: S310 - our local server
    try:
        with urllib.request.urlopen(request, timeout=10, context=ctx) as r:  # noqa: S310
            return int(r.status)
    except urllib.error.HTTPError as e:
        return int(e.code)


async def _fetch(url: str, ctx: ssl.SSLContext | None = None, auth: str | None = None) -> int:
    """``_get`` off the event loop, which serves the request."""
    return await asyncio.to_thread(_get, url, ctx, auth)


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


ServerFactory = Callable[..., Awaitable[HttpServer]]


@pytest_asyncio.fixture
async def serve() -> AsyncIterator[ServerFactory]:
    """Start an HttpServer on a free port with a web config, as the service does."""
    servers: list[HttpServer] = []

    async def start(host: str, web_config: Path | None = None) -> HttpServer:
        config = load_web_config(web_config) if web_config else None
        users = config.basic_auth_users if config else {}
        app = build_app(CollectorRegistry(), auth=BasicAuth(users) if users else None)
        ctx = server_ssl_context(config) if config else None
        server = HttpServer(app, host, 0, ctx)
        await server.start()
        servers.append(server)
        return server

    yield start
    for s in servers:
        await s.stop()


def _outside_address() -> str:
    """This machine's address on its default route: reaches the host, but not over loopback."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.connect(("192.0.2.1", 9))  # no packet is sent; this picks the outgoing interface
        address: str = s.getsockname()[0]
    assert not address.startswith("127."), "no non-loopback interface to test the bind with"
    return address


def _reachable(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(2)
        return s.connect_ex((host, port)) == 0


async def test_default_bind_is_loopback_only(serve: ServerFactory) -> None:
    outside = _outside_address()
    local = await serve(Settings().metrics_host)
    assert (local.host, local.url) == ("127.0.0.1", f"http://127.0.0.1:{local.port}")
    assert _reachable("127.0.0.1", local.port)
    assert not _reachable(outside, local.port)
    # The same probe does reach a server bound to every interface, as the image configures it.
    everywhere = await serve("0.0.0.0")  # noqa: S104 - what the container image sets
    assert everywhere.url == f"http://0.0.0.0:{everywhere.port}"
    assert _reachable(outside, everywhere.port)


async def test_tls_serves_https_to_clients_trusting_the_ca(
    serve: ServerFactory, pki: Pki, tmp_path: Path
) -> None:
    server = await serve("127.0.0.1", _web_config(tmp_path, pki))
    assert server.url.startswith("https://127.0.0.1:")
    url = f"https://127.0.0.1:{server.port}/metrics"
    assert await _fetch(url, _client_context(pki)) == 200
    with pytest.raises(urllib.error.URLError, match="CERTIFICATE_VERIFY_FAILED"):
        await _fetch(url, _client_context(pki, trust=False))
    with pytest.raises(OSError):  # plain HTTP to the TLS port gets no HTTP answer
        await _fetch(f"http://127.0.0.1:{server.port}/metrics")


async def test_client_certificate_required_and_verified(
    serve: ServerFactory, pki: Pki, tmp_path: Path
) -> None:
    server = await serve(
        "127.0.0.1", _web_config(tmp_path, pki, client_auth="RequireAndVerifyClientCert")
    )
    url = f"https://127.0.0.1:{server.port}/healthz"
    assert await _fetch(url, _client_context(pki, cert="client")) == 200
    for cert in (None, "stranger"):  # no certificate, or one from another CA
        with pytest.raises(OSError):
            await _fetch(url, _client_context(pki, cert=cert))


async def test_basic_auth_over_tls(serve: ServerFactory, pki: Pki, tmp_path: Path) -> None:
    server = await serve("127.0.0.1", _web_config(tmp_path, pki, users=True))
    url, ctx = f"https://127.0.0.1:{server.port}/metrics", _client_context(pki)
    assert await _fetch(url, ctx) == 401
    assert await _fetch(url, ctx, _basic(USER, "wrong")) == 401
    assert await _fetch(url, ctx, _basic("someone", PASSWORD)) == 401
    assert await _fetch(url, ctx, _basic(USER, PASSWORD)) == 200


def _run_env(**settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOCIALPULSE_")}
    return env | {f"SOCIALPULSE_{k.upper()}": v for k, v in settings.items()}


def test_invalid_web_config_stops_start_up_naming_the_problem(tmp_path: Path, pki: Pki) -> None:
    web = tmp_path / "web.yml"
    web.write_text(
        yaml.safe_dump(
            {"tls_server_config": {"cert_file": "gone.crt", "key_file": str(pki.server.key)}}
        )
    )
    started = time.monotonic()
    done = subprocess.run(  # noqa: S603 - our own CLI
        [sys.executable, "-m", "socialpulse.cli", "run"],
        env=_run_env(web_config_file=str(web), metrics_port=str(free_port())),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 1, done
    assert f"tls_server_config.cert_file {tmp_path}/gone.crt does not exist" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    assert "embedded" not in done.stdout  # stopped before starting anything
    assert time.monotonic() - started < 30


@dataclass
class Service:
    """`socialpulse run` behind TLS, a client certificate and basic auth."""

    port: int
    web_config: Path
    log: Path


@pytest.fixture(scope="module")
def secure_service(tmp_path_factory: pytest.TempPathFactory, pki: Pki) -> Iterator[Service]:
    workdir = tmp_path_factory.mktemp("secure-service")
    web = _web_config(workdir, pki, client_auth="RequireAndVerifyClientCert", users=True)
    port = free_port()
    log = workdir / "socialpulse.log"
    env = _run_env(
        web_config_file=str(web),
        metrics_port=str(port),
        api_top_authors="false",
        summary_interval_seconds="30",
    )
    with log.open("w") as out:
        proc = subprocess.Popen(  # noqa: S603 - our own CLI
            [sys.executable, "-m", "socialpulse.cli", "run"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while "Ctrl-C stops" not in log.read_text():
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.3)
        yield Service(port, web, log)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def test_banner_names_the_bound_https_address(secure_service: Service) -> None:
    banner = re.search(r"metrics (\S+)/metrics", secure_service.log.read_text())
    assert banner is not None and banner.group(1) == f"https://127.0.0.1:{secure_service.port}"


def test_service_api_top_authors_switched_off(secure_service: Service, pki: Pki) -> None:
    base = f"https://127.0.0.1:{secure_service.port}/api/v1"
    ctx, auth = _client_context(pki, cert="client"), _basic(USER, PASSWORD)
    query = "?brand=aurora&window=5m"
    assert _get(f"{base}/kpis{query}", ctx, auth) == 200
    request = urllib.request.Request(  # noqa: S310 - our local server
        f"{base}/top-authors{query}", headers={"Authorization": auth}
    )
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(request, timeout=10, context=ctx)  # noqa: S310
    assert e.value.code == 404
    assert "disabled" in json.loads(e.value.read())["error"]
    assert _get(f"{base}/top-authors{query}", ctx) == 401  # auth comes first


def test_prometheus_scrapes_through_tls_client_cert_and_basic_auth(
    secure_service: Service, pki: Pki, tmp_path: Path
) -> None:
    # The very file the service uses is one Prometheus' own --web.config.file accepts.
    checked = run_tool("promtool", "check", "web-config", str(secure_service.web_config))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tls = {
        "ca_file": str(pki.ca),
        "cert_file": str(pki.client.cert),
        "key_file": str(pki.client.key),
    }
    target = f"127.0.0.1:{secure_service.port}"
    wrong = {"username": USER, "password": "not it"}
    with run_prometheus(
        tmp_path,
        [target],
        scrape={
            "scheme": "https",
            "tls_config": tls,
            "basic_auth": {"username": USER, "password": PASSWORD},
        },
        more_jobs=[
            {
                "job_name": "wrong-password",
                "scheme": "https",
                "tls_config": tls,
                "basic_auth": wrong,
                "static_configs": [{"targets": [target]}],
            }
        ],
    ) as prom:
        deadline = time.monotonic() + 60
        while not (
            prom.query('up{job="socialpulse"} == 1')
            and prom.query('up{job="wrong-password"}')
            and prom.query('socialpulse_build_info{job="socialpulse"}')
        ):
            assert time.monotonic() < deadline, "Prometheus got no samples through TLS + auth"
            time.sleep(0.5)
        [up] = prom.query('up{job="socialpulse"}')
        assert up["metric"]["instance"] == target and up["value"][1] == "1"
        [refused] = prom.query('up{job="wrong-password"}')
        assert refused["value"][1] == "0"
        samples = prom.query('count({job="socialpulse", __name__=~"socialpulse_.+"})')
        assert int(samples[0]["value"][1]) > 10


async def _tail(url: str, pki: Pki, password_file: Path, seconds: float) -> tuple[int, str, str]:
    """Run ``socialpulse tail`` against ``url`` for ``seconds``, then Ctrl-C it."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "socialpulse.cli",
        "tail",
        "--url",
        url,
        "--cafile",
        str(pki.ca),
        "--cert",
        str(pki.client.cert),
        "--key",
        str(pki.client.key),
        "--user",
        USER,
        "--password-file",
        str(password_file),
        "--interval",
        "0.2",
        env=_run_env(brands='[{"id": "a", "name": "A", "terms": ["alpha"]}]'),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    await asyncio.sleep(seconds)
    if proc.returncode is None:
        proc.send_signal(signal.SIGINT)
    out, err = await asyncio.wait_for(proc.communicate(), timeout=30)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_tail_reads_a_secured_service(pki: Pki, tmp_path: Path) -> None:
    settings = Settings(brands=[{"id": "a", "name": "A", "terms": ["alpha"]}])
    pipeline = Pipeline(settings)
    config = load_web_config(
        _web_config(tmp_path, pki, client_auth="RequireAndVerifyClientCert", users=True)
    )
    users = config.basic_auth_users
    app = build_app(CollectorRegistry(), pipeline.store, auth=BasicAuth(users))
    server = HttpServer(app, "127.0.0.1", 0, server_ssl_context(config))
    await server.start()
    try:
        url = f"https://127.0.0.1:{server.port}"
        good = tmp_path / "password"
        good.write_text(PASSWORD + "\n")
        code, out, err = await _tail(url, pki, good, 4.0)
        assert code == 0, err
        assert "socialpulse" in out and " a " in out, out
        bad = tmp_path / "wrong"
        bad.write_text("wrong\n")
        code, out, err = await _tail(url, pki, bad, 4.0)
        assert code == 1
        assert "401" in err
    finally:
        await server.stop()
