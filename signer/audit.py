"""The audit log: one structured line per decision the signer makes.

The spec's security checklist asks to log ``key_base, object_key, mime, size_bytes, strategy,
requester`` for every presign; the signer logs that for every decision (presign, a form
presign, part URLs, refresh, complete, abort, download), granted or refused, with the actor
the backend named and the outcome code (``ok``, or the error code the client got)::

    time=2026-03-01T12:00:00Z decision=presign outcome=ok requester=api-1a2b3c4d5e6f
      actor=user-42 key_base=01J9ZKQ8 object_key=raw/3f/01J9ZKQ8.mov mime=video/quicktime
      size_bytes=104857600 strategy=multipart profile=listing

(one line; wrapped here). ``SIGNER_AUDIT_FORMAT=json`` writes the same fields as one JSON
object per line, ``off`` writes nothing. Lines go to the ``signer.audit`` logger at INFO.

Only the fields in ``FIELDS`` are ever written, each a name the signer made or a value it
checked, never a token, a signature, a URL or a file name: an audit log is read by more
people than should hold a credential. The use-cases say what a decision was about
(``signer.usecase.UseCase``); this module only writes it.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from datetime import UTC, datetime

LOGGER = "signer.audit"
FORMATS = ("logfmt", "json", "off")
OK = "ok"
# Every field a line may have, in the order a line has them.
FIELDS = (
    "time",
    "decision",
    "outcome",
    "requester",
    "actor",
    "tenant",
    "intent",
    "profile",
    "key_base",
    "object_key",
    "mime",
    "kind",
    "size_bytes",
    "strategy",
    "parts",
    "endpoint",
)
_FACTS = FIELDS[3:]  # what a use-case may say; time, decision and outcome are the log's
Facts = Mapping[str, object]
_BARE = re.compile(r"[A-Za-z0-9_.:/@+,*-]+")
_MAX_VALUE = 300


def _text(value: object) -> str:
    text = str(value)
    return text if len(text) <= _MAX_VALUE else text[:_MAX_VALUE] + "..."


def logfmt(fields: Mapping[str, object]) -> str:
    """``k=v`` pairs; a value with anything but a safe character is quoted, with quotes,
    backslashes and control characters escaped, so a value never breaks its line."""
    out = []
    for name, value in fields.items():
        text = _text(value)
        if not _BARE.fullmatch(text):
            text = json.dumps(text)  # a double-quoted string; \\n, \\" and \\u00XX escaped
        out.append(f"{name}={text}")
    return " ".join(out)


class AuditLog:
    """Writes decisions in one format; cheap to ask whether it writes at all (``enabled``)."""

    def __init__(self, fmt: str = "logfmt", logger: logging.Logger | None = None) -> None:
        if fmt not in FORMATS:
            raise ValueError(f"audit format {fmt!r} is not one of {', '.join(FORMATS)}")
        self.format = fmt
        self.logger = logger or logging.getLogger(LOGGER)

    @property
    def enabled(self) -> bool:
        return self.format != "off" and self.logger.isEnabledFor(logging.INFO)

    def record(self, decision: str, outcome: str, facts: Facts, now: datetime) -> None:
        """One line: ``decision`` (presign, parts, ...), its ``outcome`` and the ``facts``
        the use-case gave (unknown names and None values left out)."""
        if not self.enabled:
            return
        fields: dict[str, object] = {
            "time": now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "decision": decision,
            "outcome": outcome,
        }
        fields.update((name, facts[name]) for name in _FACTS if facts.get(name) is not None)
        if self.format == "json":
            line = json.dumps({k: v if isinstance(v, int) else _text(v) for k, v in fields.items()})
        else:
            line = logfmt(fields)
        self.logger.info("%s", line)
