"""Checks of where received files are kept: BUREAU_ATTACHMENT_STORE and the S3 settings."""

from __future__ import annotations

import re
from collections.abc import Callable

from bureau.config.errors import ConfigError
from bureau.config.settings import INSTANCE_STORE, S3Settings
from bureau.config.urls import split_url

# S3's bucket rules: 3-63 lower-case letters, digits, dots and hyphens, a letter or digit
# at each end.
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_PREFIX_SEGMENT = re.compile(r"[A-Za-z0-9._-]+")
_REGION = re.compile(r"[a-z0-9-]{2,40}")
STORE_EXAMPLE = "instance, or s3://bucket[/prefix] such as s3://bureau-files/inbound"


def attachment_store(raw: str | None) -> str:
    """``instance``, or ``s3://bucket/prefix`` written the one way (no trailing slash):
    each file keeps this name, so the same store is always named the same."""
    if raw is None or raw.lower() == INSTANCE_STORE:
        return INSTANCE_STORE
    name = "BUREAU_ATTACHMENT_STORE"
    parts = split_url(name, raw)
    bucket = parts.netloc
    segments = [s for s in parts.path.split("/") if s]
    if (
        parts.scheme.lower() != "s3"
        or not _BUCKET.fullmatch(bucket)
        or ".." in bucket
        or parts.query
        or parts.fragment
        or not all(_PREFIX_SEGMENT.fullmatch(s) and s not in (".", "..") for s in segments)
    ):
        raise ConfigError(
            f"{name} must be {STORE_EXAMPLE} (a bucket of 3 to 63 lower-case letters, digits, "
            f"dots and hyphens; a prefix of letters, digits, '.', '_' and '-'), not {raw!r}"
        )
    return "/".join([f"s3://{bucket}", *segments])


def s3_settings(get: Callable[[str], str | None]) -> S3Settings:
    """The S3 server's endpoint, region and keys; each may be left to boto3's defaults. Kept
    also while the store is the instance folder: files put in a bucket before stay there."""
    endpoint = get("BUREAU_S3_ENDPOINT_URL")
    if endpoint is not None:
        parts = split_url("BUREAU_S3_ENDPOINT_URL", endpoint)
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.username:
            raise ConfigError(
                "BUREAU_S3_ENDPOINT_URL must be an http(s) URL without credentials, such as "
                f"https://s3.example.com or http://minio:9000, not {endpoint!r}"
            )
        endpoint = endpoint.rstrip("/")
    region = get("BUREAU_S3_REGION")
    if region is not None and not _REGION.fullmatch(region):
        raise ConfigError(f"BUREAU_S3_REGION must look like eu-central-1, not {region!r}")
    key_id, secret = get("BUREAU_S3_ACCESS_KEY_ID"), get("BUREAU_S3_SECRET_ACCESS_KEY")
    if (key_id is None) != (secret is None):
        raise ConfigError(
            "BUREAU_S3_ACCESS_KEY_ID and BUREAU_S3_SECRET_ACCESS_KEY go together: set both, or "
            "neither (then boto3 reads AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)"
        )
    return S3Settings(
        endpoint_url=endpoint, region=region, access_key_id=key_id, secret_access_key=secret
    )
