#!/usr/bin/env bash
# Installs a CheckpointCache node and its checkpoint mount on a VM run by systemd (docs/operations.md).
#
#   sudo deploy/install.sh                       # publish from this checkout, install, create user and folders
#   sudo deploy/install.sh --published DIR       # install an already published folder (node and mount in one)
#   DESTDIR=/tmp/root deploy/install.sh --published DIR --no-system   # stage into a folder (packaging, tests)
#
# Layout: PREFIX/releases/VERSION/ holds one published release; PREFIX/current points at the active one, so an
# upgrade installs next to the running release and switches the link (the previous one stays for a rollback).
# Settings live in /etc/checkpointcache/ and are never overwritten. Nothing is started: see the last lines.
set -euo pipefail

PREFIX=/opt/checkpointcache
PUBLISHED=""
SYSTEM=1
SELF_CONTAINED=0
usage() { sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; echo "options: --prefix DIR (default $PREFIX)  --published DIR  --self-contained  --no-system"; }
while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) PREFIX="$2"; shift 2 ;;
    --published) PUBLISHED="$(cd "$2" && pwd)"; shift 2 ;;
    --self-contained) SELF_CONTAINED=1; shift ;;
    --no-system) SYSTEM=0; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "install.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
  esac
done
repo="$(cd "$(dirname "$0")/.." && pwd)"
DESTDIR="${DESTDIR:-}"
root="${DESTDIR%/}"

# The unit files name these paths; a different prefix is written into the installed copies.
DATA=/var/lib/checkpointcache
MOUNT=/mnt/checkpoints
ETC=/etc/checkpointcache

# 1. Publish (framework-dependent by default: the VM needs the ASP.NET Core 10 runtime; --self-contained brings it).
version="$(git -C "$repo" describe --always --dirty 2>/dev/null || date -u +%Y%m%d%H%M%S)"
if [ -z "$PUBLISHED" ]; then
  PUBLISHED="$(mktemp -d)"
  trap 'rm -rf "$PUBLISHED"' EXIT
  extra=()
  if [ "$SELF_CONTAINED" = 1 ]; then extra=(-r linux-x64 --self-contained true); fi
  # Both into one folder: they share the framework and the client library.
  dotnet publish "$repo/rpc/CheckpointCache.Node" -c Release -o "$PUBLISHED" "${extra[@]}"
  dotnet publish "$repo/rpc/CheckpointCache.Mount" -c Release -o "$PUBLISHED" "${extra[@]}"
fi
for exe in checkpointcache checkpointcache-mount; do
  [ -x "$PUBLISHED/$exe" ] || { echo "install.sh: $PUBLISHED/$exe is missing or not executable" >&2; exit 1; }
done

# 2. The release, then the switch of PREFIX/current (rename over the old link: atomic).
release="$PREFIX/releases/$version"
install -d "$root$PREFIX/releases"
rm -rf "$root$release"
cp -a "$PUBLISHED" "$root$release"
# Readable by the service user whatever the publish folder's mode was (mktemp makes it 0700).
chmod -R u=rwX,go=rX "$root$release"
# The node reads appsettings.json beside its binary: point it at the one in /etc.
ln -sfn "$ETC/appsettings.json" "$root$release/appsettings.json"
ln -sfn "releases/$version" "$root$PREFIX/current.new"
mv -T "$root$PREFIX/current.new" "$root$PREFIX/current"
install -d "$root/usr/local/bin"
ln -sfn "$PREFIX/current/checkpointcache" "$root/usr/local/bin/checkpointcache"

# 3. Settings, kept across upgrades.
install -d "$root$ETC"
[ -e "$root$ETC/appsettings.json" ] || install -m 0644 "$repo/deploy/systemd/appsettings.json" "$root$ETC/appsettings.json"
[ -e "$root$ETC/checkpointcache.env" ] || printf '%s\n' \
  "# CCACHE_Section__Key=value lines override appsettings.json (docs/configuration.md), e.g." \
  "# CCACHE_Cluster__Enabled=true" "# CCACHE_Cluster__Etcd__Endpoints=https://etcd-0:2379" > "$root$ETC/checkpointcache.env"
[ -e "$root$ETC/checkpointcache-mount.env" ] || printf '%s\n' \
  "# CCACHE_Mount__Key=value lines (docs/configuration.md, Mount), e.g." "# CCACHE_Mount__Threads=16" > "$root$ETC/checkpointcache-mount.env"

# 4. Units, with the prefix written in when it is not the default.
install -d "$root/etc/systemd/system"
for unit in checkpointcache.service checkpointcache-mount.service; do
  sed "s#/opt/checkpointcache/#$PREFIX/#g" "$repo/deploy/systemd/$unit" > "$root/etc/systemd/system/$unit"
  chmod 0644 "$root/etc/systemd/system/$unit"
done

# 5. Folders; with --no-system (staging) nothing is owned, created as a user, or reloaded.
install -d "$root$DATA" "$root$MOUNT"
if [ "$SYSTEM" = 1 ]; then
  getent group checkpointcache >/dev/null || groupadd --system checkpointcache
  getent passwd checkpointcache >/dev/null || useradd --system --gid checkpointcache --home-dir "$DATA" --shell /usr/sbin/nologin checkpointcache
  chown checkpointcache:checkpointcache "$root$DATA" "$root$MOUNT"
  # Group members (operators) reach the node's socket for the CLI.
  chmod 0750 "$root$DATA"
  # The mount runs as checkpointcache and lets the training jobs' users in (Mount:AllowOther).
  if [ -f "$root/etc/fuse.conf" ] && ! grep -q '^user_allow_other' "$root/etc/fuse.conf"; then echo user_allow_other >> "$root/etc/fuse.conf"; fi
  if [ -z "$root" ] && command -v systemctl >/dev/null; then systemctl daemon-reload; fi
fi

echo "installed $version at $root$release ($root$PREFIX/current)"
echo "next: put the data directory ($DATA) on the local NVMe, edit $ETC/appsettings.json (budgets, cluster), then"
echo "  systemctl enable --now checkpointcache.service checkpointcache-mount.service"
echo "  checkpointcache status"
