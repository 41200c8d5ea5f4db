"""render.yaml deployed as Render deploys a Blueprint (tests/containers/render.py says what the
harness reproduces and what it does not): every service passes Render's health check, the
signer reaches MinIO over the private network and proves that the public URL it signs for
serves the same MinIO, a presign → PUT → complete → GET round trip works through the public
URL, a backend on the private network works with exactly the wiring the README gives, MinIO
takes its public URL from RENDER_EXTERNAL_URL, the console reaches MinIO's console by its
private name, and the disk outlives a deploy.

The disk is new and owned by root, as Render mounts one (issue 13 defect 6: the image's user
could not write it until the entrypoint prepared it as root and dropped to that user)."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import yaml

from tests.containers.conftest import Images
from tests.containers.engine import IMAGES, ROOT, TEST_TIMEOUT, Engine
from tests.containers.render import PUBLIC_DOMAIN, Blueprint, Render

pytestmark = [pytest.mark.slow, pytest.mark.timeout(TEST_TIMEOUT)]

BLUEPRINT = ROOT / "render.yaml"
READY_TIMEOUT = 180
MINIO_URL = f"http://minio-server.{PUBLIC_DOMAIN}"
CONSOLE_URL = f"http://minio-console.{PUBLIC_DOMAIN}"
# What the user types in the Dashboard (sync: false).
VALUES = {
    "minio-server": {
        "CORS_ALLOWED_ORIGINS": "https://app.example.test",
        "MINIO_BROWSER_REDIRECT_URL": CONSOLE_URL,
    },
    "signer": {"SIGNER_PUBLIC_ENDPOINT": MINIO_URL},
}


@pytest.fixture(scope="module")
def render(
    engine: Engine, images: Images, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Render]:
    for name in IMAGES:
        images(name)
    workdir = tmp_path_factory.mktemp("render")
    # The disk new and owned by root, as Render mounts a new one.
    deployed = Render(engine, Blueprint(BLUEPRINT, VALUES), workdir, disk_owner="root")
    deployed.deploy()
    try:
        for name in deployed.blueprint.services:
            deployed.wait_healthy(name, READY_TIMEOUT)
        yield deployed
    finally:
        deployed.remove()


def signer_ready(render: Render, url: str | None = None) -> requests.Response:
    """/readyz polled until 200 (or the timeout), as a backend waiting for the signer would."""
    url = url or render.instance_url("signer", "/readyz")
    deadline = time.monotonic() + READY_TIMEOUT
    while True:
        answer = requests.get(url, timeout=30)
        if answer.status_code == 200 or time.monotonic() > deadline:
            return answer
        time.sleep(2)


def call(render: Render, path: str, body: dict[str, Any]) -> dict[str, Any]:
    token = render.blueprint.value("signer", "SIGNER_API_TOKENS").split(",")[0]
    answer = requests.post(
        render.instance_url("signer", path),
        json=body,
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


def upload(render: Render, body: bytes) -> dict[str, Any]:
    intent = call(
        render, "/v1/uploads/presign", {"content_type": "text/plain", "size_bytes": len(body)}
    )
    put = intent["upload"]
    assert put["url"].startswith(f"{MINIO_URL}/"), put["url"].split("?")[0]
    stored = render.public(put["method"], put["url"], data=body, headers=put["headers"])
    assert stored.status_code == 200, stored.text
    return call(render, "/v1/uploads/complete", {"intent_token": intent["intent_token"]})


def test_every_service_passes_renders_health_check(render: Render) -> None:
    # Web services on their healthCheckPath, the private signer by TCP: what Render checks.
    assert {name: render.healthy(name) for name in render.blueprint.services} == {
        "minio-server": True,
        "minio-console": True,
        "signer": True,
    }


def test_the_signer_listens_on_port_and_reaches_minio_privately(render: Render) -> None:
    env = render.blueprint.services["signer"].env
    assert env["SIGNER_S3_ENDPOINT"] == "minio-server:9000"  # fromService hostport: no scheme
    assert "SIGNER_LISTEN" not in env and env["PORT"] == "8080"
    # Ready means both: its own calls reach MinIO there, and the public URL serves the same.
    assert signer_ready(render).status_code == 200


def test_presign_put_complete_get_round_trip_through_the_public_url(render: Render) -> None:
    assert signer_ready(render).status_code == 200
    body = b"hello from a Render-like deploy\n"
    done = upload(render, body)
    got = render.public("GET", done["get_url"])
    assert got.status_code == 200 and got.content == body, got.text


def readme_backend_wiring() -> list[dict[str, Any]]:
    """The envVars the README tells a backend on Render to add."""
    text = (ROOT / "README.md").read_text()
    section = text[text.index("<!-- render:start -->") : text.index("<!-- render:end -->")]
    for block in re.findall(r"```yaml\n(.*?)```", section, re.S):
        entries = yaml.safe_load(block)
        if isinstance(entries, list) and any(e.get("key") == "SIGNER_HOSTPORT" for e in entries):
            return entries
    raise AssertionError("the README's Render section shows no backend wiring (SIGNER_HOSTPORT)")


# What a backend does with that wiring, in a container of its own on the private network.
BACKEND = """
import json, os, urllib.request
signer = "http://" + os.environ["SIGNER_HOSTPORT"]
auth = {"Authorization": "Bearer " + os.environ["SIGNER_API_TOKEN"],
        "Content-Type": "application/json"}
def call(path, body):
    request = urllib.request.Request(signer + path, json.dumps(body).encode(), auth)
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.load(answer)
data = os.environ["UPLOAD_BODY"].encode()
intent = call("/v1/uploads/presign", {"content_type": "text/plain", "size_bytes": len(data)})
put = intent["upload"]
request = urllib.request.Request(put["url"], data, put["headers"], method=put["method"])
urllib.request.urlopen(request, timeout=30).close()
done = call("/v1/uploads/complete", {"intent_token": intent["intent_token"]})
print(json.dumps({"get_url": done["get_url"]}))
"""


def test_a_backend_on_the_private_network_works_with_the_readme_wiring(
    render: Render, engine: Engine
) -> None:
    assert signer_ready(render).status_code == 200
    wiring = readme_backend_wiring()
    env = {v["key"]: render.blueprint.env_var(v, service="backend") for v in wiring}
    assert set(env) == {"SIGNER_HOSTPORT", "SIGNER_API_TOKEN"}
    assert env["SIGNER_HOSTPORT"] == "signer:8080"
    body = "uploaded by a backend that found the signer by its hostport"
    env_file = render.workdir / "backend.env"
    env_file.touch(mode=0o600)
    env_file.write_text("".join(f"{k}={v}\n" for k, v in {**env, "UPLOAD_BODY": body}.items()))
    out = engine.podman(
        "run", "--rm", "--label", engine.label, "--network", render.network,
        "--env-file", str(env_file), "--health-interval", "disable",
        "--entrypoint", json.dumps(["python", "-c", BACKEND]), IMAGES["signer"].ref,
        timeout=120,
    ).stdout  # fmt: skip
    get_url = json.loads(out.strip().splitlines()[-1])["get_url"]
    got = render.public("GET", get_url)  # a browser on the internet, given the backend's URL
    assert got.status_code == 200 and got.text == body


def test_minio_takes_its_public_url_from_render(render: Render) -> None:
    # MinIO's own environment (the entrypoint's child), read inside the container as MinIO's
    # user (root lacks CAP_SYS_PTRACE there, which reading another user's environ needs).
    script = (
        "import os\n"
        "for pid in filter(str.isdigit, os.listdir('/proc')):\n"
        "    argv = open(f'/proc/{pid}/cmdline', 'rb').read().split(b'\\0')\n"
        "    if argv[:2] == [b'minio', b'server']:\n"
        "        env = open(f'/proc/{pid}/environ', 'rb').read().split(b'\\0')\n"
        "        print([e for e in env if e.startswith(b'MINIO_SERVER_URL=')])\n"
    )
    minio = IMAGES["minio"]
    out = render.container("minio-server").exec("python", "-c", script, user=str(minio.uid))
    assert out.strip() == str([f"MINIO_SERVER_URL={MINIO_URL}".encode()])
    assert "MINIO_SERVER_URL" not in render.blueprint.services["minio-server"].env


def test_the_console_reaches_minio_by_its_private_name(render: Render) -> None:
    # Its upstream comes from fromService host; nginx's resolver ignores search domains, so
    # the renderer qualified the short name with the one in the container's resolv.conf.
    log = render.container("minio-console").logs()
    assert "(upstream minio-server.dns.podman:9001)" in log, log
    deadline = time.monotonic() + 60
    while True:  # MinIO's console listens once MinIO does
        page = render.public("GET", f"{CONSOLE_URL}/")
        if page.status_code == 200 or time.monotonic() > deadline:
            break
        time.sleep(2)
    assert page.status_code == 200 and "MinIO" in page.text, page.text[:300]


@pytest.mark.parametrize(
    ("public", "expected"),
    [
        # A name that is not this deployment's, as the README's old suggestion
        # (minio-server.onrender.com, someone else's) was; .invalid never resolves, so the
        # test calls nobody's real service even where the internet is reachable.
        ("https://minio-server.onrender.invalid", "did not answer"),
        # The console's public URL typed in by mistake: it answers, but not with the object.
        (CONSOLE_URL, "does not reach the storage at SIGNER_S3_ENDPOINT http://minio-server:9000"),
    ],
    ids=["someone-elses-service", "the-console"],
)
def test_a_wrong_public_endpoint_keeps_the_signer_unready_and_is_named(
    render: Render, public: str, expected: str
) -> None:
    assert signer_ready(render).status_code == 200  # MinIO and its signer identity are up
    wrong = render.variant("signer", "wrong-public", SIGNER_PUBLIC_ENDPOINT=public)
    url = f"http://127.0.0.1:{render_port(render, wrong.name)}/readyz"
    deadline = time.monotonic() + 60
    while True:
        try:
            answer = requests.get(url, timeout=30)
            if answer.status_code == 503 and expected in answer.text:
                break
        except requests.RequestException:
            pass  # still starting
        assert time.monotonic() < deadline, wrong.tail()
        time.sleep(1)
    error = answer.json()
    assert error["code"] == "storage_denied"
    assert error["message"].startswith(f"SIGNER_PUBLIC_ENDPOINT {public} ")
    assert "minio-server's public URL" in error["hint"]
    # Nobody calls a private service's /readyz on Render: the log says it too, unasked.
    assert f"not ready: SIGNER_PUBLIC_ENDPOINT {public} " in wrong.wait_for_log(
        "not ready: SIGNER_PUBLIC_ENDPOINT", timeout=60
    )
    render.discard(wrong.name)


def render_port(render: Render, container: str) -> int:
    ports = render.engine.inspect("container", container)["NetworkSettings"]["Ports"]
    (binding,) = [b for bs in ports.values() if bs for b in bs]
    assert binding["HostIp"] == "127.0.0.1"
    return int(binding["HostPort"])


def test_every_published_port_binds_loopback_only(render: Render) -> None:
    for name in render.started:
        render_port(render, name)


def test_the_disk_keeps_the_data_across_a_deploy(render: Render) -> None:
    assert signer_ready(render).status_code == 200
    body = b"on the disk, not in the container\n"
    done = upload(render, body)
    render.redeploy("minio-server", READY_TIMEOUT)
    got = render.public("GET", done["get_url"])
    assert got.status_code == 200 and got.content == body, got.text
    assert signer_ready(render).status_code == 200


def test_minio_server_runs_on_a_new_root_owned_disk(render: Render) -> None:
    # Issue 13 defect 6: the image's user could not write a disk owned by root. The entrypoint
    # now makes /data the user's, then drops to it: what MinIO wrote there is 10001:10001.
    minio = IMAGES["minio"]
    assert render.new_disk_owner == {"minio-server": "0:0"}
    mount = render.blueprint.services["minio-server"].spec["disk"]["mountPath"]
    owners = render.container("minio-server").exec(
        "stat", "-c", "%u:%g", mount, f"{mount}/.minio.sys"
    )
    assert owners.split() == [f"{minio.uid}:{minio.gid}"] * 2
