"""A certificate authority made by the tests with the ``openssl`` command line.

``make_pki(dir)`` writes a CA and certificates it signed for a server (valid for ``localhost``
and ``127.0.0.1``) and for a client, plus a second, unrelated CA whose client certificate a
verifying server must refuse. Keys are unencrypted PEM unless a password is asked for.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest


def _openssl(*args: str, cwd: Path) -> None:
    binary = shutil.which("openssl")
    if binary is None:
        pytest.fail("openssl is not on PATH: apt-get install openssl", pytrace=False)
    done = subprocess.run(  # noqa: S603 - the installed openssl, arguments built here
        [binary, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        stdin=subprocess.DEVNULL,
        timeout=60,
    )
    if done.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(args)}: {done.stderr}")


@dataclass(frozen=True)
class KeyPair:
    """A certificate and its private key, PEM files."""

    cert: Path
    key: Path


@dataclass(frozen=True)
class Pki:
    """A CA, a server and a client it signed, and a client signed by another CA."""

    ca: Path
    other_ca: Path
    server: KeyPair
    client: KeyPair
    stranger: KeyPair


def _ca(dir: Path, name: str) -> KeyPair:
    pair = KeyPair(dir / f"{name}.crt", dir / f"{name}.key")
    _openssl(
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        "-subj", f"/CN={name}", "-keyout", pair.key.name, "-out", pair.cert.name,
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        cwd=dir,
    )  # fmt: skip
    return pair


def _signed(dir: Path, ca: KeyPair, name: str, usage: str, password: str | None) -> KeyPair:
    pair = KeyPair(dir / f"{name}.crt", dir / f"{name}.key")
    ext = dir / f"{name}.ext"
    ext.write_text(
        "basicConstraints=CA:FALSE\n"
        f"extendedKeyUsage={usage}\n"
        "subjectAltName=DNS:localhost,IP:127.0.0.1\n"
    )
    key_args = ["-nodes"] if password is None else ["-passout", f"pass:{password}"]
    _openssl(
        "req", "-new", "-newkey", "rsa:2048", *key_args, "-subj", f"/CN={name}",
        "-keyout", pair.key.name, "-out", f"{name}.csr",
        cwd=dir,
    )  # fmt: skip
    _openssl(
        "x509", "-req", "-in", f"{name}.csr", "-CA", ca.cert.name, "-CAkey", ca.key.name,
        "-CAcreateserial", "-days", "2", "-extfile", ext.name, "-out", pair.cert.name,
        cwd=dir,
    )  # fmt: skip
    return pair


def make_pki(dir: Path, *, client_key_password: str | None = None) -> Pki:
    """Write a fresh CA, server, client and stranger certificate under ``dir``."""
    dir.mkdir(parents=True, exist_ok=True)
    ca = _ca(dir, "ca")
    other = _ca(dir, "other-ca")
    return Pki(
        ca=ca.cert,
        other_ca=other.cert,
        server=_signed(dir, ca, "server", "serverAuth", None),
        client=_signed(dir, ca, "client", "clientAuth", client_key_password),
        stranger=_signed(dir, other, "stranger", "clientAuth", None),
    )
