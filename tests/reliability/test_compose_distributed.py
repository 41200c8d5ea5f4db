"""docker-compose.distributed.yaml: valid Compose, and the cluster it declares is the one the
tests run (4 nodes x 2 drives, one argument list, every drive on its own volume).

No Docker engine here: the file is checked against the Compose Specification's schema, its
MinIO layout is expanded the way MinIO expands it, and its nginx balancer config is run for
real in front of the loopback cluster by test_distributed.py.
"""

from __future__ import annotations

import copy
import itertools
import json
import re
from typing import Any

import jsonschema
import yaml

from tests.conftest import shared_path
from tests.minio_cluster import COMPOSE_FILE, compose_balancer_config

NODES = [f"minio{i}" for i in range(1, 5)]


def load() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_FILE.read_text())


def schema_errors(doc: dict[str, Any]) -> list[str]:
    schema = json.loads(shared_path("schemas/compose-go/compose-spec.json").read_text())
    validator = jsonschema.validators.validator_for(schema)(schema)
    return [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(doc)
    ]


def expand_ellipses(arg: str) -> list[str]:
    """MinIO's {a...b} expansion: every pattern is a dimension, the result their product."""
    patterns = list(re.finditer(r"\{(\d+)\.\.\.(\d+)\}", arg))
    ranges = [range(int(m.group(1)), int(m.group(2)) + 1) for m in patterns]
    pieces = re.split(r"\{\d+\.\.\.\d+\}", arg)
    out = []
    for combo in itertools.product(*ranges):
        text = pieces[0]
        for value, piece in zip(combo, pieces[1:], strict=True):
            text += str(value) + piece
        out.append(text)
    return out


def test_matches_the_compose_spec() -> None:
    assert schema_errors(load()) == []


def test_the_schema_rejects_a_misspelt_service_field() -> None:
    # Guards the test above: the schema really constrains services.
    doc = copy.deepcopy(load())
    doc["services"]["minio1"]["comand"] = doc["services"]["minio1"].pop("command")
    assert schema_errors(doc) != []


def test_four_nodes_share_one_argument_list_of_eight_drives() -> None:
    services = load()["services"]
    commands = {json.dumps(services[n]["command"]) for n in NODES}
    assert len(commands) == 1, "every node must get the same arguments"
    command = services["minio1"]["command"]
    assert command[0] == "server"
    endpoints = [e for arg in command[1:] if arg.startswith("http") for e in expand_ellipses(arg)]
    assert len(endpoints) == 8 and len(set(endpoints)) == 8
    for node in NODES:
        assert services[node]["hostname"] == node
        mine = sorted(e.split(":9000")[1] for e in endpoints if e.startswith(f"http://{node}:"))
        mounts = sorted(v.split(":")[1] for v in services[node]["volumes"])
        assert mine == mounts == ["/data1", "/data2"], node


def test_every_drive_has_its_own_volume_and_is_made_writable() -> None:
    doc = load()
    volumes = [v.split(":")[0] for n in NODES for v in doc["services"][n]["volumes"]]
    assert len(volumes) == len(set(volumes)) == 8
    assert set(volumes) <= set(doc["volumes"])
    init = doc["services"]["volumes-init"]
    assert {v.split(":")[0] for v in init["volumes"]} == set(volumes)
    for node in NODES:
        needs = doc["services"][node]["depends_on"]["volumes-init"]["condition"]
        assert needs == "service_completed_successfully"


def test_published_ports_bind_loopback_only() -> None:
    for name, service in load()["services"].items():
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port}"


def test_nodes_get_only_minios_own_settings() -> None:
    services = load()["services"]
    for node in NODES:
        assert "env_file" not in services[node], "the .env holds the signer's secrets"
        assert not [k for k in services[node]["environment"] if k.startswith("SIGNER_")]


def test_clients_reach_the_cluster_through_the_balancer() -> None:
    services = load()["services"]
    assert services["signer"]["environment"]["SIGNER_S3_ENDPOINT"] == "http://minio:9000"
    assert services["bootstrap"]["environment"]["MINIO_ENDPOINT"] == "http://minio:9000"
    config = compose_balancer_config()
    for node in NODES:
        assert f"server {node}:9000" in config
    # SigV4 signs the Host header: the balancer must pass the client's unchanged.
    assert "proxy_set_header Host $http_host;" in config
