"""stack/compose.py: the environment `docker compose` runs in."""

from __future__ import annotations

from stack.compose import compose_environ


def test_compose_sees_the_shells_basics_and_stack_ports_but_never_what_env_configures() -> None:
    shell = {
        "PATH": "/usr/bin",
        "HOME": "/root",
        "DOCKER_HOST": "unix:///run/podman/podman.sock",
        "COMPOSE_PROJECT_NAME": "files",
        "STACK_API_PORT": "9100",  # the shell's STACK_* come first, as in native mode
        "MINIO_ROOT_PASSWORD": "an-old-password-from-set-a",
        "SIGNER_API_TOKENS": "t",
        "CORS_ALLOWED_ORIGINS": "https://x.example",
        "S3_REGION": "eu-west-1",
        "PORT": "10000",
    }
    assert compose_environ(shell) == {
        "PATH": "/usr/bin",
        "HOME": "/root",
        "DOCKER_HOST": "unix:///run/podman/podman.sock",
        "COMPOSE_PROJECT_NAME": "files",
        "STACK_API_PORT": "9100",
    }
