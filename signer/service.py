"""What every use-case shares: ``SignerService`` holds the settings, storage, the clock and the
id generator, and the steps several use-cases take (sign a URL, issue or read an intent token,
sign a part URL, find the profile an object key belongs to).

The use-cases themselves are in ``signer.uploads`` and ``signer.downloads``, each a plan made
without I/O and then the work (``signer.usecase``). They take the service as their first
argument rather than being its methods, so a route names the use-case it runs, and the clock
and ids can be pinned in tests by building the service with others.

Every URL handed to a client is signed for SIGNER_PUBLIC_ENDPOINT (SigV4 signs the Host).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from ulid import ULID

from signer.core.errors import ErrorCode, SignerError
from signer.core.keys import content_disposition, fixed_prefix, make_object_key
from signer.core.policy import MAX_TTL, Profile, part_length
from signer.core.sigv4 import Presigner
from signer.core.tokens import Intent, IntentStrategy, Parts
from signer.models import INITIAL_PARTS, PartUrl
from signer.settings import Settings
from signer.storage import Storage

# A client may call complete a while after its upload URL expired (the bytes went in in time).
COMPLETE_GRACE = 3600
# A multipart intent lives as long as storage keeps an incomplete upload by default (MinIO's
# api stale_uploads_expiry, 24h), so part URLs can be re-signed for a long upload.
MULTIPART_WINDOW = 86400
# SSE-C keys go with every part; other SSE headers only with CreateMultipartUpload.
PER_PART_HEADER = "x-amz-server-side-encryption-customer-"


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _new_key_id() -> str:
    # ULIDs sort by creation time, so listing a prefix lists uploads in order.
    return str(ULID())


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def expires_at(now: datetime, ttl: int) -> str:
    """When URLs signed at ``now`` for ``ttl`` seconds expire, as answers say it."""
    return rfc3339(now + timedelta(seconds=ttl))


def token_ttl(profile: Profile, strategy: IntentStrategy) -> int:
    wanted = profile.put_ttl + COMPLETE_GRACE
    if strategy == "multipart":
        wanted = max(wanted, MULTIPART_WINDOW)
    return min(wanted, profile.ttl_max, MAX_TTL)


@dataclass
class SignerService:
    settings: Settings
    storage: Storage
    clock: Callable[[], datetime] = _utcnow
    new_key_id: Callable[[], str] = _new_key_id
    initial_parts: int = INITIAL_PARTS
    _prefixes: list[tuple[str, Profile]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        prefixes = [
            (fixed_prefix(p.key_template, p.prefix), p)
            for p in self.settings.policy.profiles.values()
        ]
        # Longest first: a download picks the most specific profile that could have made it.
        self._prefixes = sorted(prefixes, key=lambda item: len(item[0]), reverse=True)

    def now(self) -> datetime:
        """The clock to the second: what URLs are signed at, and what answers say."""
        return self.clock().astimezone(UTC).replace(microsecond=0)

    @functools.cached_property
    def _presigner(self) -> Presigner:
        s = self.settings
        return Presigner(
            endpoint=s.public_endpoint,
            access_key=s.access_key,
            secret_key=s.secret_key,
            region=s.region,
        )

    def sign(
        self,
        method: str,
        key: str,
        *,
        now: datetime,
        expires: int,
        headers: Mapping[str, str] | None = None,
        query: Mapping[str, str] | None = None,
    ) -> str:
        return self._presigner.presign(
            method=method,
            bucket=self.settings.bucket,
            key=key,
            expires=expires,
            now=now,
            headers=headers,
            query=query,
        )

    def get_url(
        self, key: str, profile: Profile, filename: str | None, content_type: str, now: datetime
    ) -> str:
        """The presigned GET an upload's answers carry: inline, under the original name, as
        the declared type. Both are pinned in the URL (response-*), so the download serves
        what the signer decided whatever the object carries."""
        query = {
            "response-content-disposition": content_disposition("inline", filename),
            "response-content-type": content_type,
        }
        return self.sign("GET", key, now=now, expires=profile.get_ttl, query=query)

    def object_key(
        self, profile: Profile, ext: str, now: datetime, key_base: str | None
    ) -> tuple[str, str]:
        """(object key, key_base) for a new upload under ``profile``."""
        return make_object_key(profile, ext=ext, now=now, uuid=self.new_key_id(), key_base=key_base)

    def issue(self, intent: Intent, profile: Profile, now: datetime) -> str:
        s = self.settings
        return s.keys.issue_intent(
            intent,
            now=now,
            ttl=token_ttl(profile, intent.strategy),
            issuer=s.token_issuer,
            audience=s.token_audience,
        )

    def read_intent(self, token: str) -> Intent:
        """The intent ``token`` carries, if this signer issued it for this bucket."""
        s = self.settings
        intent = s.keys.verify_intent(
            token, now=self.clock(), issuer=s.token_issuer, audience=s.token_audience
        )
        if intent.bucket != s.bucket:
            raise SignerError(
                ErrorCode.SIGNATURE_INVALID,
                "intent token rejected: it was issued for another bucket",
                hint="request a new upload intent from this signer",
            )
        return intent

    def intent_profile(self, intent: Intent) -> Profile:
        # The policy may have changed since the intent was issued; the intent stays valid.
        policy = self.settings.policy
        return policy.profiles.get(intent.profile) or policy.profile(None)

    def part_url(
        self, intent: Intent, size: int, parts: Parts, number: int, now: datetime, ttl: int
    ) -> PartUrl:
        """Part ``number``'s PUT URL; BAD_REQUEST for a number outside the upload's parts."""
        length = part_length(size, parts.part_size, number)
        headers = {"Content-Length": str(length)}
        headers.update(
            {k: v for k, v in intent.required_headers.items() if k.startswith(PER_PART_HEADER)}
        )
        url = self.sign(
            "PUT",
            intent.object_key,
            now=now,
            expires=ttl,
            headers=headers,
            query={"partNumber": str(number), "uploadId": parts.upload_id},
        )
        return PartUrl(part_number=number, url=url, headers=headers)

    def profile_for_key(self, key: str) -> Profile:
        for prefix, profile in self._prefixes:
            if key.startswith(prefix):
                return profile
        shown = ", ".join(sorted(repr(prefix) for prefix, _ in self._prefixes))
        raise SignerError(
            ErrorCode.BAD_REQUEST,
            "object_key is outside every upload profile's prefix",
            hint=f"the signer presigns downloads of keys starting with: {shown}",
        )
