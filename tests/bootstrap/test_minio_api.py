"""minio_api: parsing MinIO's ``config_get api`` answer, and writing all managed keys at once."""

from __future__ import annotations

from bootstrap import minio_api
from bootstrap.minio_api import ApiConfig, ApiValue, parse

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
