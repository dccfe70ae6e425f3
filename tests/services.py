"""The servers the tests start for themselves: a redis-server and a PostgreSQL cluster on free
ports in temporary folders, used unless BUREAU_TEST_REDIS_URL / BUREAU_TEST_POSTGRES_URL name
one to use instead. A test never touches a server it did not start or was not told about:
`guard_shared_ports` makes a connection to the usual local ports an error."""

from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

import pytest

from bench.mailsink import free_port
from bench.processes import Child, wait_for

IN_CI = bool(os.environ.get("CI"))
# The ports of the servers a developer's machine may run for itself (Redis, PostgreSQL).
SHARED_PORTS = (6379, 5432)
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1", "0.0.0.0", "")


def missing(message: str, remedy: str) -> NoReturn:
    """Fail under CI (``CI`` set: it must provide the service); skip, saying why, elsewhere."""
    if IN_CI:
        pytest.fail(f"{message}; CI must provide it", pytrace=False)
    pytest.skip(f"{message}; {remedy}")


def redis_server_binary() -> str:
    found = shutil.which("redis-server") or (
        "/usr/bin/redis-server" if Path("/usr/bin/redis-server").exists() else None
    )
    if found is None:
        missing("redis-server is not installed", "apt-get install redis-server to run this test")
    return found


class RedisServer:
    """A redis-server of the test's own, without persistence (a restart loses every message)
    unless started with ``appendonly`` (AOF, fsync every second: a SIGKILL loses about the
    last second)."""

    def __init__(self, folder: Path) -> None:
        self.binary = redis_server_binary()
        self.folder = folder
        self.port = free_port()
        self.child: Child | None = None
        self.starts = 0
        self.appendonly = False

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.starts += 1
        command = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1"]
        aof = ["yes", "--appendfsync", "everysec"] if self.appendonly else ["no"]
        command += ["--save", "", "--appendonly", *aof, "--dir", str(self.folder)]
        self.child = Child(
            "redis", command, env=os.environ, cwd=self.folder, log=self.folder / "redis.log"
        )
        self.child.start()
        wait_for(self._answers, 20, "redis-server to answer")

    def _answers(self) -> bool:
        import redis

        assert self.child is not None
        self.child.check()
        client = redis.Redis.from_url(self.url, socket_connect_timeout=1)
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False
        finally:
            client.close()

    def kill(self) -> None:
        assert self.child is not None
        assert self.child.process is not None
        os.killpg(self.child.pid, signal.SIGKILL)
        self.child.process.wait()

    def stop(self) -> None:
        if self.child is not None:
            self.child.stop()


def postgres_binaries() -> Path:
    """The newest /usr/lib/postgresql/*/bin holding initdb and pg_ctl."""
    found = sorted(
        (Path(p).parent for p in glob.glob("/usr/lib/postgresql/*/bin/initdb")),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
    )
    if not found:
        missing(
            "PostgreSQL's initdb is not installed (/usr/lib/postgresql/*/bin)",
            "apt-get install postgresql, or set BUREAU_TEST_POSTGRES_URL",
        )
    return found[-1]


@contextmanager
def own_postgres() -> Iterator[str]:
    """A throwaway PostgreSQL cluster (initdb, then pg_ctl start) on a free port, trusting
    local connections, without fsync; its server URL; stopped and deleted at the end. As root
    (CI, containers) the server runs as the ``postgres`` user: PostgreSQL refuses root."""
    remedy = "set BUREAU_TEST_POSTGRES_URL to a server the tests may use"
    binaries = postgres_binaries()
    folder = Path(tempfile.mkdtemp(prefix="bureau-test-pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:
        try:
            shutil.chown(folder, "postgres")
        except LookupError:
            shutil.rmtree(folder)
            missing("PostgreSQL refuses root and there is no postgres user", remedy)
        as_user = ["runuser", "-u", "postgres", "--"]
    data, port = folder / "data", free_port()

    def pg(*arguments: str) -> None:
        done = subprocess.run(
            [*as_user, *arguments], capture_output=True, text=True, timeout=120, cwd=folder
        )
        if done.returncode:
            missing(f"{Path(arguments[0]).name} failed: {done.stdout}{done.stderr}", remedy)

    try:
        pg(str(binaries / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust",
           "-E", "UTF8", "--no-sync")  # fmt: skip
        options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off"
        options += " -c full_page_writes=off -c synchronous_commit=off -c max_connections=200"
        pg(str(binaries / "pg_ctl"), "-D", str(data), "-o", options,
           "-l", str(folder / "server.log"), "-w", "-t", "60", "start")  # fmt: skip
        try:
            yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
        finally:
            pg(str(binaries / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


class SharedServerTouched(ConnectionRefusedError):
    """Raised instead of connecting to a server the tests neither started nor were told of."""


def _shared(address: Any, allowed: set[int]) -> bool:
    host, port = address[:2] if isinstance(address, tuple) else (None, None)
    return port in SHARED_PORTS and port not in allowed and str(host) in LOCAL_HOSTS


@contextmanager
def guard_shared_ports(allowed: set[int], touched: list[str]) -> Iterator[None]:
    """While active, connecting to 127.0.0.1:6379 or :5432 (but the ports in ``allowed``) from
    this process raises SharedServerTouched, and ``touched`` records it: Python sockets (Redis,
    SMTP, HTTP) and PostgreSQL connections through ``psycopg.connect`` (SQLAlchemy's way in)."""
    import psycopg

    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex
    real_pg_connect = psycopg.connect

    def refuse(host: Any, port: Any) -> NoReturn:
        touched.append(f"{host}:{port}")
        raise SharedServerTouched(
            f"a test tried to connect to {host}:{port}, a server it did not start; set "
            "BUREAU_TEST_REDIS_URL / BUREAU_TEST_POSTGRES_URL to name one to use"
        )

    def connect(self: socket.socket, address: Any) -> None:
        if _shared(address, allowed):
            refuse(*address[:2])
        real_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        if _shared(address, allowed):
            refuse(*address[:2])
        return real_connect_ex(self, address)

    def pg_connect(conninfo: str = "", **kwargs: Any) -> Any:
        params = {**psycopg.conninfo.conninfo_to_dict(conninfo), **kwargs}
        host, port = params.get("host") or "localhost", int(str(params.get("port") or 5432))
        if _shared((host, port), allowed):
            refuse(host, port)
        return real_pg_connect(conninfo, **kwargs)

    socket.socket.connect = connect  # type: ignore[method-assign,assignment]
    socket.socket.connect_ex = connect_ex  # type: ignore[method-assign,assignment]
    psycopg.connect = pg_connect
    try:
        yield
    finally:
        socket.socket.connect = real_connect  # type: ignore[method-assign]
        socket.socket.connect_ex = real_connect_ex  # type: ignore[method-assign]
        psycopg.connect = real_pg_connect
