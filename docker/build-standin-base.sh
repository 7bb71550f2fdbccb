#!/usr/bin/env bash
# Build a local stand-in for the python:3.11-slim base image from Debian packages.
#
# Use this when python:3.11-slim cannot be pulled (no Docker Hub access). The image
# is built with debootstrap (bookworm, minbase) from the apt mirror this host is
# already configured with, and is made to behave like python:3.11-slim for the
# Dockerfile in this repository:
#   * `python`, `python3`, `pip`, `pip3` on PATH are a Python 3.11 virtual
#     environment in /opt/python (Debian's own python3 refuses `pip install`
#     into the system interpreter, PEP 668; a venv sidesteps that cleanly);
#   * LANG=C.UTF-8, CMD ["python3"];
#   * the host's CA bundle is installed, so pip inside `docker build` can go
#     through a TLS-intercepting proxy (pass --build-arg PIP_CERT=/etc/ssl/certs/ca-certificates.crt
#     so pip uses it rather than its vendored certifi bundle).
#
# Idempotent: exits at once if the image already exists (use --force to rebuild).
# The pure debootstrap rootfs is cached as a tarball under $LENET_DOCKER_CACHE
# (default /var/cache/lenet-docker), so a rebuild only re-applies the cheap steps.
#
# Usage: docker/build-standin-base.sh [--force] [--print-image]
# Env:   STANDIN_IMAGE (default lenet-standin-python:3.11)
#        LENET_DOCKER_CACHE (default /var/cache/lenet-docker)
#        STANDIN_MIRROR (default: read from this host's apt sources at runtime)
#        HOST_CA_BUNDLE (default /etc/ssl/certs/ca-certificates.crt)
# Needs: root, debootstrap, a running Docker engine.
set -euo pipefail

IMAGE="${STANDIN_IMAGE:-lenet-standin-python:3.11}"
CACHE_DIR="${LENET_DOCKER_CACHE:-/var/cache/lenet-docker}"
SUITE=bookworm            # bookworm's python3 is 3.11, as in python:3.11-slim
VARIANT=minbase
INCLUDE="python3,python3-venv,ca-certificates"
HOST_CA_BUNDLE="${HOST_CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}"
VENV=/opt/python

force=0
for arg in "$@"; do
  case "$arg" in
    --force) force=1 ;;
    --print-image) echo "$IMAGE"; exit 0 ;;
    -h|--help) awk 'NR > 1 && !/^#/ { exit } NR > 1' "$0"; exit 0 ;;
    *) echo "unknown argument: $arg" >&2; exit 2 ;;
  esac
done

log() { echo "[standin] $*" >&2; }

if [[ $force -eq 0 ]] && docker image inspect "$IMAGE" >/dev/null 2>&1; then
  log "image $IMAGE already exists; nothing to do (--force to rebuild)"
  exit 0
fi

[[ $(id -u) -eq 0 ]] || { echo "must run as root (debootstrap, chroot)" >&2; exit 1; }
command -v debootstrap >/dev/null || { echo "debootstrap is not installed (apt-get install debootstrap)" >&2; exit 1; }

# --- the apt mirror this host uses (read at runtime; never stored in the repo) ---
find_mirror() {
  local f
  # deb822 sources: first stanza of Types: deb whose Suites contain exactly $SUITE
  for f in /etc/apt/sources.list.d/*.sources; do
    [[ -r $f ]] || continue
    awk -v suite="$SUITE" '
      function flush() { if (types ~ /(^|[ \t])deb([ \t]|$)/ && (" " suites " ") ~ (" " suite " ") && uris != "" && !done) { split(uris, u, /[ \t]+/); print u[1]; done = 1 } types = suites = uris = "" }
      /^[ \t]*$/ { flush(); next }
      /^[ \t]*#/ { next }
      tolower($1) == "types:"  { $1 = ""; types = $0 }
      tolower($1) == "suites:" { $1 = ""; gsub(/^[ \t]+/, ""); suites = $0 }
      tolower($1) == "uris:"   { $1 = ""; gsub(/^[ \t]+/, ""); uris = $0 }
      END { flush() }' "$f"
  done
  # one-line style: deb [options] URI suite components...
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [[ -r $f ]] || continue
    sed -E 's/\[[^]]*\]//' "$f" | awk -v suite="$SUITE" '$1 == "deb" && $3 == suite { print $2 }'
  done
}
MIRROR="${STANDIN_MIRROR:-$(find_mirror | head -n1)}"
if [[ -z $MIRROR ]]; then
  log "no apt mirror for $SUITE found in /etc/apt; letting debootstrap use its default"
fi

# --- cached debootstrap rootfs ---------------------------------------------------
mkdir -p "$CACHE_DIR"
key=$(printf '%s|%s|%s' "$SUITE" "$VARIANT" "$INCLUDE" | sha256sum | cut -c1-12)
ROOTFS_TAR="$CACHE_DIR/rootfs-$SUITE-$VARIANT-$key.tar.gz"

WORK=$(mktemp -d /var/tmp/lenet-standin.XXXXXX)
ROOTFS="$WORK/rootfs"
cleanup() {
  local m
  for m in "$ROOTFS/proc" "$ROOTFS/dev"; do
    mountpoint -q "$m" 2>/dev/null && umount -l "$m" || true
  done
  rm -rf --one-file-system "$WORK"
}
trap cleanup EXIT

if [[ -s $ROOTFS_TAR ]]; then
  log "using cached rootfs $ROOTFS_TAR"
  mkdir -p "$ROOTFS"
  tar -xpzf "$ROOTFS_TAR" -C "$ROOTFS" --numeric-owner
else
  log "debootstrap $SUITE ($VARIANT) from ${MIRROR:-debootstrap default} ..."
  debootstrap --variant="$VARIANT" --include="$INCLUDE" "$SUITE" "$ROOTFS" ${MIRROR:+"$MIRROR"} \
    >"$WORK/debootstrap.log" 2>&1 || { tail -n 40 "$WORK/debootstrap.log" >&2; exit 1; }
  # drop what a container never needs before caching
  rm -rf "$ROOTFS"/var/cache/apt/archives/*.deb "$ROOTFS"/var/lib/apt/lists/* \
         "$ROOTFS"/var/log/* "$ROOTFS"/usr/share/doc/* "$ROOTFS"/usr/share/man/* \
         "$ROOTFS"/usr/share/info/* "$ROOTFS"/debootstrap
  tar -cpzf "$ROOTFS_TAR.tmp" -C "$ROOTFS" --numeric-owner . && mv "$ROOTFS_TAR.tmp" "$ROOTFS_TAR"
  log "cached rootfs at $ROOTFS_TAR"
fi

# --- host-specific customisation (cheap, redone on every build) -------------------
# 1. CA bundle: the host's bundle (it carries any TLS-proxy CA), plus the host's local
#    CA files so that a later update-ca-certificates inside the image keeps them.
if [[ -r $HOST_CA_BUNDLE ]]; then
  install -m 0644 "$HOST_CA_BUNDLE" "$ROOTFS/etc/ssl/certs/ca-certificates.crt"
fi
if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
  mkdir -p "$ROOTFS/usr/local/share/ca-certificates"
  cp /usr/local/share/ca-certificates/*.crt "$ROOTFS/usr/local/share/ca-certificates/"
fi

# 2. apt inside the image uses the same sources as the host (copied, not stored in git).
if compgen -G "/etc/apt/sources.list.d/*.sources" >/dev/null; then
  cp /etc/apt/sources.list.d/*.sources "$ROOTFS/etc/apt/sources.list.d/"
  rm -f "$ROOTFS/etc/apt/sources.list"
fi
grep -rhs '^[[:space:]]*Acquire::Check-\(Valid-Until\|Date\)' /etc/apt/apt.conf.d/ \
  >"$ROOTFS/etc/apt/apt.conf.d/99lenet-standin" || rm -f "$ROOTFS/etc/apt/apt.conf.d/99lenet-standin"

# 3. python:3.11-slim look-alike: a venv whose python/pip come first on PATH.
mount -t proc proc "$ROOTFS/proc"
mount --bind /dev "$ROOTFS/dev"
chroot "$ROOTFS" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 \
  /usr/bin/python3 -m venv "$VENV"
chroot "$ROOTFS" "$VENV/bin/python" -c 'import sys, ssl, venv; assert sys.version_info[:2] == (3, 11), sys.version'
umount -l "$ROOTFS/dev" "$ROOTFS/proc"
find "$ROOTFS$VENV" -name __pycache__ -prune -exec rm -rf {} +

old_id=$(docker image inspect -f '{{.Id}}' "$IMAGE" 2>/dev/null || true)
log "importing rootfs as $IMAGE ..."
tar -cp -C "$ROOTFS" --numeric-owner . | docker import \
  --change "ENV PATH=$VENV/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
  --change "ENV VIRTUAL_ENV=$VENV" \
  --change 'ENV LANG=C.UTF-8' \
  --change 'ENV PYTHON_VERSION=3.11' \
  --change 'CMD ["python3"]' \
  --message "stand-in for python:3.11-slim: debootstrap $SUITE $VARIANT + $INCLUDE" \
  - "$IMAGE" >/dev/null

docker run --rm --network none "$IMAGE" sh -c 'python --version && pip --version' >&2
if [[ -n $old_id && $old_id != $(docker image inspect -f '{{.Id}}' "$IMAGE") ]]; then
  docker image rm "$old_id" >/dev/null 2>&1 || true   # the replaced stand-in, unless in use
fi
log "done: $IMAGE"
