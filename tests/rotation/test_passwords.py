"""rotation/passwords.py: what MinIO accepts, generated with `secrets`."""

from __future__ import annotations

import pytest

from common.validators import check_secret_key
from rotation.passwords import ALPHABET, check_user_name, new_password


def test_passwords_are_long_random_and_safe_to_write_unquoted() -> None:
    made = {new_password() for _ in range(50)}
    assert len(made) == 50
    for password in made:
        assert len(password) == 40 and set(password) <= set(ALPHABET)
        check_secret_key(password)


@pytest.mark.parametrize("name", ["admin", "minio-stack-admin", "ops.root@team"])
def test_good_user_names(name: str) -> None:
    assert check_user_name(name) == name


@pytest.mark.parametrize("name", ["ab", "has=equals", "a,b,c", "with space", "-leading", "x" * 65])
def test_bad_user_names(name: str) -> None:
    with pytest.raises(ValueError):
        check_user_name(name)
