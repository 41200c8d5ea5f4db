"""common.envconfig: sizes, durations, booleans and the Env reader that lists every problem."""

from __future__ import annotations

import pytest

from common.envconfig import Env, format_duration, parse_bool, parse_duration, parse_size
from common.errors import ConfigError, ExitCode


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("1048576", 1048576),
        (1048576, 1048576),
        (0, 0),
        ("15MiB", 15 * 1024**2),
        ("15 mib", 15 * 1024**2),
        ("15Mi", 15 * 1024**2),  # a bare IEC prefix has always meant bytes
        ("1.5GiB", 1536 * 1024**2),
        ("5GiB", 5 * 1024**3),
        ("8MB", 8_000_000),
        ("5K", 5000),
        ("2G", 2_000_000_000),
        ("10TiB", 10 * 1024**4),
        (" 7 MiB ", 7 * 1024**2),
        ("12b", 12),
    ],
)
def test_sizes(text: str | int, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize(
    "text", ["-1", -5, "abc", "", "1e3", "5 XB", "1.5.5MiB", "15MiB and more", True, "MiB"]
)
def test_bad_sizes_name_the_value_and_the_forms(text: object) -> None:
    with pytest.raises(ValueError, match="is not a size") as info:
        parse_size(text)  # type: ignore[arg-type]
    assert repr(text) in str(info.value)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90", 90), ("90s", 90), ("15m", 900), ("24h", 86400), ("1h30m", 5400), ("7d", 604800)],
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "15x", "m15", "1h 30m", "-5s", "1.5h"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError, match="is not a duration"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("seconds", "text"), [(0, "0s"), (59, "59s"), (3600, "1h"), (86400, "24h"), (3661, "1h1m1s")]
)
def test_format_duration_is_gos(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


def test_booleans() -> None:
    assert [parse_bool(v) for v in ("1", "true", "YES", "on")] == [True] * 4
    assert [parse_bool(v) for v in ("0", "false", "no", "off", "")] == [False] * 5
    with pytest.raises(ValueError, match="true or false"):
        parse_bool("maybe")


def test_env_lists_every_problem_at_once(tmp_path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("from-a-file\n")
    env = Env(
        {
            "A_SIZE": "lots",
            "A_TIMEOUT": "soon",
            "A_FLAG": "perhaps",
            "A_SECRET_FILE": str(secret),
            "B_SECRET": "x",
            "B_SECRET_FILE": str(secret),
            "C_SECRET_FILE": str(tmp_path / "missing"),
        }
    )
    assert env.parsed("A_SIZE", parse_size, 1) == 1
    assert env.duration("A_TIMEOUT", 5.0) == 5.0
    assert env.bool("A_FLAG", True) is True
    assert env.str("A_SECRET") == "from-a-file"  # *_FILE, stripped of its newline
    env.str("B_SECRET")
    assert env.str("C_SECRET") is None
    env.str("D_REQUIRED", required=True)
    with pytest.raises(ConfigError) as info:
        env.raise_if_invalid()
    named = [name for name, _ in info.value.problems]
    assert named == ["A_SIZE", "A_TIMEOUT", "A_FLAG", "B_SECRET", "C_SECRET_FILE", "D_REQUIRED"]
    assert info.value.exit_code is ExitCode.CONFIG
    assert "from-a-file" not in info.value.message


def test_env_lists() -> None:
    assert Env({"L": " a, b ,,c "}).list("L") == ["a", "b", "c"]
    assert Env({}).list("L") == []
