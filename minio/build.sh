#!/usr/bin/env bash
# Build MinIO from the pinned Go module version into $GOBIN (default .cache/bin).
# Skips the build when the binary there was already built from the same pin, which
# `go version -m` reads from the binary itself (no stamp file to drift).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=pin.env
. "$here/pin.env"
gobin="${GOBIN:-$here/../.cache/bin}"
mkdir -p "$gobin"
gobin="$(cd "$gobin" && pwd)"
bin="$gobin/minio"

if [ -x "$bin" ]; then
  built="$(go version -m "$bin" 2>/dev/null | awk '$1 == "mod" && $2 == "'"$MINIO_MODULE"'" {print $3}')"
  # Built from the pin, and stamped with it (a binary from before the stamp says GOGET).
  if [ "$built" = "$MINIO_VERSION" ] && ! "$bin" --version 2>/dev/null | grep -q GOGET; then
    echo "minio: $bin is already $MINIO_VERSION" >&2
    exit 0
  fi
  echo "minio: $bin is ${built:-unknown}, want $MINIO_VERSION; rebuilding" >&2
fi

if ! command -v go >/dev/null 2>&1; then
  echo "minio: Go is not installed; install Go >= 1.25, a supported release (https://go.dev/doc/install) and retry" >&2
  exit 2
fi

echo "minio: building $MINIO_MODULE@$MINIO_VERSION (cold builds take several minutes)" >&2
start=$(date +%s)
# CGO off: a static binary, the same as MinIO's own release builds. -trimpath and the same
# -ldflags as minio/Dockerfile: the binary reports the pin, and the image build reuses this
# build's Go cache (identical flags give identical cache keys).
GOBIN="$gobin" CGO_ENABLED=0 go install -trimpath -ldflags "$("$here/ldflags.sh" "$MINIO_VERSION")" \
  "$MINIO_MODULE@$MINIO_VERSION"
echo "minio: built $bin in $(( $(date +%s) - start ))s" >&2
