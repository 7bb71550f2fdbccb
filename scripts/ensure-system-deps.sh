#!/usr/bin/env bash
# Installs the system packages the full test suite needs (Chromium for the browser tests,
# a Docker engine and debootstrap for the deployment tests) when running as root and they
# are missing. Elsewhere it only says what is missing: those tests then skip, except under
# CI=true where they fail.
set -u
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
command -v docker-compose >/dev/null 2>&1 || missing+=(docker-compose)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing ${missing[*]} with apt-get"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null && apt-get install -y -q "${missing[@]}" >/dev/null
  status=$?
  [ $status -eq 0 ] || echo "apt-get could not install ${missing[*]}"
  [ "${CI:-}" = "true" ] && exit $status
  exit 0
fi
echo "not installed: ${missing[*]} (as root: apt-get install ${missing[*]}); the tests that need them will skip"
[ "${CI:-}" != "true" ]
