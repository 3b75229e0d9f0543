#!/usr/bin/env bash
# Installs what the tests need on a fresh Debian machine, then runs every test suite.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(python3 python3-grpcio python3-protobuf protobuf-compiler-grpc libxxhash0 python3-numpy fuse3 libfuse3-3 fio rsync etcd-server etcd-client systemd)
missing=()
for p in "${APT_PACKAGES[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
# Node.js and npm run the Kubernetes manifest check; a machine may already have them from elsewhere.
command -v npm >/dev/null 2>&1 || missing+=(nodejs npm)
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
fi

# Azurite (Blob emulator) for the cloud-tier tests, from npm into a project-local ignored folder; the tests find it
# there (AZURITE_BLOB overrides). Needs node and npm (Debian's nodejs and npm).
AZURITE_VERSION=3.37.0
if [ ! -x .tools/azurite/node_modules/.bin/azurite-blob ] || ! grep -q "\"version\": \"$AZURITE_VERSION\"" .tools/azurite/node_modules/azurite/package.json 2>/dev/null; then
  if ! command -v npm >/dev/null; then
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq nodejs npm
  fi
  npm install --no-audit --no-fund --loglevel=error --prefix .tools/azurite "azurite@$AZURITE_VERSION"
fi
# The manifest validator (deploy/validate): pinned by its lock file, installed beside it (ignored by git).
npm ci --prefix deploy/validate --no-audit --no-fund --loglevel=error

dotnet restore CheckpointCache.sln
dotnet build CheckpointCache.sln -c Release --no-restore
# A hung test fails the run (with dumps) instead of hanging CI.
status=0
dotnet test CheckpointCache.sln -c Release --no-build --blame-hang-timeout 10m --logger "console;verbosity=normal" "$@" || status=$?

# The Python client's suite runs against the real node built above.
CHECKPOINTCACHE_REQUIRE_NODE=1 /usr/bin/python3 -m unittest discover -s rpc/python/tests -v || status=$?
exit $status
