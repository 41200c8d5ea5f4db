"""The S3 words every package that talks to storage must read the same way.

Error codes come from the ``<Code>`` of an S3 error answer (or the ``Code`` of MinIO's admin
API JSON). Bootstrap, the signer and rotation each decide what to do with an answer; they
must not disagree on what the answer *is* — a code one package retries and another reports
as a refusal would make a restart look like a misconfiguration.
"""

from __future__ import annotations

# The server is starting, overloaded or failed internally: the same request may succeed later.
# MinIO's SlowDownWrite/SlowDownRead (503) mean no write/read quorum for now: a node of a
# distributed MinIO that has not reached its peers yet, or has just lost one.
TEMPORARY_CODES = frozenset(
    {
        "XMinioServerNotInitialized",
        "XMinioIAMNotInitialized",
        "XMinioBucketMetadataNotInitialized",
        "XMinioServerBusy",
        "ServerBusy",
        "ServiceUnavailable",
        "SlowDown",
        "SlowDownRead",
        "SlowDownWrite",
        "TooManyRequests",
        "RequestTimeout",
        "InternalError",
    }
)

# The server does not accept the key pair: wrong access key, wrong secret, or (MinIO) an
# identity IAM does not know. Retrying cannot help; the configured credentials must change.
CREDENTIAL_CODES = frozenset(
    {"InvalidAccessKeyId", "SignatureDoesNotMatch", "XMinioInvalidIAMCredentials"}
)

# No such object. S3 says NoSuchKey; some servers and gateways say one of the others for the
# same 404, and minio-py names a body-less 404 (a HEAD) by its status alone.
NOT_FOUND_CODES = frozenset({"NoSuchKey", "NoSuchObject", "ResourceNotFound"})

# Keys the kit writes for itself in a user's bucket live under one prefix, so every reader
# can tell them from user data and users' keys can be refused there.
STATE_PREFIX = ".minio-stack/"
# The signer's records of completed and aborted uploads: durable, unlike the probes below.
INTENTS_PREFIX = f"{STATE_PREFIX}intents/"
# Where a single PUT or a form upload lands until the signer's complete accepts it and copies
# it to its object key; bootstrap's staging step expires what is left there.
STAGING_PREFIX = f"{STATE_PREFIX}staging/"
# Objects the kit writes to check real behaviour and removes at once (bootstrap's verifies,
# rotation's checks, the signer's public-endpoint proof): never data, and may vanish between a
# listing and a read.
PROBES_PREFIX = f"{STATE_PREFIX}probes/"
