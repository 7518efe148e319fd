"""The HTTP server's web config file: TLS, client certificates and basic-auth users.

The format is Prometheus exporter-toolkit's (``--web.config.file`` of Prometheus and its
exporters), so one file can serve both. Relative paths are resolved against the file's folder,
as the toolkit does. Everything is checked at start-up; a problem stops the service with a
message naming the file and the key.
"""

from __future__ import annotations

import re
import ssl
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

# exporter-toolkit's names; Python's TLS cannot accept a client certificate it does not verify,
# so RequestClientCert and RequireAnyClientCert are refused rather than silently tightened.
ClientAuthType = Literal["NoClientCert", "VerifyClientCertIfGiven", "RequireAndVerifyClientCert"]
_UNVERIFIED_CLIENT_AUTH = ("RequestClientCert", "RequireAnyClientCert", "RequireClientCert")
TlsVersion = Literal["TLS10", "TLS11", "TLS12", "TLS13"]
_TLS_VERSIONS = {
    "TLS10": ssl.TLSVersion.TLSv1,
    "TLS11": ssl.TLSVersion.TLSv1_1,
    "TLS12": ssl.TLSVersion.TLSv1_2,
    "TLS13": ssl.TLSVersion.TLSv1_3,
}
_CLIENT_AUTH = {
    "NoClientCert": ssl.CERT_NONE,
    "VerifyClientCertIfGiven": ssl.CERT_OPTIONAL,
    "RequireAndVerifyClientCert": ssl.CERT_REQUIRED,
}
# Modular crypt format of bcrypt, the only hash exporter-toolkit accepts.
_BCRYPT_HASH = re.compile(r"^\$2[aby]\$[0-9]{2}\$[./A-Za-z0-9]{53}$")


class WebConfigError(ValueError):
    """The web config file cannot be used; the message names the file and the problem."""


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class TlsServerConfig(_Strict):
    """``tls_server_config``: the server's certificate and what it asks of clients."""

    cert_file: Path
    key_file: Path
    client_auth_type: ClientAuthType = "NoClientCert"
    client_ca_file: Path | None = None
    # exporter-toolkit's default minimum.
    min_version: TlsVersion = "TLS12"
    max_version: TlsVersion | None = None

    @field_validator("client_auth_type", mode="before")
    @classmethod
    def _verifiable(cls, v: object) -> object:
        if v in _UNVERIFIED_CLIENT_AUTH:
            raise ValueError(
                f"{v} accepts client certificates without verifying them, which this server "
                "does not do; use VerifyClientCertIfGiven or RequireAndVerifyClientCert "
                "with client_ca_file"
            )
        return v

    @model_validator(mode="after")
    def _ca_matches_policy(self) -> TlsServerConfig:
        verifies = self.client_auth_type != "NoClientCert"
        if verifies and self.client_ca_file is None:
            raise ValueError(f"client_auth_type {self.client_auth_type} needs client_ca_file")
        if not verifies and self.client_ca_file is not None:
            raise ValueError(
                "client_ca_file is set but client_auth_type is NoClientCert; "
                "set client_auth_type: RequireAndVerifyClientCert (or VerifyClientCertIfGiven)"
            )
        if (
            self.max_version is not None
            and _TLS_VERSIONS[self.max_version] < _TLS_VERSIONS[self.min_version]
        ):
            raise ValueError(f"max_version {self.max_version} is below min_version")
        return self


class WebConfig(_Strict):
    """The whole file; both sections are optional, an empty file changes nothing."""

    tls_server_config: TlsServerConfig | None = None
    basic_auth_users: dict[str, str] = Field(default_factory=dict)

    @field_validator("basic_auth_users")
    @classmethod
    def _bcrypt_hashes(cls, v: dict[str, str]) -> dict[str, str]:
        for user, hashed in v.items():
            if ":" in user or not user:
                raise ValueError(f"user name {user!r} must be non-empty and hold no ':'")
            if not _BCRYPT_HASH.match(hashed):
                raise ValueError(
                    f"the password of {user!r} is not a bcrypt hash ($2b$...); make one with "
                    "`htpasswd -nBC 10 '' | tr -d ':\\n'` or python -c \"import bcrypt; "
                    "print(bcrypt.hashpw(b'secret', bcrypt.gensalt()).decode())\""
                )
        return v


def _problem(loc: tuple[int | str, ...], kind: str, msg: str) -> str:
    where = ".".join(str(p) for p in loc) or "(top level)"
    if kind != "extra_forbidden":
        return f"{where}: {msg}"
    model = TlsServerConfig if len(loc) > 1 else WebConfig
    return f"{where}: unknown key; supported here: {', '.join(model.model_fields)}"


def _resolve(path: Path, base: Path) -> Path:
    return path if path.is_absolute() else base / path


def load_web_config(path: Path) -> WebConfig:
    """Read and check ``path``; raises ``WebConfigError`` naming the problem."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise WebConfigError(f"cannot read web config file {path}: {e.strerror}") from e
    except yaml.YAMLError as e:
        raise WebConfigError(f"web config file {path} is not valid YAML: {e}") from e
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise WebConfigError(f"web config file {path} must hold a mapping at the top level")
    try:
        config = WebConfig.model_validate(data)
    except ValidationError as e:
        problems = "; ".join(_problem(err["loc"], err["type"], err["msg"]) for err in e.errors())
        raise WebConfigError(f"web config file {path}: {problems}") from e
    tls = config.tls_server_config
    if tls is not None:
        base = path.parent
        files = {
            "cert_file": _resolve(tls.cert_file, base),
            "key_file": _resolve(tls.key_file, base),
        }
        if tls.client_ca_file is not None:
            files["client_ca_file"] = _resolve(tls.client_ca_file, base)
        for key, file in files.items():
            if not file.is_file():
                raise WebConfigError(
                    f"web config file {path}: tls_server_config.{key} {file} does not exist"
                )
        config = config.model_copy(update={"tls_server_config": tls.model_copy(update=files)})
        try:
            server_ssl_context(config)  # fail now on a key that does not match, or a bad PEM
        except WebConfigError as e:
            raise WebConfigError(f"web config file {path}: {e}") from e
    return config


def server_ssl_context(config: WebConfig) -> ssl.SSLContext | None:
    """The TLS context the server listens with, or None for plain HTTP."""
    tls = config.tls_server_config
    if tls is None:
        return None
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = _TLS_VERSIONS[tls.min_version]
    if tls.max_version is not None:
        ctx.maximum_version = _TLS_VERSIONS[tls.max_version]
    try:
        ctx.load_cert_chain(tls.cert_file, tls.key_file)
    except (ssl.SSLError, OSError) as e:
        raise WebConfigError(
            f"tls_server_config: cannot load cert_file {tls.cert_file} with key_file "
            f"{tls.key_file}: {e}"
        ) from e
    ctx.verify_mode = _CLIENT_AUTH[tls.client_auth_type]
    if tls.client_ca_file is not None:
        try:
            ctx.load_verify_locations(cafile=tls.client_ca_file)
        except (ssl.SSLError, OSError) as e:
            raise WebConfigError(
                f"tls_server_config: cannot load client_ca_file {tls.client_ca_file}: {e}"
            ) from e
    return ctx
