"""New credentials MinIO accepts, made with ``secrets``.

MinIO (internal/auth/credentials.go) wants an access key of at least 3 characters without
'=' or ',' and a secret key of at least 8; its own generator makes 40-character secrets.
The kit generates 40 characters from [A-Za-z0-9] (~238 bits): nothing in it needs quoting in
an env file, in Compose's ``${...}`` interpolation, in a shell, or in a URL.
"""

from __future__ import annotations

import re
import secrets
import string

from common.validators import check_access_key

PASSWORD_LENGTH = 40
ALPHABET = string.ascii_letters + string.digits
# A root or IAM user name the kit writes unquoted into .env and into Render's API.
_USER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+-]{2,63}")


def new_password(length: int = PASSWORD_LENGTH) -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(length))


def check_user_name(name: str) -> str:
    """A user name MinIO accepts and .env holds without quoting; ValueError says why not."""
    check_access_key(name)
    if not _USER_NAME.fullmatch(name):
        raise ValueError(
            f"{name!r} must be 3 to 64 characters of letters, digits and . _ @ + -, "
            "starting with a letter or digit"
        )
    return name
