"""What every use-case shares: ``SignerService`` holds the settings, storage, the clock and the
id generator, and the steps several use-cases take (sign a URL, issue or read an intent token,
sign a part URL, find the profile an object key belongs to).

The use-cases themselves are in ``signer.uploads`` and ``signer.downloads``, each a plan made
without I/O and then the work (``signer.usecase``). They take the service as their first
argument rather than being its methods, so a route names the use-case it runs, and the clock
and ids can be pinned in tests by building the service with others.

Every URL handed to a client is signed for SIGNER_PUBLIC_ENDPOINT (SigV4 signs the Host), or,
when the request asks for ``endpoint: internal``, for SIGNER_INTERNAL_ENDPOINT: a worker inside
the network (compose, Render's private network) may not reach the public host, and a URL
signed for one host is refused on the other.

Intent tokens are short-lived (the profile's ``token_ttl``, 15 minutes by default). What
bounds an upload is its *window* (``intent_window``: the upload URL's life plus an hour to
complete; a day for a multipart upload), carried in the token as ``renew_until``: within it an
expired token is renewed (``signer.uploads``: refresh) and still completes or aborts; part
URLs need an unexpired one.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from ulid import ULID

from signer.audit import AuditLog
from signer.core.errors import ErrorCode, SignerError
from signer.core.keys import ObjectKey, content_disposition, fixed_prefix, object_key
from signer.core.policy import MAX_TTL, Profile, part_length
from signer.core.sigv4 import Presigner
from signer.core.tokens import Endpoint, Intent, IntentStrategy, Parts
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
    """``moment`` in UTC to the second, ``YYYY-MM-DDTHH:MM:SSZ``."""
    # isoformat is this format with "+00:00" for the "Z", and half the cost of strftime.
    return moment.astimezone(UTC).isoformat(timespec="seconds").removesuffix("+00:00") + "Z"


def rfc3339_epoch(seconds: int) -> str:
    return rfc3339(datetime.fromtimestamp(seconds, UTC))


def expires_at(now: datetime, ttl: int) -> str:
    """When URLs signed at ``now`` for ``ttl`` seconds expire, as answers say it."""
    return rfc3339(now + timedelta(seconds=ttl))


def intent_window(profile: Profile, strategy: IntentStrategy) -> int:
    """Seconds from an intent's first token to the end of its window (``renew_until``)."""
    wanted = profile.put_ttl + COMPLETE_GRACE
    if strategy == "multipart":
        wanted = max(wanted, MULTIPART_WINDOW)
    return min(wanted, profile.ttl_max, MAX_TTL)


_REFRESH_HINT = "renew it with POST /v1/uploads/refresh {intent_token}, then ask again"


@dataclass
class SignerService:
    settings: Settings
    storage: Storage
    clock: Callable[[], datetime] = _utcnow
    new_key_id: Callable[[], str] = _new_key_id
    initial_parts: int = INITIAL_PARTS
    _prefixes: list[tuple[str, Profile]] = field(init=False, repr=False)
    audit: AuditLog = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.audit = AuditLog(self.settings.audit_format)
        prefixes = [
            (fixed_prefix(p.key_template, p.prefix), p)
            for p in self.settings.policy.profiles.values()
        ]
        # Longest first: a download picks the most specific profile that could have made it.
        self._prefixes = sorted(prefixes, key=lambda item: len(item[0]), reverse=True)

    def now(self) -> datetime:
        """The clock to the second: what URLs are signed at, and what answers say."""
        return self.clock().astimezone(UTC).replace(microsecond=0)

    def endpoint_url(self, endpoint: Endpoint) -> str:
        """The storage URL a client on ``endpoint``'s side of the network reaches."""
        s = self.settings
        return (
            (s.internal_endpoint or s.s3_endpoint) if endpoint == "internal" else s.public_endpoint
        )

    @functools.cached_property
    def _presigner(self) -> Presigner:
        return self._presigner_for(self.settings.public_endpoint)

    @functools.cached_property
    def _internal_presigner(self) -> Presigner:
        return self._presigner_for(self.endpoint_url("internal"))

    def _presigner_for(self, endpoint: str) -> Presigner:
        s = self.settings
        return Presigner(
            endpoint=endpoint, access_key=s.access_key, secret_key=s.secret_key, region=s.region
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
        endpoint: Endpoint = "public",
    ) -> str:
        presigner = self._internal_presigner if endpoint == "internal" else self._presigner
        return presigner.presign(
            method=method,
            bucket=self.settings.bucket,
            key=key,
            expires=expires,
            now=now,
            headers=headers,
            query=query,
        )

    def get_url(
        self,
        key: str,
        profile: Profile,
        filename: str | None,
        content_type: str,
        now: datetime,
        endpoint: Endpoint = "public",
    ) -> str:
        """The presigned GET an upload's answers carry: inline, under the original name, as
        the declared type. Both are pinned in the URL (response-*), so the download serves
        what the signer decided whatever the object carries."""
        query = {
            "response-content-disposition": content_disposition("inline", filename),
            "response-content-type": content_type,
        }
        return self.sign(
            "GET", key, now=now, expires=profile.get_ttl, query=query, endpoint=endpoint
        )

    def object_key(
        self,
        profile: Profile,
        ext: str,
        now: datetime,
        key_base: str | None,
        *,
        shard: str | None = None,
        tenant: str | None = None,
    ) -> ObjectKey:
        """A new upload's key under ``profile`` (see ``signer.core.keys.object_key``)."""
        return object_key(
            profile,
            ext=ext,
            now=now,
            uuid=self.new_key_id(),
            key_base=key_base,
            shard=shard,
            tenant=tenant,
        )

    def issue(self, intent: Intent, profile: Profile, now: datetime) -> str:
        """A token for ``intent``: it lives the profile's ``token_ttl``, within the intent's
        window, which its first token opens (``renew_until``) and renewals keep."""
        return self.settings.keys.issue_intent(
            self.windowed(intent, profile, now),
            now=now,
            ttl=self.token_life(intent, profile, now),
            issuer=self.settings.token_issuer,
            audience=self.settings.token_audience,
        )

    @staticmethod
    def windowed(intent: Intent, profile: Profile, now: datetime) -> Intent:
        """``intent`` with its window's end set (the first token opens it)."""
        if intent.renew_until is not None:
            return intent
        end = int(now.timestamp()) + intent_window(profile, intent.strategy)
        return replace(intent, renew_until=end)

    def token_life(self, intent: Intent, profile: Profile, now: datetime) -> int:
        """Seconds a token issued at ``now`` lives: ``token_ttl``, cut at the window's end."""
        end = self.windowed(intent, profile, now).renew_until or 0
        return max(1, min(profile.token_ttl, end - int(now.timestamp())))

    def read_intent(self, token: str, *, renewable: bool = False) -> Intent:
        """The intent ``token`` carries, if this signer issued it for this bucket and it is
        unexpired; with ``renewable``, also when it expired within its window (complete,
        abort and refresh: they end or renew the intent, and storage holds what they act
        on). Tokens from before windows have none: their window ends when they expire."""
        s = self.settings
        now = self.clock()
        intent = s.keys.verify_intent(
            token,
            now=now,
            issuer=s.token_issuer,
            audience=s.token_audience,
            allow_expired=renewable,
        )
        if intent.bucket != s.bucket:
            raise SignerError(
                ErrorCode.SIGNATURE_INVALID,
                "intent token rejected: it was issued for another bucket",
                hint="request a new upload intent from this signer",
            )
        if intent.renew_until is None and intent.expires_at is not None:
            intent = replace(intent, renew_until=intent.expires_at)  # no renewal past it
        if renewable and intent.expires_at is not None:
            end = max(intent.renew_until or 0, intent.expires_at)
            if now.timestamp() >= end:
                raise SignerError(
                    ErrorCode.SIGNATURE_INVALID,
                    f"intent token rejected: its upload window ended at {rfc3339_epoch(end)}",
                    hint="request a new upload intent",
                )
        return intent

    def read_live_intent(self, token: str) -> Intent:
        """``read_intent`` for part URLs: the token must be unexpired; an expired one within
        its window is refused with how to renew it."""
        intent = self.read_intent(token, renewable=True)
        expired = intent.expires_at
        if expired is not None and self.clock().timestamp() >= expired:
            raise SignerError(
                ErrorCode.SIGNATURE_INVALID,
                f"intent token rejected: expired at {rfc3339_epoch(expired)}",
                hint=_REFRESH_HINT,
            )
        return intent

    def check_tenant(self, subject: str, tenant: str | None) -> None:
        self.settings.policy.check_tenant(subject, tenant)

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
            endpoint=intent.endpoint,
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
