#!/usr/bin/env bash
# The Debian packages `make test` needs beyond Python and Go, installed when missing:
#   nginx                      the console proxy and the distributed-MinIO balancer
#   chromium, chromium-driver  the browser tests (demo page, Uppy)
#   wrk                        the HTTP load generator of the benchmark tests
#   nodejs, npm                Uppy and esbuild for the Uppy browser test (if node is absent)
# The container engine (podman, runc, ...) is containers/engine.sh's job.
#
# Installs with apt-get when run as root or with passwordless sudo; otherwise exits 2 naming the
# exact command, so no capability is skipped silently. Idempotent: prints nothing when all is there.
set -euo pipefail

need=()
have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || [ -x "/usr/bin/$1" ]; }
have nginx || need+=(nginx)
have chromium || need+=(chromium)
have chromedriver || need+=(chromium-driver)
have wrk || need+=(wrk)
have node || need+=(nodejs)
have npm || need+=(npm)
[ "${#need[@]}" -eq 0 ] && exit 0

install=(apt-get install -y -qq --no-install-recommends "${need[@]}")
if [ "$(id -u)" -eq 0 ]; then
  sudo_cmd=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  sudo_cmd=(sudo)
else
  echo "system-packages: missing ${need[*]}; install them with:" >&2
  echo "  sudo apt-get update && sudo ${install[*]}" >&2
  exit 2
fi
command -v apt-get >/dev/null 2>&1 || {
  echo "system-packages: missing ${need[*]} and no apt-get here; install them with your package manager" >&2
  exit 2
}
echo "system-packages: installing ${need[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq >&2
"${sudo_cmd[@]}" "${install[@]}" >/dev/null
