"""The production shape: docker-compose.yml, the Dockerfile and gunicorn's config file agree
with the code. There is no Docker engine here, so the compose file is parsed and checked
against the commands, settings and health checks the code really has; `docker compose config`
(or Debian's `docker-compose config`) validates it where a client is installed."""

from __future__ import annotations

import os
import re
import shlex
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
    "REDIS_PASSWORD": "another-strong-password",
}
# The settings docker-compose.yml fixes itself (its own services, the image's folder).
COMPOSE_FIXED = {
    "BUREAU_ENV",
    "BUREAU_INSTANCE_PATH",
    "BUREAU_DATABASE_URL",
    "BUREAU_BROKER_URL",
    "BUREAU_REDIS_URL",
}


def env_example() -> dict[str, str]:
    """The variables .env.example sets (comments and blank lines left out)."""
    pairs = (
        line.split("=", 1)
        for line in (ROOT / ".env.example").read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    )
    return {name.strip(): value for name, value in pairs}


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


def redis_arguments() -> list[str]:
    shell, option, script = SERVICES["redis"]["command"]
    assert (shell, option) == ("sh", "-c")
    words = shlex.split(interpolate(script, DEPLOYER_ENV))
    assert words[:2] == ["exec", "redis-server"]
    return words[2:]


def test_redis_keeps_the_queue_across_restarts_and_never_evicts() -> None:
    arguments = redis_arguments()
    assert arguments[arguments.index("--appendonly") + 1] == "yes"
    # A broker must not evict: at its memory cap Redis refuses writes instead.
    assert arguments[arguments.index("--maxmemory") + 1] == "256mb"
    assert arguments[arguments.index("--maxmemory-policy") + 1] == "noeviction"
    assert "redis-data:/data" in SERVICES["redis"]["volumes"]


def test_redis_needs_a_password_that_the_bureau_urls_carry() -> None:
    arguments = redis_arguments()
    # From the container's environment at start, not written into its command.
    assert arguments[arguments.index("--requirepass") + 1] == "$REDIS_PASSWORD"
    assert SERVICES["redis"]["environment"]["REDIS_PASSWORD"].startswith("${REDIS_PASSWORD:?")
    assert "REDISCLI_AUTH" in SERVICES["redis"]["healthcheck"]["test"][1]
    environment = COMPOSE["x-bureau-env"]
    for name in ("BUREAU_BROKER_URL", "BUREAU_REDIS_URL"):
        url = interpolate(environment[name], DEPLOYER_ENV)
        assert url.startswith("redis://:another-strong-password@redis:6379/"), name


def test_passwords_have_no_default() -> None:
    """Compose stops, naming the variable, instead of starting with a well-known password."""
    postgres = SERVICES["postgres"]["environment"]["POSTGRES_PASSWORD"]
    for value in (postgres, COMPOSE["x-bureau-env"]["BUREAU_DATABASE_URL"]):
        with pytest.raises(AssertionError, match=r"set POSTGRES_PASSWORD in \.env"):
            interpolate(value, {})
    with pytest.raises(AssertionError, match=r"set REDIS_PASSWORD in \.env"):
        interpolate(COMPOSE["x-bureau-env"]["BUREAU_BROKER_URL"], {})


def test_every_setting_reaches_every_bureau_process() -> None:
    """One source of truth: each BUREAU_* setting the code reads is passed by the compose file,
    from .env under its own name unless the compose file fixes it; .env.example sets them."""
    environment = COMPOSE["x-bureau-env"]
    assert set(environment) == set(SETTING_NAMES)
    example = {name for name in env_example() if name.startswith("BUREAU_")}
    assert example == set(SETTING_NAMES) - COMPOSE_FIXED
    for name in example:
        assert str(environment[name]).startswith(f"${{{name}:"), name
    for name in BUREAU_PROCESSES:
        assert SERVICES[name]["environment"] == environment, name
    # What compose itself reads from .env is in .env.example too.
    used = set(re.findall(r"\$\{(\w+)", (ROOT / "docker-compose.yml").read_text()))
    assert used - COMPOSE_FIXED <= set(env_example()), used - set(env_example())


def test_the_web_is_published_for_the_local_proxy_only() -> None:
    assert SERVICES["web"]["ports"] == ["127.0.0.1:8000:8000"]
    assert interpolate(COMPOSE["x-bureau-env"]["BUREAU_PROXIES"], {}) == "1"
    for name, service in SERVICES.items():
        for port in service.get("ports", []):
            assert port.startswith("127.0.0.1:"), name


def test_every_service_rotates_its_logs_and_has_limits() -> None:
    for name, service in SERVICES.items():
        logging = service["logging"]
        assert logging["driver"] == "json-file", name
        assert {"max-size", "max-file"} <= set(logging["options"]), name
        limits = service["deploy"]["resources"]["limits"]
        assert {"cpus", "memory"} <= set(limits), name


def test_the_image_keeps_no_wheels_and_the_build_no_secrets() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    final_stage = dockerfile.rsplit("\nFROM ", 1)[1]
    assert "wheel" not in final_stage.lower()
    assert "COPY --from=build /opt/bureau /opt/bureau" in final_stage
    ignored = (ROOT / ".dockerignore").read_text().splitlines()
    assert {".env", ".env.*", ".git"} <= set(ignored)


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
    assert settings.broker_url.startswith("redis://:another-strong-password@redis:")
    assert settings.redis_url
    assert settings.redis_url.startswith("redis://:another-strong-password@redis:")
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


@pytest.mark.slow  # gunicorn started for real
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
    if env_file:  # every setting of the env file reaches every Bureau process as written
        for name in BUREAU_PROCESSES:
            environment = resolved["services"][name]["environment"]
            for setting, value in env_example().items():
                if setting.startswith("BUREAU_"):
                    assert environment[setting] == value, (name, setting)


@pytest.mark.parametrize("missing", sorted(DEPLOYER_ENV))
def test_compose_stops_when_a_required_secret_is_missing(tmp_path: Path, missing: str) -> None:
    client = compose_client()
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), **DEPLOYER_ENV}
    del env[missing]
    result = subprocess.run(
        [*client, "--project-directory", str(ROOT), "config"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert f"set {missing} in .env" in result.stderr
