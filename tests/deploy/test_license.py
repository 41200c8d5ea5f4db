"""The kit's license and MinIO's: what pyproject claims is in the tree, and the README says
plainly what the archived upstream means and how to build a maintained fork."""

from __future__ import annotations

import tomllib

from harness.minio_server import ROOT


def test_the_license_pyproject_names_is_the_one_in_the_tree() -> None:
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["license"]
    assert declared == "Apache-2.0"
    text = (ROOT / "LICENSE").read_text()
    assert "Apache License" in text and "Version 2.0, January 2004" in text


def test_the_notice_says_minio_is_agplv3_and_where_its_license_ships() -> None:
    notice = (ROOT / "NOTICE").read_text()
    assert "GNU Affero General Public License, version 3" in notice
    assert "/usr/share/licenses/minio/" in notice
    assert (
        "COPY --from=build /out/licenses /usr/share/licenses/minio"
        in (ROOT / "minio" / "Dockerfile").read_text()
    )


def test_the_readme_says_upstream_is_archived_and_how_to_build_a_fork() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## MinIO version", 1)[1].split("\n## ", 1)[0]
    for words in (
        "archived",
        "RELEASE.2025-10-15T17-29-55Z",
        "security",
        "MINIO_GIT_URL",
        "MINIO_GIT_REF",
        "Only the upstream pin is tested",
    ):
        assert words in section, words
    dockerfile = (ROOT / "minio" / "Dockerfile").read_text()
    assert "ARG MINIO_GIT_URL" in dockerfile and "ARG MINIO_GIT_REF" in dockerfile
