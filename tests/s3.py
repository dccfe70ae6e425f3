"""An S3 server of the tests' own: moto's (``moto[server]``, the test extra), run as a
separate process on a free port of 127.0.0.1 and spoken to over HTTP with boto3, as Bureau
speaks to AWS, MinIO or Ceph. No MinIO or other S3 server is packaged where the tests run;
moto_server is the closest real one that installs with pip. Skipped locally, saying why,
when moto is not installed; a failure under CI (which installs the test extra)."""

from __future__ import annotations

import importlib.util
import shutil
import socket
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench.processes import Child
from bureau.config.settings import S3Settings
from tests.services import missing
from tests.smtp import free_port

# moto takes any keys; these only have to be the same on both sides.
KEY_ID, SECRET = "bureau-test", "bureau-test-secret"
REGION = "us-east-1"


def moto_installed() -> None:
    """moto's server and what it serves with (Flask, flask-cors), or a skip saying why."""
    if any(importlib.util.find_spec(m) is None for m in ("moto", "flask_cors")):
        missing("moto[server] is not installed", "pip install -e '.[test]' to run this test")


def _answers(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@contextmanager
def moto_s3() -> Iterator[S3Settings]:
    """A running moto_server; yields the S3 settings that reach it."""
    moto_installed()
    port = free_port()
    folder = Path(tempfile.mkdtemp(prefix="bureau-moto-"))
    child = Child(
        "moto_server",
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        env={"PATH": "/usr/bin:/bin"},
        cwd=folder,
        log=folder / "moto.log",
    )
    try:
        child.start()
        deadline = time.monotonic() + 30
        while not _answers(port):
            if not child.alive() or time.monotonic() > deadline:
                raise RuntimeError(f"moto_server did not start:\n{child.tail()}")
            time.sleep(0.05)
        yield S3Settings(
            endpoint_url=f"http://127.0.0.1:{port}",
            region=REGION,
            access_key_id=KEY_ID,
            secret_access_key=SECRET,
        )
    finally:
        child.stop()
        shutil.rmtree(folder, ignore_errors=True)


def client(s3: S3Settings) -> Any:
    """A plain boto3 client, to look into the bucket from outside Bureau."""
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=s3.endpoint_url,
        region_name=s3.region,
        aws_access_key_id=s3.access_key_id,
        aws_secret_access_key=s3.secret_access_key,
    )


def keys(s3: S3Settings, bucket: str) -> list[str]:
    answer = client(s3).list_objects_v2(Bucket=bucket)
    return sorted(item["Key"] for item in answer.get("Contents", []))
