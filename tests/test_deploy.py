"""The production shape: docker-compose.yml, the Dockerfile and gunicorn's config file agree
with the code. There is no Docker engine here, so the compose file is parsed and checked
against the commands, settings and health checks the code really has; `docker compose config`
(or Debian's `docker-compose config`) validates it where a client is installed."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import click
import pytest
import yaml

from bureau.cli import cli
from bureau.config import SETTING_NAMES, load_settings

ROOT = Path(__file__).resolve().parent.parent
COMPOSE: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
BUREAU_PROCESSES = ("migrate", "web", "worker", "beat")
# What a deployer puts in .env; everything else has a default in the compose file.
DEPLOYER_ENV = {
    "BUREAU_SECRET_KEY": "s" * 48,
    "BUREAU_SMTP_URL": "smtp://mailcatcher:1025",
    "POSTGRES_PASSWORD": "a-strong-password",
}
IN_CI = bool(os.environ.get("CI"))


def interpolate(value: str, env: dict[str, str]) -> str:
    """Compose's ${VAR}, ${VAR:-default} and ${VAR:?error} substitution ($$ is a dollar)."""

    def substitute(match: re.Match[str]) -> str:
        name, operator, argument = match.group(1), match.group(2), match.group(3)
        if env.get(name):
            return env[name]
        if operator == ":?":
            raise AssertionError(f"compose would stop: {argument}")
        return argument or ""

    value = re.sub(r"\$\{(\w+)(?:(:-|:\?)([^}]*))?\}", substitute, value)
    return value.replace("$$", "$")


def test_the_compose_file_has_the_production_services() -> None:
    assert set(SERVICES) == {
        "postgres",
        "redis",
        "migrate",
        "web",
        "worker",
        "beat",
        "mailcatcher",
    }
    # The mail catcher is for staging only: a plain `docker compose up` does not start it.
    assert SERVICES["mailcatcher"]["profiles"] == ["staging"]


def test_every_long_running_service_has_a_health_check() -> None:
    for name, service in SERVICES.items():
        if name == "migrate":
            continue  # a one-shot job: "healthy" is its exit status
        check = service.get("healthcheck")
        assert check, name
        assert check["test"][0] in ("CMD", "CMD-SHELL"), name
        assert {"interval", "retries"} <= set(check), name
    assert SERVICES["migrate"]["restart"] == "no"


def test_redis_keeps_the_queue_across_restarts_and_never_evicts() -> None:
    command = SERVICES["redis"]["command"]
    assert command[command.index("--appendonly") + 1] == "yes"
    assert command[command.index("--maxmemory-policy") + 1] == "noeviction"
    assert "redis-data:/data" in SERVICES["redis"]["volumes"]


def test_migrations_run_once_before_the_bureau_processes() -> None:
    assert SERVICES["migrate"]["command"] == ["bureau", "db", "upgrade"]
    assert SERVICES["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in ("web", "worker", "beat"):
        depends = SERVICES[name]["depends_on"]
        assert depends["migrate"]["condition"] == "service_completed_successfully", name
        assert depends["redis"]["condition"] == "service_healthy", name


def test_workers_scale_and_beat_stays_single() -> None:
    worker = SERVICES["worker"]
    # --scale worker=3 needs a service without a fixed name or published port.
    assert "container_name" not in worker
    assert "ports" not in worker
    assert SERVICES["beat"]["deploy"]["replicas"] == 1
    assert "ports" not in SERVICES["beat"]


def test_the_commands_are_the_ones_the_code_provides() -> None:
    web = SERVICES["web"]["command"]
    assert web == ["gunicorn", "-c", "python:bureau.gunicorn_conf", "bureau:create_app()"]
    module, _, factory = web[-1].partition(":")
    assert callable(getattr(__import__(module), factory.removesuffix("()")))
    for name, subcommand in (("worker", "worker"), ("beat", "beat")):
        command = SERVICES[name]["command"]
        assert command[:4] == ["celery", "-A", "workers.celery_app", subcommand], name
    assert resolve(SERVICES["migrate"]["command"]) is not None
    # The Dockerfile's default command is the web's.
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert f"CMD {web}".replace("'", '"') in dockerfile


def test_health_checks_call_commands_that_exist() -> None:
    worker_check = SERVICES["worker"]["healthcheck"]["test"][1]
    assert worker_check.startswith("bureau ops check worker")
    assert resolve(["bureau", "ops", "check", "worker"]) is not None
    # The worker names itself worker@<host>; its health check asks for that very name.
    command = SERVICES["worker"]["command"]
    assert command[command.index("--hostname") + 1] == "worker@%h"
    assert '"worker@$$HOSTNAME"' in worker_check
    beat_check = SERVICES["beat"]["healthcheck"]["test"]
    assert beat_check[1:] == ["bureau", "ops", "check", "beat"]
    assert resolve(beat_check[1:]) is not None
    web_check = " ".join(SERVICES["web"]["healthcheck"]["test"])
    assert "/healthz" in web_check
    assert ":8000" in web_check


def resolve(argv: list[str]) -> click.Command | None:
    """The click command an argv names in the `bureau` command (None when there is none)."""
    assert argv[0] == "bureau"
    command: click.Command | None = cli
    with click.Context(cli) as context:
        for word in argv[1:]:
            if not isinstance(command, click.Group):
                break
            command = command.get_command(context, word)
            if command is None:
                return None
    return command


def test_the_compose_settings_are_bureau_settings_and_start_production() -> None:
    environment = COMPOSE["x-bureau-env"]
    assert set(environment) <= set(SETTING_NAMES)
    for name in BUREAU_PROCESSES:
        assert SERVICES[name]["environment"] == environment, name
    resolved = {key: interpolate(str(value), DEPLOYER_ENV) for key, value in environment.items()}
    resolved["BUREAU_INSTANCE_PATH"] = "/tmp/bureau-compose-test"  # /var/lib is the image's
    settings = load_settings(resolved)
    assert settings.is_production
    assert settings.database_url.startswith("postgresql+psycopg://bureau:a-strong-password@")
    assert settings.broker_url.startswith("redis://redis:")
    assert settings.redis_url
    assert settings.redis_url.startswith("redis://redis:")
    # The required secrets have no default: compose stops with a message when they are unset.
    for required in ("BUREAU_SECRET_KEY", "BUREAU_SMTP_URL"):
        with pytest.raises(AssertionError, match=r"set \w+ in \.env"):
            interpolate(str(environment[required]), {})


def test_the_gunicorn_config_sets_only_real_gunicorn_settings() -> None:
    from gunicorn.config import Config

    from bureau import gunicorn_conf

    known = Config().settings
    ours = {name for name in vars(gunicorn_conf) if not name.startswith("_") and name.islower()}
    ours -= {"annotations", "gc", "os", "load_settings", "refuse"}
    assert "bind" in ours
    assert ours <= set(known), ours - set(known)
    assert gunicorn_conf.preload_app is False
    assert gunicorn_conf.workers >= 1


def test_each_web_worker_freezes_what_building_its_app_allocated() -> None:
    import gc

    from bureau import gunicorn_conf

    gc.unfreeze()
    try:
        gunicorn_conf.post_worker_init(None)
        assert gc.get_freeze_count() > 10_000  # the interpreter, Flask, SQLAlchemy, the app
    finally:
        gc.unfreeze()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_gunicorn_serves_the_app_with_the_config_file(tmp_path: Path) -> None:
    port = free_port()
    env = {
        **os.environ,
        "BUREAU_INSTANCE_PATH": str(tmp_path),
        "WEB_CONCURRENCY": "1",
        "GUNICORN_CMD_ARGS": f"--bind=127.0.0.1:{port}",
    }
    gunicorn = Path(sys.executable).parent / "gunicorn"
    server = subprocess.Popen(
        [str(gunicorn), "-c", "python:bureau.gunicorn_conf", "bureau:create_app()"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                    assert r.status == 200
                    break
            except OSError:
                assert server.poll() is None, server.stdout.read() if server.stdout else ""
                assert time.monotonic() < deadline, "gunicorn did not answer in 30 s"
                time.sleep(0.2)
    finally:
        server.send_signal(signal.SIGTERM)
        output, _ = server.communicate(timeout=30)
    # The access log line is the config file's format.
    assert re.search(r'"GET /healthz HTTP/1.1" 200 \d+ \d+ms request_id=', output), output


def compose_client() -> list[str]:
    """`docker compose`, else Debian's `docker-compose`; CI installs the latter (.ci/run)."""
    docker = shutil.which("docker")
    plugin = docker and subprocess.run([docker, "compose", "version"], capture_output=True)
    if docker and plugin and plugin.returncode == 0:
        return [docker, "compose"]
    legacy = shutil.which("docker-compose")
    if legacy:
        return [legacy]
    message = "neither `docker compose` nor `docker-compose` is installed"
    if IN_CI:
        pytest.fail(f"{message}; .ci/run installs Debian's docker-compose", pytrace=False)
    pytest.skip(f"{message}; install one to validate docker-compose.yml")


@pytest.mark.parametrize("env_file", [None, ".env.example"])
def test_docker_compose_accepts_the_file(env_file: str | None, tmp_path: Path) -> None:
    client = compose_client()
    options = ["--env-file", str(ROOT / env_file)] if env_file else []
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path)}
    if env_file is None:
        env.update(DEPLOYER_ENV)
    result = subprocess.run(
        [*client, "--project-directory", str(ROOT), *options, "config"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    resolved = yaml.safe_load(result.stdout)
    assert set(resolved["services"]) >= {"postgres", "redis", "migrate", "web", "worker", "beat"}
    web_env = resolved["services"]["web"]["environment"]
    assert web_env["BUREAU_ENV"] == "production"
    assert web_env["BUREAU_DATABASE_URL"].startswith("postgresql+psycopg://")


def test_compose_stops_when_a_required_secret_is_missing(tmp_path: Path) -> None:
    client = compose_client()
    result = subprocess.run(
        [*client, "--project-directory", str(ROOT), "config"],
        cwd=ROOT,
        env={"PATH": os.environ["PATH"], "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "BUREAU_SECRET_KEY" in result.stderr or "BUREAU_SMTP_URL" in result.stderr
