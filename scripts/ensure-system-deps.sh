#!/usr/bin/env bash
# Installs what the full test suite needs beyond Python: the system packages (Chromium for the
# browser tests, a Docker engine and debootstrap for the deployment tests, npm for axe-core)
# when running as root and they are missing, then axe-core (pinned in package.json and
# package-lock.json) into node_modules/ with `npm ci`. Elsewhere it only says what is missing:
# those tests then skip, except under CI=true where they fail.
set -u
cd "$(dirname "$0")/.."
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
command -v docker-compose >/dev/null 2>&1 || missing+=(docker-compose)
command -v npm >/dev/null 2>&1 || missing+=(npm)
status=0
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing ${missing[*]} with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >/dev/null && apt-get install -y -q "${missing[@]}" >/dev/null
    status=$?
    [ $status -eq 0 ] || echo "apt-get could not install ${missing[*]}"
  else
    echo "not installed: ${missing[*]} (as root: apt-get install ${missing[*]}); the tests that need them will skip"
    status=1
  fi
fi
# axe-core for tests/test_a11y.py: the exact version and checksum in package-lock.json.
wanted=$(sed -n 's/.*"axe-core": "\(.*\)".*/\1/p' package.json)
have=$(sed -n 's/.*"version": "\(.*\)".*/\1/p' node_modules/axe-core/package.json 2>/dev/null | head -1)
if [ "$have" != "$wanted" ]; then
  if command -v npm >/dev/null 2>&1; then
    echo "installing axe-core $wanted into node_modules/ (npm ci)"
    npm ci --no-audit --no-fund --ignore-scripts --loglevel=error >/dev/null
    npm_status=$?
    [ $npm_status -eq 0 ] || { echo "npm ci could not install axe-core $wanted"; status=$npm_status; }
  else
    echo "not installed: axe-core $wanted (needs npm); the accessibility tests will skip"
    status=1
  fi
fi
[ "${CI:-}" = "true" ] && exit $status
exit 0
