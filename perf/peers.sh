#!/usr/bin/env bash
# The peers of the `peers` perf scenario: install them, start one on 127.0.0.1 with its own port and
# folder, stop it by process id. The scenario calls `start` and `stop`; people call `install`, `quick`
# and `full`.
#
#   perf/peers.sh install                       apt-get redis-server memcached python3-matplotlib;
#                                               garnet-server 2.2.8 into perf/results/tmp/tools
#   perf/peers.sh start NAME DIR RAM DATA [ARGS...]
#                                               NAME: node | garnet | memcached | redis. DIR: its own folder
#                                               (emptied). RAM: its RAM budget in MiB. DATA: the working set in
#                                               MiB (sizes the SSD file; Redis gets room for all of it).
#                                               ARGS are appended to the server's command line.
#                                               Prints "pid=N port=P endpoint=E"; the pid is kept in DIR/NAME.pid.
#   perf/peers.sh stop NAME DIR                 SIGTERM to the pid in DIR/NAME.pid, SIGKILL after 20 s
#   perf/peers.sh quick [OPTIONS]               install if missing, build, run the quick profile
#   perf/peers.sh full  [OPTIONS]               the same with the full matrix
#
# PEERS_NODE_ENV="NAME=VALUE ..." sets environment variables for the node alone (runtime knobs for A/B runs).
# Ports (below the ephemeral range; override with the environment): PEERS_NODE_PORT 17450, PEERS_GARNET_PORT 17430,
# PEERS_MEMCACHED_PORT 17440, PEERS_REDIS_PORT 17420.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
TOOLS="$ROOT/perf/results/tmp/tools"
GARNET_VERSION=2.2.8
NODE_DLL="$ROOT/rpc/CheckpointCache.Node/bin/Release/net10.0/checkpointcache.dll"

NODE_PORT=${PEERS_NODE_PORT:-17450}
GARNET_PORT=${PEERS_GARNET_PORT:-17430}
MEMCACHED_PORT=${PEERS_MEMCACHED_PORT:-17440}
REDIS_PORT=${PEERS_REDIS_PORT:-17420}

die() { echo "peers.sh: $*" >&2; exit 2; }

installed() {
  command -v redis-server >/dev/null && command -v memcached >/dev/null && [ -x "$TOOLS/garnet-server" ] &&
    /usr/bin/python3 -c 'import matplotlib' 2>/dev/null
}

install() {
  if ! command -v redis-server >/dev/null || ! command -v memcached >/dev/null || ! /usr/bin/python3 -c 'import matplotlib' 2>/dev/null; then
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q redis-server memcached python3-matplotlib
    # Debian's packages may start their own daemons where an init system runs; the scenario starts its own.
    for s in redis-server memcached; do
      if command -v service >/dev/null; then service "$s" stop >/dev/null 2>&1 || true; fi
    done
  fi
  if [ ! -x "$TOOLS/garnet-server" ]; then
    mkdir -p "$TOOLS"
    dotnet tool install garnet-server --version "$GARNET_VERSION" --tool-path "$TOOLS"
  fi
  echo "redis:     $(redis-server --version | awk '{print $3}')"
  echo "memcached: $(memcached -V)"
  echo "garnet:    garnet-server $GARNET_VERSION in perf/results/tmp/tools"
}

# Waits until 127.0.0.1:$1 accepts a connection (and, if given, Unix socket $2 exists) while $3 lives.
wait_ready() {
  local port=$1 sock=$2 pid=$3 log=$4
  for _ in $(seq 1 600); do
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "peers.sh: server exited during start; its log:" >&2
      tail -n 30 "$log" >&2 || true
      exit 1
    fi
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && { [ -z "$sock" ] || [ -S "$sock" ]; }; then
      return 0
    fi
    sleep 0.1
  done
  die "server did not listen on port $port within 60 s (log: $log)"
}

start() {
  [ $# -ge 4 ] || die "usage: start NAME DIR RAM_MIB DATA_MIB [ARGS...]"
  local name=$1 dir=$2 ram=$3 data=$4
  shift 4
  local port sock="" endpoint
  case "$name" in
    node) port=$NODE_PORT ;;
    garnet) port=$GARNET_PORT ;;
    memcached) port=$MEMCACHED_PORT ;;
    redis) port=$REDIS_PORT ;;
    *) die "unknown server '$name' (node, garnet, memcached, redis)" ;;
  esac
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    die "port $port is in use (another run, or a server left over); set PEERS_${name^^}_PORT"
  fi
  rm -rf "$dir"
  mkdir -p "$dir"
  local log="$dir/$name.log"
  case "$name" in
    node)
      [ -f "$NODE_DLL" ] || die "build the node first: dotnet build -c Release rpc/CheckpointCache.Node"
      sock="$dir/node.sock"
      endpoint="unix:$sock http://127.0.0.1:$port"
      # Only the kv store (configuring one replaces both defaults); SSD room for the working set many
      # times over, so the log's growth under writes never evicts live keys during a run.
      local ssd=$((data * 8 + 4096))
      # shellcheck disable=SC2086 # PEERS_NODE_ENV is a list of NAME=VALUE words for the node only
      env ${PEERS_NODE_ENV:-} nohup dotnet "$NODE_DLL" serve \
        "--Engine:DataDirectory=$dir/data" \
        --Engine:Namespaces:kv:Kind=Kv \
        "--Engine:Namespaces:kv:RamBytes=${ram}MiB" \
        "--Engine:Namespaces:kv:SsdBytes=${ssd}MiB" \
        "--Node:UnixSocketPath=$sock" \
        --Node:TcpAddress=127.0.0.1 "--Node:TcpPort=$port" \
        --Node:MetricsAddress= \
        --Logging:LogLevel:Default=Warning \
        "$@" >"$log" 2>&1 &
      ;;
    garnet)
      [ -x "$TOOLS/garnet-server" ] || die "run perf/peers.sh install first"
      endpoint="127.0.0.1:$port"
      # Tiered: main-log memory (inline and heap) is the RAM budget, the rest spills to --logdir.
      # --device-type RandomAccess: the default native device aborts on Debian 12 (needs glibc 2.38).
      nohup "$TOOLS/garnet-server" --bind 127.0.0.1 --port "$port" \
        --memory "${ram}m" --page 32m --segment 1g --index 64m --no-pubsub \
        --storage-tier --device-type RandomAccess --logdir "$dir/log" --checkpointdir "$dir/checkpoints" \
        "$@" >"$log" 2>&1 &
      ;;
    memcached)
      endpoint="127.0.0.1:$port"
      # extstore is -o ext_path=FILE:SIZE (-e is the restartable memory file). Items up to 8 MiB.
      nohup memcached -u root -l 127.0.0.1 -p "$port" -U 0 -t 2 -c 4096 -I 8m -m "$ram" \
        -o "ext_path=$dir/extstore:$((data * 2 + 1024))m,ext_wbuf_size=8" \
        "$@" >"$log" 2>&1 &
      ;;
    redis)
      endpoint="127.0.0.1:$port"
      # RAM only and no persistence: its best case. maxmemory holds the whole working set with room.
      nohup redis-server --bind 127.0.0.1 --port "$port" --dir "$dir" --save "" --appendonly no \
        --maxmemory "$((data * 2 + 1024))mb" --maxmemory-policy noeviction \
        "$@" >"$log" 2>&1 &
      ;;
    *) die "unknown server '$name' (node, garnet, memcached, redis)" ;;
  esac
  local pid=$!
  echo "$pid" >"$dir/$name.pid"
  wait_ready "$port" "$sock" "$pid" "$log"
  echo "pid=$pid port=$port endpoint=$endpoint"
}

stop() {
  [ $# -eq 2 ] || die "usage: stop NAME DIR"
  local pidfile="$2/$1.pid"
  [ -f "$pidfile" ] || die "no $pidfile"
  local pid
  pid=$(cat "$pidfile")
  if kill -0 "$pid" 2>/dev/null; then
    # The scenario freezes servers between their phases (SIGSTOP); a frozen one would not act on SIGTERM.
    kill -CONT "$pid" 2>/dev/null || true
    kill -TERM "$pid"
    for _ in $(seq 1 200); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
      echo "peers.sh: $1 (pid $pid) ignored SIGTERM for 20 s; SIGKILL" >&2
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  rm -f "$pidfile"
}

run_profile() {
  local profile=$1
  shift
  installed || install
  dotnet build -c Release "$ROOT/rpc/CheckpointCache.Node/CheckpointCache.Node.csproj" -v q -nologo
  dotnet build -c Release "$ROOT/perf/CheckpointCache.Perf/CheckpointCache.Perf.csproj" -v q -nologo
  cd "$ROOT"
  # A --json among the options wins (the scenario takes the last one); the chart goes beside that file then, so a
  # partial run never redraws the documented chart.
  local json="perf/results/peers-$profile.json" chart="docs/images/peers-$profile.png" prev=""
  for arg in "$@"; do
    [ "$prev" = "--json" ] && json=$arg && chart="${arg%.json}.png"
    prev=$arg
  done
  dotnet run -c Release --no-build --project perf/CheckpointCache.Perf -- peers "--$profile" \
    --json "perf/results/peers-$profile.json" "$@"
  /usr/bin/python3 perf/peers_chart.py "$json" "$chart"
}

case "${1:-}" in
  install) install ;;
  start) shift; start "$@" ;;
  stop) shift; stop "$@" ;;
  quick|full) p=$1; shift; run_profile "$p" "$@" ;;
  *) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
