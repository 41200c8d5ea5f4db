"""The signer's commands: signer serve, presign, upload, download.

Each command imports what it runs (the settings with their key handling, pydantic, the
server, the app or the client) when it runs: the root group imports every package's commands,
and ``minio-stack bootstrap`` should not pay for loading the signer.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from common.cli import CONTEXT, fail, json_option, package_group
from common.envconfig import parse_size
from common.errors import EXIT_CODES_HELP, ExitCode, StackError
from signer.core.errors import ErrorCode, SignerError

# Refusals caused by the request itself exit 2, like a bad option; the rest exit 1.
_CONFIG_CODES = frozenset(
    {ErrorCode.BAD_REQUEST, ErrorCode.MIME_NOT_ALLOWED, ErrorCode.SIZE_TOO_LARGE}
)


class SizeType(click.ParamType[int, str | int]):
    name = "size"

    def convert(
        self, value: str | int, param: click.Parameter | None, ctx: click.Context | None
    ) -> int:
        try:
            return parse_size(value)
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


def stack_error(error: SignerError) -> StackError:
    """A core refusal as the CLI's error (one line with the hint, and an exit code)."""
    out = StackError(error.message, error.hint)
    out.exit_code = ExitCode.CONFIG if error.code in _CONFIG_CODES else ExitCode.FAILED
    return out


def _progress(choice: bool | None) -> bool:
    return sys.stderr.isatty() if choice is None else choice


progress_option = click.option(
    "--progress/--no-progress",
    default=None,
    help="Show a progress bar on stderr [default: when stderr is a terminal].",
)
signer_url_option = click.option(
    "--signer-url",
    metavar="URL",
    help="The signer's HTTP API [default: $SIGNER_URL or http://127.0.0.1:8080].",
)
token_option = click.option(
    "--token",
    metavar="TOKEN",
    help="An API token [default: $SIGNER_API_TOKEN]. Prefer the variable: options show in ps.",
)


@click.group("signer", context_settings=CONTEXT)
def signer_group() -> None:
    """The signer service: checks policy and presigns uploads and downloads over HTTP."""


@signer_group.command("serve", context_settings=CONTEXT, epilog=EXIT_CODES_HELP)
@click.option("--check", is_flag=True, help="Validate the settings, print a summary and exit.")
def serve(check: bool) -> None:
    """Serve the HTTP API with granian (settings from SIGNER_* variables).

    The app is ASGI (Starlette): one event loop answers many requests while storage calls
    wait in a thread pool. granian, a Rust HTTP server, parses HTTP and accepts connections
    outside the GIL and enforces the request limits (SIGNER_MAX_HEADER_BYTES,
    SIGNER_HEADER_TIMEOUT, SIGNER_MAX_CONNECTIONS); SIGNER_WORKERS > 1 runs worker processes
    it supervises. No line is logged per request unless SIGNER_ACCESS_LOG=true: /metrics
    counts requests by route and outcome. No log line carries a token or a signature.
    """
    from signer import server
    from signer import settings as signer_settings

    try:
        settings = signer_settings.load()
    except StackError as exc:
        fail(exc)
    limits = settings.limits
    summary = (
        f"bucket {settings.bucket} at {settings.s3_endpoint} (URLs for "
        f"{settings.public_endpoint}); profiles: {', '.join(sorted(settings.policy.profiles))}; "
        f"listen {settings.listen}, {settings.workers} worker(s), granian + "
        f"{server.event_loop()}; limits: headers {limits.max_header_bytes} bytes in "
        f"{limits.header_timeout:g}s, body in {limits.body_timeout:g}s, "
        f"{limits.max_connections} connections per worker"
    )
    click.echo(f"signer: {summary}", err=True)
    if check:
        sys.exit(int(ExitCode.OK))
    server.serve(settings)


@click.command("presign", context_settings=CONTEXT, epilog=EXIT_CODES_HELP)
@click.option("--mime", "content_type", required=True, help="Content-Type of the upload.")
@click.option("--size", required=True, type=SizeType(), help="Exact size: bytes, 15MiB, 5GiB.")
@click.option("--profile", help="Upload profile [default: the policy's default_profile].")
@click.option("--key-base", help="Your id for {key_base} (ULID/UUID) [default: a new ULID].")
@click.option("--ext", help="Extension; must be the one the profile maps the type to.")
@click.option("--filename", help="Original file name (for download names only).")
@click.option(
    "--multipart",
    type=click.Choice(["auto", "force", "off"]),
    default="auto",
    show_default=True,
    help="auto: multipart from the profile's multipart_threshold.",
)
@click.option("--checksum-sha256", help="SHA-256 of the body (base64 or hex); storage checks it.")
@click.option("--kind", help="image, video, ...: the type must be of this kind.")
@click.option("--bucket", help="Must be MINIO_BUCKET, if given (the spec's field).")
@click.option("--shard", help="sha1(key_base)[0:2], if given; the profile's keys must be sharded.")
@click.option("--actor", help="Whom the upload is for (the intent token's sub, the audit's actor).")
@click.option("--tenant", help="Fills the key's {tenant} (profiles that use it).")
@click.option(
    "--endpoint",
    type=click.Choice(["public", "internal"]),
    default="public",
    show_default=True,
    help="Sign for SIGNER_PUBLIC_ENDPOINT, or SIGNER_INTERNAL_ENDPOINT (services inside).",
)
def presign(**options: Any) -> None:
    """Print a presign answer (JSON) without a running server, from SIGNER_* settings.

    The spec's reference command works as written: minio-stack presign --mime video/quicktime
    --size 104857600 --kind video --profile listing --key-base <ULID> --ext mov. A single
    PUT is signed offline. A multipart upload is created on storage, so that needs
    SIGNER_S3_ENDPOINT reachable with the signer's keys. SIGNER_API_TOKENS is not needed.
    """
    from pydantic import ValidationError

    from signer import settings as signer_settings
    from signer.models import PresignRequest
    from signer.responses import validation_error
    from signer.service import SignerService
    from signer.storage import Storage
    from signer.uploads import presign_upload

    fields = {name: value for name, value in options.items() if value is not None}
    fields["size_bytes"] = fields.pop("size")
    try:
        settings = signer_settings.load(serving=False)
        try:
            request = PresignRequest.model_validate(fields)
        except ValidationError as exc:
            raise stack_error(validation_error(exc, PresignRequest)) from None
        storage = Storage.from_settings(settings)
        try:
            answer = presign_upload(SignerService(settings, storage), request, "cli")
        except SignerError as exc:
            raise stack_error(exc) from None
        finally:
            storage.close()
    except StackError as exc:
        fail(exc)
    click.echo(json.dumps(answer.model_dump(mode="json", exclude_none=True), indent=2))


@click.command("upload", context_settings=CONTEXT, epilog=EXIT_CODES_HELP)
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--profile", help="Upload profile [default: the signer's default profile].")
@click.option("--mime", "content_type", help="Content-Type [default: guessed from the name].")
@click.option(
    "--multipart",
    type=click.Choice(["auto", "force", "off"]),
    default="auto",
    show_default=True,
    help="auto: the signer decides from the profile's threshold.",
)
@click.option("--key-base", help="Your id for {key_base} (ULID/UUID).")
@click.option(
    "--concurrency",
    type=click.IntRange(1, 32),
    default=4,
    show_default=True,
    help="Parts uploaded at once.",
)
@signer_url_option
@token_option
@progress_option
@json_option
def upload(
    file: Path,
    profile: str | None,
    content_type: str | None,
    multipart: str,
    key_base: str | None,
    concurrency: int,
    signer_url: str | None,
    token: str | None,
    progress: bool | None,
    as_json: bool,
) -> None:
    """Upload FILE through the signer, straight to storage; print the download URL.

    Presigns, PUTs the bytes to storage (in parallel parts when large, retrying a failed
    part and re-signing it when its URL expired), completes, and checks the stored size.
    """
    from signer import settings as signer_settings
    from signer.client import SignerClient, upload_file

    try:
        client = SignerClient(signer_settings.load_client(signer_url=signer_url, api_token=token))
        result = upload_file(
            client,
            file,
            content_type=content_type,
            profile=profile,
            multipart=multipart,
            key_base=key_base,
            concurrency=concurrency,
            progress=_progress(progress),
        )
    except StackError as exc:
        fail(exc, as_json)
    if as_json:
        click.echo(json.dumps({"ok": True, **result}))
    else:
        click.echo(
            f"uploaded {file} → {result['object_key']} ({result['size_bytes']} bytes)", err=True
        )
        click.echo(result["get_url"])


@click.command("download", context_settings=CONTEXT, epilog=EXIT_CODES_HELP)
@click.argument("key")
@click.option(
    "-o",
    "--output",
    metavar="PATH",
    help="Where to save ('-' for stdout) [default: the key's last segment, here].",
)
@click.option("--force", is_flag=True, help="Overwrite PATH if it exists.")
@signer_url_option
@token_option
@progress_option
@json_option
def download(
    key: str,
    output: str | None,
    force: bool,
    signer_url: str | None,
    token: str | None,
    progress: bool | None,
    as_json: bool,
) -> None:
    """Download object KEY through a URL the signer presigns."""
    from signer import settings as signer_settings
    from signer.client import SignerClient, download_file

    to_stdout = output == "-"
    destination = None if to_stdout else Path(output or key.rsplit("/", 1)[-1])
    try:
        if destination is not None and destination.exists() and not force:
            raise StackError(
                f"{destination} already exists", hint="pass --force to overwrite, or -o PATH"
            )
        client = SignerClient(signer_settings.load_client(signer_url=signer_url, api_token=token))
        result = download_file(
            client,
            key,
            destination,
            progress=_progress(progress),
            out=sys.stdout.buffer if to_stdout else None,
        )
    except StackError as exc:
        fail(exc, as_json)
    if as_json and not to_stdout:
        click.echo(json.dumps({"ok": True, **result}))
    else:
        click.echo(f"saved {key} to {result['path']} ({result['size_bytes']} bytes)", err=True)


# The root group (minio_stack/cli.py) adds every command listed here.
COMMANDS: list[click.Command] = [signer_group, presign, upload, download]

main = package_group(
    "signer", "The signer's commands alone: signer serve, presign, upload, download.", COMMANDS
)
