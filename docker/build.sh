#!/usr/bin/env bash
# Build the lenet5-app image end to end, also on machines without Docker Hub access.
#
#   1. make sure a Docker engine answers (starts dockerd in the background if needed);
#   2. base image: $BASE if set, else python:3.11-slim if present or pullable, else the
#      stand-in from docker/build-standin-base.sh (debootstrap, Debian packages);
#   3. stage a build context in a temporary folder (the files the Dockerfile copies,
#      filtered like .dockerignore) plus wheels/ holding the CPU torch wheel when pip's
#      configured find-links already have it; the repository itself is never written to;
#   4. pass this host's pip settings (index URLs, trusted hosts, CA bundle) as build
#      args, read at runtime and never stored in the repository;
#   5. docker build --network host -t $TAG, then remove the staging folder.
#
# Usage: docker/build.sh [-t TAG] [--stub-app] [--no-wheels] [--print-base] [--ensure-engine]
#                       [--balancer]
#   --stub-app   use a trivial app.py (and empty lenet/ pages/ models/ .streamlit/) where
#                the repository lacks them: tests the base image and pipeline only
#   --no-wheels  do not stage local wheels (pip then needs TORCH_INDEX to be reachable)
#   --print-base only work out the base image (building the stand-in if needed), print it
#   --ensure-engine  only make sure a Docker engine answers (step 1), then exit
#   --balancer   build the load balancer image instead (docker/nginx.Dockerfile, Debian's
#                nginx on the same base; default tag lenet5-balancer): steps 1, 2 and 5 only
# Env:   TAG (default lenet5-app), BASE, TORCH_INDEX (passed on if set; set to empty when
#        a local torch wheel is staged), STANDIN_IMAGE, DOCKER_BUILD_ARGS (extra args)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
TAG="${TAG:-}"
UPSTREAM_BASE=python:3.11-slim
stub=0; wheels=1; print_base=0; engine_only=0; balancer=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    -t|--tag) TAG="$2"; shift 2 ;;
    --stub-app) stub=1; shift ;;
    --no-wheels) wheels=0; shift ;;
    --print-base) print_base=1; shift ;;
    --ensure-engine) engine_only=1; shift ;;
    --balancer) balancer=1; shift ;;
    -h|--help) awk 'NR > 1 && !/^#/ { exit } NR > 1' "$0"; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
log() { echo "[build] $*" >&2; }
if [[ -z $TAG ]]; then
  if [[ $balancer -eq 1 ]]; then TAG=lenet5-balancer; else TAG=lenet5-app; fi
fi

# --- 1. Docker engine ----------------------------------------------------------------
if ! docker info >/dev/null 2>&1; then
  dockerd_bin=$(command -v dockerd || true)
  if [[ -n ${DOCKER_HOST:-} || -z $dockerd_bin || $(id -u) -ne 0 ]]; then
    echo "no Docker engine answers${DOCKER_HOST:+ at $DOCKER_HOST}, and this script starts a local dockerd only as root without DOCKER_HOST" >&2
    exit 1
  fi
  if pgrep -x dockerd >/dev/null 2>&1; then
    log "dockerd is running but not answering yet; waiting"
  else
    log "starting $dockerd_bin in the background (log: /var/log/lenet-dockerd.log)"
    nohup "$dockerd_bin" >/var/log/lenet-dockerd.log 2>&1 &
  fi
  for _ in $(seq 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
  docker info >/dev/null 2>&1 || { tail -n 20 /var/log/lenet-dockerd.log >&2; exit 1; }
fi
[[ $engine_only -eq 1 ]] && exit 0

# --- 2. base image -------------------------------------------------------------------
if [[ -z ${BASE:-} ]]; then
  if docker image inspect "$UPSTREAM_BASE" >/dev/null 2>&1 \
     || timeout 120 docker pull -q "$UPSTREAM_BASE" >/dev/null 2>&1; then
    BASE=$UPSTREAM_BASE
  else
    log "cannot pull $UPSTREAM_BASE; using the Debian stand-in"
    "$HERE/build-standin-base.sh"
    BASE=$("$HERE/build-standin-base.sh" --print-image)
  fi
fi
log "base image: $BASE"
if [[ $print_base -eq 1 ]]; then echo "$BASE"; exit 0; fi

if [[ $balancer -eq 1 ]]; then
  # context docker/: only nginx.conf is copied; apt inside the build uses the base's
  # sources (the host's mirror in the stand-in), hence the host network as below
  log "docker build -t $TAG -f docker/nginx.Dockerfile"
  start=$(date +%s)
  # shellcheck disable=SC2086  # DOCKER_BUILD_ARGS is split on purpose
  docker build --network host --build-arg "BASE=$BASE" ${DOCKER_BUILD_ARGS:-} \
    -f "$HERE/nginx.Dockerfile" -t "$TAG" "$HERE"
  log "built $TAG in $(( $(date +%s) - start )) s; size $(docker image inspect -f '{{.Size}}' "$TAG" | awk '{printf "%.0f MB", $1/1e6}')"
  exit 0
fi

# --- 3. staging context --------------------------------------------------------------
CTX=$(mktemp -d "${TMPDIR:-/tmp}/lenet-docker-ctx.XXXXXX")
trap 'rm -rf "$CTX"' EXIT
# the same exclusions as .dockerignore (the context is an allow-list of these paths)
(cd "$REPO" && tar -c --exclude='__pycache__' --exclude='*.py[cod]' --exclude='.pytest_cache' \
   --exclude='.ruff_cache' --exclude='.ipynb_checkpoints' --exclude='*.resume.safetensors' \
   --exclude='*.tmp' --exclude='.DS_Store' --ignore-failed-read \
   $(for p in Dockerfile .dockerignore requirements.txt app.py lenet pages models .streamlit; do
       [[ -e $p ]] && echo "$p"; done)) | tar -x -C "$CTX"
for p in Dockerfile requirements.txt; do
  [[ -e $CTX/$p ]] || { echo "missing $REPO/$p" >&2; exit 1; }
done
# the MNIST files for the training page: the repository's, else fetched here (the host has
# the npm fallback the build may lack); the image's build checks them against their SHA-256
mkdir -p "$CTX/data/mnist"
cp "$REPO"/data/mnist/*-ubyte "$CTX/data/mnist/" 2>/dev/null \
  || (cd "$REPO" && "${PYTHON:-python3}" -m lenet.data download --root "$CTX/data/mnist" --quiet) \
  || log "no MNIST files staged: the build will try the mirrors itself"
missing=()
for p in app.py lenet pages models .streamlit; do [[ -e $CTX/$p ]] || missing+=("$p"); done
if [[ ${#missing[@]} -gt 0 ]]; then
  [[ $stub -eq 1 ]] || { echo "missing in $REPO: ${missing[*]} (use --stub-app to test the pipeline only)" >&2; exit 1; }
  log "stub mode: standing in for ${missing[*]}"
  mkdir -p "$CTX/lenet" "$CTX/pages" "$CTX/models" "$CTX/.streamlit"
  [[ -e $CTX/app.py ]] || cat >"$CTX/app.py" <<'PY'
import streamlit as st
import torch

st.title("LeNet-5 (stub app: the real app.py is not written yet)")
st.write(f"torch {torch.__version__}")
PY
fi

# --- 4. local wheels and pip settings from this host ---------------------------------
pip_cmd=()
if command -v pip >/dev/null 2>&1; then pip_cmd=(pip); elif command -v python3 >/dev/null 2>&1; then pip_cmd=(python3 -m pip); fi
pip_conf() {  # last value wins: pip config list prints files in precedence order, env last
  [[ ${#pip_cmd[@]} -gt 0 ]] || return 0
  "${pip_cmd[@]}" config list 2>/dev/null | sed -nE "s/^[^.]*\.$1='(.*)'$/\1/p" | tail -n1
}
build_args=(--build-arg "BASE=$BASE")

if [[ $wheels -eq 1 ]]; then
  torch_ver=$(sed -nE 's/^torch==([^ ;#]+).*/\1/p' "$CTX/requirements.txt" | head -n1)
  links="${PIP_FIND_LINKS:-} $(pip_conf find-links)"
  found=""
  for d in $links; do
    d=${d#file://}
    [[ -d $d && -n $torch_ver ]] || continue
    found=$(ls "$d"/torch-"$torch_ver"+cpu-cp311-cp311-*linux*x86_64.whl 2>/dev/null | head -n1 || true)
    [[ -n $found ]] && break
  done
  if [[ -n $found ]]; then
    mkdir -p "$CTX/wheels"
    cp -l "$found" "$CTX/wheels/" 2>/dev/null || cp "$found" "$CTX/wheels/"
    log "staged $(basename "$found")"
    # the wheel satisfies torch==$torch_ver; do not wait on an index that may be unreachable
    TORCH_INDEX="${TORCH_INDEX-}"
  else
    log "no local torch $torch_ver CPU wheel in pip's find-links; pip will use TORCH_INDEX"
  fi
fi
[[ -n ${TORCH_INDEX+x} ]] && build_args+=(--build-arg "TORCH_INDEX=$TORCH_INDEX")

index_url="${PIP_INDEX_URL:-$(pip_conf index-url)}"
[[ -n $index_url && $index_url != file://* ]] && build_args+=(--build-arg "PIP_INDEX_URL=$index_url")
extra=""
for u in ${PIP_EXTRA_INDEX_URL:-$(pip_conf extra-index-url)}; do
  [[ $u == file://* ]] || extra="$extra $u"   # local file indexes do not exist in the build
done
[[ -n ${extra# } ]] && build_args+=(--build-arg "PIP_EXTRA_INDEX_URL=${extra# }")
trusted="${PIP_TRUSTED_HOST:-$(pip_conf trusted-host)}"
[[ -n $trusted ]] && build_args+=(--build-arg "PIP_TRUSTED_HOST=$trusted")
cert="${PIP_CERT:-$(pip_conf cert)}"
if [[ -n $cert && -r $cert ]]; then
  # ship the CA bundle with the wheels: it works with any base, and the deps stage
  # that sees it is not part of the final image
  mkdir -p "$CTX/wheels"
  cp "$cert" "$CTX/wheels/pip-ca-bundle.crt"
  build_args+=(--build-arg "PIP_CERT=/wheels/pip-ca-bundle.crt")
fi

# --- 5. build --------------------------------------------------------------------------
# shellcheck disable=SC2086  # DOCKER_BUILD_ARGS is split on purpose
log "docker build -t $TAG (context $(du -sh "$CTX" | cut -f1))"
start=$(date +%s)
docker build --network host "${build_args[@]}" ${DOCKER_BUILD_ARGS:-} -t "$TAG" "$CTX"
log "built $TAG in $(( $(date +%s) - start )) s; size $(docker image inspect -f '{{.Size}}' "$TAG" | awk '{printf "%.0f MB", $1/1e6}')"
