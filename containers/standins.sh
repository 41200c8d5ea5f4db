#!/usr/bin/env bash
# Base images for the project's Dockerfiles on a machine that cannot pull them.
#
#   containers/standins.sh [--force]
#
# For each base image the Dockerfiles and compose files name (FROM ..., image: ...): skip it
# when the tag is already local (a real image or an earlier stand-in); else try to pull the real
# one; else build a stand-in from containers/standins/ and tag it with exactly that name:
#   debian:bookworm-slim       debootstrap --variant=minbase from the host's Debian mirror
#   python:X.Y-slim-bookworm   Debian's python3 (3.11) in a venv at /usr/local
#   golang:X.Y-bookworm        the newest goX.Y.N release (the host's own when X.Y matches)
#   nginx:X.Y-bookworm         Debian's nginx (1.22) with the official image's nginx user (101)
# Every stand-in trusts the host's extra CA certificates (/usr/local/share/ca-certificates) and
# carries the host's apt and pip settings (/etc/pip.conf: index, cert), the golang one its Go
# proxy settings. Stand-ins carry the label
# org.minio-stack.standin. --force rebuilds the stand-ins (never removes a real image).
# STANDINS_PULL=0 skips the pull attempt. Progress to stderr; the names ready, one a line, to stdout.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
here="$root/containers/standins"
work="${CONTAINERS_DIR:-$root/.cache/containers}/standins"
force=0
[ "${1:-}" = "--force" ] && force=1

log() { echo "standins: $*" >&2; }
eval "$("$root/containers/engine.sh")"
mkdir -p "$work"

# The names the project builds FROM or runs, as Docker would spell them in full.
wanted() {
  {
    sed -nE 's/^FROM +([^ ]+).*/\1/p' "$root"/*/Dockerfile
    sed -nE 's/^ *image: *"?([^ "]+)"?.*/\1/p' "$root"/docker-compose*.yaml
  } | grep -v '^minio-stack/' | sort -u
}
full() { case "$1" in */*) echo "$1" ;; *) echo "docker.io/library/$1" ;; esac; }
is_standin() { [ -n "$(podman image inspect --format '{{index .Labels "org.minio-stack.standin"}}' "$1" 2>/dev/null)" ]; }

# --- debian:bookworm-slim from debootstrap ------------------------------------------------------

# The host's Debian bookworm sources as one-line entries, e.g.
# "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian bookworm main".
host_debian_sources() {
  local f
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    grep -E '^deb +(\[[^]]*\] +)?[a-z]+://[^ ]+ +bookworm(-[a-z]+)? ' "$f" || true
  done
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    # deb822: one stanza per blank-line-separated paragraph.
    awk 'BEGIN { RS = ""; FS = "\n" }
      {
        types = uris = suites = comps = signed = ""; enabled = 1
        for (i = 1; i <= NF; i++) {
          if ($i ~ /^#/) continue
          split($i, kv, /: */); key = tolower(kv[1]); val = substr($i, index($i, ":") + 1)
          gsub(/^ +| +$/, "", val)
          if (key == "types") types = val; else if (key == "uris") uris = val
          else if (key == "suites") suites = val; else if (key == "components") comps = val
          else if (key == "signed-by") signed = val; else if (key == "enabled" && val == "no") enabled = 0
        }
        if (!enabled || types !~ /(^| )deb( |$)/) next
        n = split(suites, s, / +/); m = split(uris, u, / +/)
        for (j = 1; j <= m; j++) for (k = 1; k <= n; k++) if (s[k] ~ /^bookworm(-[a-z]+)?$/) {
          opt = (signed != "" && signed !~ /\n/) ? "[signed-by=" signed "] " : ""
          print "deb " opt u[j] " " s[k] " " comps
        }
      }' "$f"
  done
}

build_debian() {
  local name="$1" sources mirror rootfs
  sources="$(host_debian_sources)"
  mirror="$(awk '$NF != "" { for (i = 2; i <= NF; i++) if ($i == "bookworm") { print $(i - 1); exit } }' <<<"$sources")"
  if [ -z "$mirror" ]; then
    log "no Debian bookworm mirror in /etc/apt/sources.list or /etc/apt/sources.list.d/; cannot debootstrap $name"
    return 1
  fi
  rootfs="$work/rootfs-bookworm"
  rm -rf "$rootfs"
  mkdir -p "$work/debs"
  log "debootstrap --variant=minbase bookworm from $mirror (log: $work/debootstrap.log)"
  if ! debootstrap --variant=minbase --include=ca-certificates --cache-dir="$work/debs" \
      bookworm "$rootfs" "$mirror" >"$work/debootstrap.log" 2>&1; then
    tail -n 20 "$work/debootstrap.log" >&2
    return 1
  fi
  # apt inside the image uses the host's mirrors (security updates included) and its Acquire::
  # settings (proxies, snapshot validity), as the host's own apt does.
  printf '%s\n' "$sources" >"$rootfs/etc/apt/sources.list"
  local f
  for f in /etc/apt/apt.conf.d/*; do
    [ -f "$f" ] && grep -q 'Acquire::' "$f" && cp "$f" "$rootfs/etc/apt/apt.conf.d/"
  done
  # pip (in the python stand-in, or a venv FROM any of them) reaches the host's index.
  pip_conf >"$rootfs/etc/pip.conf"
  # HTTPS through the host's proxies needs the host's extra CAs.
  cp -a /usr/local/share/ca-certificates/. "$rootfs/usr/local/share/ca-certificates/" 2>/dev/null || true
  chroot "$rootfs" update-ca-certificates >>"$work/debootstrap.log" 2>&1
  # As the official slim image: no downloaded packages or lists kept, no docs installed later.
  cat >"$rootfs/etc/dpkg/dpkg.cfg.d/docker-slim" <<'CFG'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
CFG
  chroot "$rootfs" apt-get clean
  rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/log/*.log "$rootfs/etc/resolv.conf" \
    "$rootfs/etc/hostname"
  : >"$rootfs/etc/machine-id"
  tar --numeric-owner -C "$rootfs" -c . | podman import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'LABEL org.minio-stack.standin=debian' \
    --change 'CMD ["bash"]' --quiet - "$name" >/dev/null
  rm -rf "$rootfs"
}

# --- images FROM it -----------------------------------------------------------------------------

pip_conf() {
  # pip's own view of the host's settings (files and PIP_* variables), index settings only.
  local pip=(python3 -m pip)
  [ -x "$root/.venv/bin/pip" ] && pip=("$root/.venv/bin/pip")
  echo "# The host's pip index settings, carried over by containers/standins.sh."
  echo "[global]"
  echo "cert = /etc/ssl/certs/ca-certificates.crt"
  "${pip[@]}" config list 2>/dev/null | sed -nE \
    "s/^[^.]*\.(index-url|extra-index-url|trusted-host|timeout|default-timeout|retries|proxy)='(.*)'$/\1 = \2/p" \
    | sort -u -t= -k1,1
}

build_from() {  # kind name context [podman build args...]
  local kind="$1" name="$2" ctx="$3"
  shift 3
  cp "$here/$kind.Containerfile" "$ctx/Containerfile"
  if ! podman build --format docker --pull=never -t "$name" "$@" "$ctx" >"$work/$kind.log" 2>&1; then
    tail -n 30 "$work/$kind.log" >&2
    return 1
  fi
}

build_python() {
  local ctx="$work/ctx-python"
  rm -rf "$ctx" && mkdir -p "$ctx"
  build_from python "$1" "$ctx"
}

build_golang() {
  local name="$1" want toolchain host_version latest
  want="$(sed -nE 's/.*golang:([0-9]+\.[0-9]+).*/\1/p' <<<"$name")"
  if ! command -v go >/dev/null 2>&1; then
    log "no host Go toolchain to fetch Go $want with (install Debian's golang-go or go.dev's release)"
    return 1
  fi
  host_version="$(go env GOVERSION)"
  if [[ "$host_version" == "go$want" || "$host_version" == "go$want".* ]]; then
    toolchain="$(go env GOROOT)"
  else
    # The newest goX.Y.N the module proxy has, downloaded into the module cache by `go version`.
    latest="$(cd /tmp && go list -m -versions golang.org/toolchain | tr ' ' '\n' \
      | sed -nE "s/^v0\.0\.1-(go${want//./\\.}(\.[0-9]+)?)\.$(go env GOOS)-$(go env GOARCH)$/\1/p" \
      | sort -V | tail -n 1)"
    if [ -z "$latest" ]; then
      log "the Go module proxy lists no go$want release (go list -m -versions golang.org/toolchain)"
      return 1
    fi
    log "fetching $latest through the Go module proxy"
    (cd /tmp && GOTOOLCHAIN="$latest" go version >&2)
    toolchain="$(go env GOMODCACHE)/golang.org/toolchain@v0.0.1-$latest.$(go env GOOS)-$(go env GOARCH)"
  fi
  local ctx="$work/ctx-golang"
  rm -rf "$ctx" && mkdir -p "$ctx"
  build_from golang "$name" "$ctx" --volume "$toolchain:/toolchain:ro" \
    --build-arg GOLANG_VERSION="$("$toolchain/bin/go" env GOVERSION | sed 's/^go//')" \
    --build-arg GOPROXY="$(go env GOPROXY)" --build-arg GOSUMDB="$(go env GOSUMDB)" \
    --build-arg GOFLAGS="$(go env GOFLAGS)" --build-arg GONOSUMDB="$(go env GONOSUMDB)" \
    --build-arg GOPRIVATE="$(go env GOPRIVATE)" --build-arg GONOPROXY="$(go env GONOPROXY)"
}

build_nginx() {
  local ctx="$work/ctx-nginx"
  rm -rf "$ctx" && mkdir -p "$ctx"
  build_from nginx "$1" "$ctx"
}

kind_of() {
  case "$1" in
    docker.io/library/debian:bookworm-slim) echo debian ;;
    docker.io/library/python:*-slim-bookworm) echo python ;;
    docker.io/library/golang:*-bookworm) echo golang ;;
    docker.io/library/nginx:*-bookworm) echo nginx ;;
    *) echo "" ;;
  esac
}

ensure() {
  local name="$1" kind start
  if podman image exists "$name"; then
    if [ "$force" = 1 ] && is_standin "$name" && [ -z "${rebuilt[$name]:-}" ]; then
      podman untag "$name"
    else
      return 0
    fi
  fi
  if [ "${STANDINS_PULL:-1}" != 0 ] && [ "$force" = 0 ] \
      && timeout 600 podman pull --quiet "$name" >/dev/null 2>&1; then
    log "$name: pulled the real image"
    return 0
  fi
  kind="$(kind_of "$name")"
  if [ -z "$kind" ]; then
    log "$name: cannot be pulled and has no stand-in in containers/standins/"
    return 1
  fi
  [ "$kind" = debian ] || ensure docker.io/library/debian:bookworm-slim
  log "$name: building a stand-in ($kind)"
  start=$(date +%s)
  "build_$kind" "$name"
  log "$name: stand-in built in $(( $(date +%s) - start ))s"
  rebuilt[$name]=1
}

declare -A rebuilt=()
start=$(date +%s)
# The parent of the others first, so --force rebuilds it before they are built FROM it.
for name in docker.io/library/debian:bookworm-slim $(wanted); do
  name="$(full "$name")"
  ensure "$name"
  log "$name: $(podman image inspect --format '{{or (index .Labels "org.minio-stack.standin") "real image"}}' "$name" | sed 's/^[a-z]*$/stand-in (&)/')"
  echo "$name"
done | awk '!seen[$0]++'
log "done in $(( $(date +%s) - start ))s"
