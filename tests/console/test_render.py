"""A short upstream name qualified with resolv.conf's search domains before nginx gets it:
nginx's ``resolver`` asks its DNS server for exactly the name written, so a private name that
resolves only with a search domain appended would never resolve. (The rendered config itself
is checked in tests/deploy/test_render.py; the real lookup, inside a container on a podman
network whose resolv.conf searches dns.podman, in tests/containers/test_render.py.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from console.render import qualify_upstream, search_domains


@pytest.fixture
def resolv_conf(tmp_path: Path) -> Path:
    path = tmp_path / "resolv.conf"
    path.write_text(
        "# written by the platform\n"
        "nameserver 10.0.0.2\n"
        "search ns1.svc.cluster.local svc.cluster.local. cluster.local\n"
        "options ndots:5\n"
    )
    return path


class Lookups:
    """A DNS server that knows ``names``, recording every name it is asked for."""

    def __init__(self, *names: str) -> None:
        self.known = set(names)
        self.asked: list[str] = []

    def __call__(self, name: str) -> bool:
        self.asked.append(name)
        return name in self.known


def test_search_domains_are_read_as_the_c_resolver_reads_them(tmp_path: Path) -> None:
    conf = tmp_path / "resolv.conf"
    conf.write_text("domain old.example\nsearch a.example b.example.\nnameserver 10.0.0.2\n")
    assert search_domains(conf) == ("a.example", "b.example")  # the last line wins
    conf.write_text("domain only.example\n")
    assert search_domains(conf) == ("only.example",)
    conf.write_text("nameserver 10.0.0.2\n")
    assert search_domains(conf) == ()
    assert search_domains(tmp_path / "missing") == ()


def test_the_first_search_domain_that_resolves_is_rendered(resolv_conf: Path) -> None:
    dns = Lookups("minio-server-a1b2.svc.cluster.local", "minio-server-a1b2.cluster.local")
    assert qualify_upstream("minio-server-a1b2", resolv_conf, resolve=dns, wait=0) == (
        "minio-server-a1b2.svc.cluster.local"
    )
    assert dns.asked == [
        "minio-server-a1b2.ns1.svc.cluster.local",
        "minio-server-a1b2.svc.cluster.local",
        "minio-server-a1b2.ns1.svc.cluster.local",  # asked once more: it is preferred
    ]


def test_a_name_that_appears_mid_pass_gets_its_preferred_form(resolv_conf: Path) -> None:
    # The service registers with the DNS server (as podman's aardvark-dns does when its
    # container starts) after the renderer asked for the qualified forms: the bare name
    # answers, and so would the qualified one now. The qualified one is rendered.
    class Registering(Lookups):
        def __call__(self, name: str) -> bool:
            if name == "minio-server":  # registers every form at once
                self.known |= {"minio-server.svc.cluster.local", "minio-server"}
            return super().__call__(name)

    dns = Registering()
    found = qualify_upstream("minio-server", resolv_conf, resolve=dns, wait=0)
    assert found == "minio-server.svc.cluster.local"
    assert dns.asked[-2:] == ["minio-server.ns1.svc.cluster.local", found]


def test_a_bare_name_the_dns_server_answers_is_kept(resolv_conf: Path) -> None:
    # Docker's 127.0.0.11 and podman's aardvark-dns answer a bare service name.
    assert qualify_upstream("minio", resolv_conf, resolve=Lookups("minio"), wait=0) == "minio"


@pytest.mark.parametrize("host", ["minio.internal", "10.0.0.7", "[fd00::7]"])
def test_addresses_and_names_with_dots_are_left_alone(resolv_conf: Path, host: str) -> None:
    dns = Lookups(host)
    assert qualify_upstream(host, resolv_conf, resolve=dns, wait=0) == host
    assert dns.asked == []


def test_without_search_domains_nothing_is_looked_up(tmp_path: Path) -> None:
    dns = Lookups()
    conf = tmp_path / "resolv.conf"
    conf.write_text("nameserver 10.0.0.2\n")
    assert qualify_upstream("minio", conf, resolve=dns, wait=60) == "minio"
    assert dns.asked == []


def test_it_waits_for_the_upstream_to_appear_then_gives_up_saying_so(resolv_conf: Path) -> None:
    lookups: list[str] = []
    notes: list[str] = []

    def late(name: str) -> bool:  # the upstream's name appears on the second round
        lookups.append(name)
        return name == "minio-server.cluster.local" and len(lookups) > 4

    found = qualify_upstream("minio-server", resolv_conf, resolve=late, wait=30, note=notes.append)
    assert found == "minio-server.cluster.local"
    assert notes == [
        "waiting up to 30s for minio-server to resolve as minio-server.ns1.svc.cluster.local or "
        "minio-server.svc.cluster.local or minio-server.cluster.local or minio-server"
    ]
    notes.clear()
    assert qualify_upstream("gone", resolv_conf, resolve=Lookups(), wait=0, note=notes.append) == (
        "gone"
    )
    assert notes[-1].endswith("; rendered as given")
