"""TLS files as the settings name them, checked with certificates the test makes with openssl.

The web config file (exporter-toolkit's format) is checked whole at start-up with messages that
name the problem; the Kafka settings' CA, client certificate and encrypted key give the context
every Kafka client uses.
"""

from __future__ import annotations

import ssl
from pathlib import Path

import bcrypt
import pytest
import yaml
from pydantic import SecretStr

from pki import Pki, make_pki
from socialpulse.export.webconfig import WebConfigError, load_web_config, server_ssl_context
from socialpulse.kafka.options import client_options
from socialpulse.settings import KafkaSettings

pytestmark = pytest.mark.integration

HASH = bcrypt.hashpw(b"s3cret", bcrypt.gensalt(rounds=4)).decode()
SECRET = "hunter2"  # noqa: S105 - a made-up key password


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"), client_key_password=SECRET)


def _write(path: Path, data: object) -> Path:
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data))
    return path


def test_empty_file_means_plain_http_and_no_users(tmp_path: Path) -> None:
    config = load_web_config(_write(tmp_path / "web.yml", ""))
    assert config.tls_server_config is None and config.basic_auth_users == {}
    assert server_ssl_context(config) is None


def test_full_config_gives_a_verifying_tls_context(tmp_path: Path, pki: Pki) -> None:
    web = {
        "tls_server_config": {
            "cert_file": str(pki.server.cert),
            "key_file": str(pki.server.key),
            "client_auth_type": "RequireAndVerifyClientCert",
            "client_ca_file": str(pki.ca),
            "min_version": "TLS13",
        },
        "basic_auth_users": {"prometheus": HASH},
    }
    config = load_web_config(_write(tmp_path / "web.yml", web))
    ctx = server_ssl_context(config)
    assert ctx is not None
    assert ctx.verify_mode == ssl.CERT_REQUIRED
    assert ctx.minimum_version == ssl.TLSVersion.TLSv1_3
    assert config.basic_auth_users == {"prometheus": HASH}


def test_relative_paths_are_relative_to_the_file(tmp_path: Path, pki: Pki) -> None:
    """As exporter-toolkit resolves them, so a file written for Prometheus works unchanged."""
    web = {"tls_server_config": {"cert_file": "server.crt", "key_file": "server.key"}}
    config = load_web_config(_write(pki.ca.parent / "web.yml", web))
    assert config.tls_server_config is not None
    assert config.tls_server_config.cert_file == pki.server.cert
    ctx = server_ssl_context(config)
    assert ctx is not None and ctx.verify_mode == ssl.CERT_NONE
    assert ctx.minimum_version == ssl.TLSVersion.TLSv1_2  # the toolkit's default


@pytest.mark.parametrize(
    ("web", "message"),
    [
        ("tls_server_config: [unclosed", "is not valid YAML"),
        ("- a list", "must hold a mapping"),
        ({"basic_auth_user": {"a": "b"}}, "basic_auth_user: unknown key; supported here"),
        (
            {"tls_server_config": {"cert_file": "x", "key_file": "y", "cipher_suites": ["x"]}},
            "tls_server_config.cipher_suites: unknown key",
        ),
        ({"tls_server_config": {"cert_file": "{server}"}}, "tls_server_config.key_file"),
        ({"basic_auth_users": {"alice": "plain-text"}}, "'alice' is not a bcrypt hash"),
        (
            {"tls_server_config": {"cert_file": "missing.crt", "key_file": "{server_key}"}},
            "tls_server_config.cert_file {dir}/missing.crt does not exist",
        ),
        (
            {
                "tls_server_config": {
                    "cert_file": "{server}",
                    "key_file": "{server_key}",
                    "client_auth_type": "RequireAndVerifyClientCert",
                }
            },
            "RequireAndVerifyClientCert needs client_ca_file",
        ),
        (
            {
                "tls_server_config": {
                    "cert_file": "{server}",
                    "key_file": "{server_key}",
                    "client_ca_file": "{ca}",
                }
            },
            "client_ca_file is set but client_auth_type is NoClientCert",
        ),
        (
            {
                "tls_server_config": {
                    "cert_file": "{server}",
                    "key_file": "{server_key}",
                    "client_auth_type": "RequireAnyClientCert",
                }
            },
            "without verifying them",
        ),
        (
            {"tls_server_config": {"cert_file": "{server}", "key_file": "{client_key}"}},
            "cannot load cert_file",
        ),
        (
            {
                "tls_server_config": {
                    "cert_file": "{server}",
                    "key_file": "{server_key}",
                    "min_version": "TLS1.2",
                }
            },
            "tls_server_config.min_version",
        ),
    ],
)
def test_bad_config_stops_with_a_message_naming_the_problem(
    tmp_path: Path, pki: Pki, web: object, message: str
) -> None:
    names = {
        "server": str(pki.server.cert),
        "server_key": str(pki.server.key),
        "client_key": str(pki.client.key),
        "ca": str(pki.ca),
        "dir": str(tmp_path),
    }
    if not isinstance(web, str):
        web = yaml.safe_dump(web).format(**names)
    path = _write(tmp_path / "web.yml", web)
    with pytest.raises(WebConfigError) as e:
        load_web_config(path)
    assert str(path) in str(e.value)
    assert message.format(**names) in str(e.value)


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(WebConfigError, match=r"cannot read web config file .*nope\.yml"):
        load_web_config(tmp_path / "nope.yml")


def test_tls_trusts_the_configured_ca_and_presents_the_client_certificate(pki: Pki) -> None:
    kafka = KafkaSettings(
        security_protocol="SSL",
        ssl_cafile=pki.ca,
        ssl_certfile=pki.client.cert,
        ssl_keyfile=pki.client.key,
        ssl_key_password=SecretStr(SECRET),
    )
    context = client_options(kafka, "b:9093")["ssl_context"]
    assert [c["subject"] for c in context.get_ca_certs()] == [((("commonName", "ca"),),)]
    assert context.check_hostname


def test_hostname_check_can_be_switched_off(pki: Pki) -> None:
    kafka = KafkaSettings(security_protocol="SSL", ssl_cafile=pki.ca, ssl_check_hostname=False)
    context = client_options(kafka, "b:9093")["ssl_context"]
    assert not context.check_hostname and context.verify_mode == ssl.CERT_REQUIRED


def test_unusable_tls_files_are_named(pki: Pki, tmp_path: Path) -> None:
    missing = KafkaSettings(security_protocol="SSL", ssl_cafile=tmp_path / "ca.pem")
    with pytest.raises(RuntimeError, match=r"kafka\.ssl_cafile .*ca\.pem does not exist"):
        client_options(missing, "b:9093")
    wrong_password = KafkaSettings(
        security_protocol="SSL",
        ssl_certfile=pki.client.cert,
        ssl_keyfile=pki.client.key,
        ssl_key_password=SecretStr("not it"),
    )
    with pytest.raises(RuntimeError, match="cannot use the Kafka TLS files"):
        client_options(wrong_password, "b:9093")
