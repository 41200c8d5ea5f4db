#!/usr/bin/env bash
# Set up a container engine for the container tests: Debian's podman with runc, configured by
# project-local files under .cache/containers/ (nothing under /etc is changed). Idempotent.
#
#   eval "$(containers/engine.sh)"     # installs what is missing, prints the env, checks podman
#
# stdout: `export NAME=value` lines only (the env every podman/buildah call here needs);
# stderr: progress and errors. Exit 0 when `podman info` answers with runc, 2 when a package is
# missing and cannot be installed (the exact command is named), 1 when the engine fails.
#
# Why each setting (measured on Debian bookworm machines without systemd or a registry):
# - runtime runc: crun fails here ("cgroups in hybrid mode not supported").
# - cgroup_manager cgroupfs: no systemd to ask for cgroups.
# - default_ulimits: no CAP_SYS_RESOURCE, so podman cannot raise limits above the host's.
# - netavark + a project-local network_config_dir: networks the tests create stay out of /etc.
# - events_logger/log_driver file: there is no journald to log to; `podman logs` reads the file.
# - BUILDAH_FORMAT=docker: the OCI image format silently drops SHELL and HEALTHCHECK.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
dir="${CONTAINERS_DIR:-$root/.cache/containers}"
# iptables: netavark sets up container networks with it (without it every `podman run` fails
# with "netavark: No such file or directory"); Debian's netavark does not depend on it.
packages=(podman buildah runc conmon debootstrap aardvark-dns netavark iptables slirp4netns
  fuse-overlayfs uidmap)

log() { echo "engine: $*" >&2; }

missing=()
for pkg in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
  install=(apt-get install -y -qq --no-install-recommends "${missing[@]}")
  if [ "$(id -u)" -eq 0 ]; then
    sudo_cmd=()
  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    sudo_cmd=(sudo)
  else
    log "missing Debian packages: ${missing[*]}; install them with:"
    log "  sudo apt-get update && sudo ${install[*]}"
    exit 2
  fi
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get update -qq >&2
  "${sudo_cmd[@]}" "${install[@]}" >&2
fi

mkdir -p "$dir/networks"
conf="$dir/containers.conf"
registries="$dir/registries.conf"
new_conf="$(cat <<CONF
# Written by containers/engine.sh; read by podman through CONTAINERS_CONF (see that script).
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
log_driver = "k8s-file"

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"

[network]
network_backend = "netavark"
network_config_dir = "$dir/networks"
CONF
)"
# Short names (FROM python:...) mean Docker Hub's, as Docker resolves them; with --pull=never
# nothing is fetched, so this only decides which local tag a short name matches.
new_registries="$(cat <<CONF
# Written by containers/engine.sh; read by podman through CONTAINERS_REGISTRIES_CONF.
unqualified-search-registries = ["docker.io"]
short-name-mode = "permissive"
CONF
)"
# Rewrite only on change, so a running `podman system service` sees a stable file.
[ -f "$conf" ] && [ "$(cat "$conf")" = "$new_conf" ] || printf '%s\n' "$new_conf" >"$conf"
[ -f "$registries" ] && [ "$(cat "$registries")" = "$new_registries" ] \
  || printf '%s\n' "$new_registries" >"$registries"

export CONTAINERS_CONF="$conf" CONTAINERS_REGISTRIES_CONF="$registries" BUILDAH_FORMAT=docker
if ! info="$(podman info --format '{{.Host.OCIRuntime.Name}} {{.Host.NetworkBackend}} {{.Host.CgroupManager}}' 2>&1)"; then
  log "podman info failed: $info"
  exit 1
fi
read -r runtime backend cgroups <<<"$(tail -n 1 <<<"$info")"
if [ "$runtime" != runc ] || [ "$backend" != netavark ] || [ "$cgroups" != cgroupfs ]; then
  log "podman uses runtime=$runtime network=$backend cgroups=$cgroups, want runc/netavark/cgroupfs"
  exit 1
fi
log "podman $(podman version --format '{{.Client.Version}}') ready (runc, netavark, cgroupfs)"
printf 'export CONTAINERS_CONF=%q\n' "$conf"
printf 'export CONTAINERS_REGISTRIES_CONF=%q\n' "$registries"
printf 'export BUILDAH_FORMAT=docker\n'
