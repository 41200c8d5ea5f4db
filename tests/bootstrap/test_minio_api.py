"""minio_api: parsing MinIO's ``config_get api`` answer, and writing all managed keys at once."""

from __future__ import annotations

from bootstrap import cors, minio_api, uploads
from bootstrap.converge import converge
from bootstrap.minio_api import ApiConfig, ApiValue, parse
from bootstrap.report import Status
from bootstrap.s3 import Clients
from tests.bootstrap.conftest import CountingPool, settings_for

APP = "https://app.example"

# Shaped like the real answer of the pinned MinIO (see test_read_from_real_server).
PLAIN = (
    "api requests_max=0 cluster_deadline=10s cors_allow_origin=* remote_transport_deadline=2h "
    "stale_uploads_cleanup_interval=6h stale_uploads_expiry=24h delete_cleanup_interval=5m \n"
)
WITH_ENV = (
    "# MINIO_API_CORS_ALLOW_ORIGIN=https://a.example,https://b.example\n"
    "# MINIO_API_STALE_UPLOADS_EXPIRY=2h\n"
    "api requests_max=0 cors_allow_origin=https://c.example stale_uploads_expiry=24h \n"
)


def test_parse_stored_values():
    values = parse(PLAIN)
    assert values["cors_allow_origin"] == ApiValue("cors_allow_origin", "*", None)
    assert values["stale_uploads_expiry"].effective == "24h"
    assert values["stale_uploads_expiry"].observe() == {"value": "24h", "source": "config"}


def test_environment_overrides_win():
    values = parse(WITH_ENV)
    cors = values["cors_allow_origin"]
    assert cors.stored == "https://c.example"
    assert cors.env == "https://a.example,https://b.example"
    assert cors.effective == cors.env
    assert cors.observe()["env"] == "MINIO_API_CORS_ALLOW_ORIGIN"
    assert values["stale_uploads_expiry"].effective == "2h"


def test_quoted_values():
    values = parse('api cors_allow_origin="https://a.example,https://b.example" odirect=on\n')
    assert values["cors_allow_origin"].stored == "https://a.example,https://b.example"


def test_env_name():
    assert minio_api.env_name("stale_uploads_expiry") == "MINIO_API_STALE_UPLOADS_EXPIRY"


def test_read_from_real_server(minio):
    values = minio_api.read(minio.admin())
    assert set(values) == set(minio_api.MANAGED)
    assert values["stale_uploads_expiry"].effective  # the session server keeps its defaults


def test_write_sets_every_managed_key_in_one_call(fresh_minio):
    admin = fresh_minio.admin()
    ApiConfig({"cors_allow_origin": "https://x.example", "stale_uploads_expiry": "3h"}).write(admin)
    values = minio_api.read(admin)
    assert values["cors_allow_origin"].effective == "https://x.example"
    assert values["stale_uploads_expiry"].effective == "3h"


def test_a_run_reads_the_api_config_once_and_again_only_after_writing_it(fresh_minio):
    fresh_minio.client().make_bucket("uploads")
    api = ApiConfig({minio_api.CORS_ALLOW_ORIGIN: APP, minio_api.STALE_UPLOADS_EXPIRY: "3h"})
    steps = [cors.minio_step((APP,), api, "uploads"), uploads.minio_step(3 * 3600, api)]
    pool = CountingPool()
    clients = Clients.connect(settings_for(fresh_minio), pool)

    def config_reads() -> int:
        count = sum(1 for r in pool.requests if r.path.endswith("/get-config-kv"))
        pool.requests.clear()
        return count

    first = converge(steps, clients, plan=False)
    assert [r.status for r in first] == [Status.CHANGED, Status.CHANGED]
    assert all(r.verified for r in first)
    # One read plans both steps; each step's write is then read back by its verify.
    assert config_reads() == 3
    again = converge(steps, clients, plan=False)
    assert [r.status for r in again] == [Status.UNCHANGED, Status.UNCHANGED]
    assert all(r.verified for r in again)
    assert config_reads() == 1  # nothing written: the planning read is the server's state
    # verify still checks real behaviour: a preflight and a real PUT with an Origin.
    assert again[0].observed["preflight_declared"] == "allowed"
    assert again[0].observed["expose_etag"] is True
    assert minio_api.read(fresh_minio.admin())[minio_api.CORS_ALLOW_ORIGIN].effective == APP
