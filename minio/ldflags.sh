#!/usr/bin/env bash
# Print the -ldflags that make a MinIO binary report the version it was built from.
#
#   minio/ldflags.sh v0.0.0-20260212201848-7aac2a2c5b7c
#
# A plain `go install` reports DEVELOPMENT.GOGET; MinIO's own build (buildscripts/
# gen-ldflags.go) stamps the commit's time and id. A pseudo-version pin
# (v0.0.0-<yyyymmddhhmmss>-<commit>) carries both, so it reports DEVELOPMENT.<time> and the
# commit, as MinIO does for a commit that is not a release; any other version (a release tag,
# a fork's ref) is reported as itself. Used by minio/build.sh and minio/Dockerfile alike, so
# the binary you test reports what the binary you ship reports.
set -euo pipefail
version="${1:?usage: minio/ldflags.sh VERSION}"
cmd=github.com/minio/minio/cmd
flags="-s -w"
if [[ "$version" =~ ([0-9]{4})([0-9]{2})([0-9]{2})([0-9]{2})([0-9]{2})([0-9]{2})-([0-9a-f]{12})$ ]]; then
  m=("${BASH_REMATCH[@]}")
  when="${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}Z"
  flags+=" -X $cmd.Version=$when -X $cmd.ReleaseTag=DEVELOPMENT.${when//:/-}"
  flags+=" -X $cmd.CommitID=${m[7]} -X $cmd.ShortCommitID=${m[7]} -X $cmd.CopyrightYear=${m[1]}"
else
  flags+=" -X $cmd.ReleaseTag=$version -X $cmd.CommitID=$version"
fi
echo "$flags"
