"""Where the files of received replies are kept, behind one seam: the instance folder or an
S3-compatible bucket, as BUREAU_ATTACHMENT_STORE says.

A store is named by the setting's value ("instance", "s3://bucket/prefix"). Each file kept
records the name of the store it was put in (files kept before there was a choice name
none: the instance folder), so changing the setting leaves earlier files readable and
erasable where they are. Keys are paths under the store, "inbound/<message>/<n>": in the
instance folder that is the layout files always had.

Errors of the object store (unreachable, refused credentials, a missing bucket) raise
StoreUnavailable, with words for an operator and never a secret; a missing file is None.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager, suppress
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

from flask import current_app

from bureau.config.settings import INSTANCE_STORE, S3Settings, Settings
from bureau.private_files import FILE_MODE, private_folder

logger = logging.getLogger(__name__)


class StoreUnavailable(Exception):
    """The object store did not do what was asked; the message says what and why."""


class Store(Protocol):
    @property
    def name(self) -> str:
        """What a file records of where it is: "instance" or "s3://bucket/prefix"."""
        ...

    def put(self, key: str, data: bytes, content_type: str) -> None: ...

    def get(self, key: str) -> bytes | None: ...

    def delete(self, key: str) -> None: ...

    def listing(self, folder: str) -> dict[str, int]:
        """The keys under ``folder`` (ending in "/") with their sizes in bytes."""
        ...


@dataclass(frozen=True)
class Stored:
    """A folder of files in a named store: what erasure and export go through."""

    store: str
    folder: str


@dataclass(frozen=True)
class FolderStore:
    """The instance folder: folders 0700, files 0600 (bureau/private_files.py)."""

    root: Path
    name: str = INSTANCE_STORE

    def _path(self, key: str) -> Path:
        parts = [p for p in key.split("/") if p]
        if not parts or any(p in (".", "..") for p in parts):
            raise ValueError(f"not a key of the store: {key!r}")
        return self.root.joinpath(*parts)

    def put(self, key: str, data: bytes, content_type: str) -> None:
        path = self._path(key)
        private_folder(path.parent)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
        with os.fdopen(descriptor, "wb") as file:
            file.write(data)

    def get(self, key: str) -> bytes | None:
        try:
            return self._path(key).read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            return None

    def delete(self, key: str) -> None:
        """Remove the file, and its folder once empty."""
        path = self._path(key)
        path.unlink(missing_ok=True)
        with suppress(OSError):  # other files still in it, or gone already
            path.parent.rmdir()

    def listing(self, folder: str) -> dict[str, int]:
        path = self._path(folder)
        if not path.is_dir():
            return {}
        prefix = folder if folder.endswith("/") else folder + "/"
        return {prefix + p.name: p.stat().st_size for p in path.iterdir() if p.is_file()}


@dataclass(frozen=True)
class BucketStore:
    """An S3 bucket (AWS, or any S3-speaking server: MinIO, Ceph, Garage…), keys under a
    prefix."""

    name: str
    bucket: str
    prefix: str
    client: Any  # a boto3 S3 client: thread-safe, shared by the process

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def put(self, key: str, data: bytes, content_type: str) -> None:
        with self._errors("store", key):
            self.client.put_object(
                Bucket=self.bucket, Key=self._key(key), Body=data, ContentType=content_type
            )

    def get(self, key: str) -> bytes | None:
        from botocore.exceptions import ClientError

        with self._errors("read", key):
            try:
                answer = self.client.get_object(Bucket=self.bucket, Key=self._key(key))
            except ClientError as error:
                if _code(error) in ("NoSuchKey", "404"):
                    return None
                raise
            data: bytes = answer["Body"].read()
            return data

    def delete(self, key: str) -> None:
        with self._errors("delete", key):
            self.client.delete_object(Bucket=self.bucket, Key=self._key(key))

    def listing(self, folder: str) -> dict[str, int]:
        prefix = self._key(folder if folder.endswith("/") else folder + "/")
        found: dict[str, int] = {}
        with self._errors("list", folder):
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=prefix
            )
            for page in pages:
                for item in page.get("Contents", []):
                    found[item["Key"].removeprefix(self._key(""))] = int(item["Size"])
        return found

    def _errors(self, doing: str, key: str) -> AbstractContextManager[None]:
        return _translated(f"cannot {doing} {key} in {self.name}")


@contextmanager
def _translated(what: str) -> Iterator[None]:
    """boto3's errors as StoreUnavailable, with words for an operator."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        yield
    except ClientError as error:
        reason = error.response.get("Error", {}).get("Message") or _code(error)
        raise StoreUnavailable(f"{what}: {_code(error)}: {reason}") from None
    except BotoCoreError as error:
        raise StoreUnavailable(f"{what}: {error}") from None


def _code(error: Any) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def store_named(name: str, settings: Settings | None = None) -> Store:
    """The store a file was put in, by the name it recorded; an S3 store is reached with
    the current S3 settings (keep them while files remain in a bucket)."""
    settings = settings or current_app.config["BUREAU_SETTINGS"]
    if name == INSTANCE_STORE:
        return FolderStore(settings.instance_path)
    if not name.startswith("s3://"):
        raise StoreUnavailable(f"unknown file store {name!r}")
    bucket, _, prefix = name.removeprefix("s3://").partition("/")
    return BucketStore(name=name, bucket=bucket, prefix=prefix, client=_client(settings.s3))


def current_store() -> Store:
    """Where new files go: BUREAU_ATTACHMENT_STORE."""
    settings: Settings = current_app.config["BUREAU_SETTINGS"]
    return store_named(settings.attachment_store, settings)


@lru_cache(maxsize=8)
def _client(s3: S3Settings) -> Any:
    """One client a configuration (made once: making one takes a while)."""
    import boto3
    from botocore.config import Config

    config = Config(
        connect_timeout=10,
        read_timeout=30,
        retries={"total_max_attempts": 3, "mode": "standard"},
        # Servers other than AWS are reached by path (http://host/bucket/key): their buckets
        # are rarely names in DNS.
        s3={"addressing_style": "path"} if s3.endpoint_url else {},
    )
    return boto3.session.Session().client(
        "s3",
        endpoint_url=s3.endpoint_url,
        region_name=s3.region,
        aws_access_key_id=s3.access_key_id,
        aws_secret_access_key=s3.secret_access_key,
        config=config,
    )


def list_stored(places: Iterable[Stored]) -> dict[str, int]:
    """The files in these folders, by their name in the folder, with their sizes."""
    found: dict[str, int] = {}
    for place in places:
        for key, size in store_named(place.store).listing(place.folder).items():
            found[key.rpartition("/")[2]] = size
    return found


def remove_stored(places: Iterable[Stored]) -> int:
    """Delete every file in these folders; how many could not be (logged as errors, with
    where they are, for an operator to remove: the rows naming them are gone)."""
    left = 0
    for place in places:
        try:
            store = store_named(place.store)
            for key in store.listing(place.folder):
                store.delete(key)
        except StoreUnavailable as error:
            left += 1
            logger.error("files of a deleted email left in %s: %s", place.store, error)
    return left
