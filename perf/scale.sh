#!/usr/bin/env bash
# The `scale` perf scenario end to end: build, run it (options are passed on, e.g. --nodes 5,25,50,100,200),
# write perf/results/scale.json and draw docs/images/scale.png. Needs etcd (Debian's etcd-server) and Azurite
# (scripts/test.sh installs it into .tools/azurite); installs python3-matplotlib with apt-get when it is missing.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
if ! /usr/bin/python3 -c 'import matplotlib' 2>/dev/null; then
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3-matplotlib
fi
dotnet build -c Release perf/CheckpointCache.Perf/CheckpointCache.Perf.csproj -v q -nologo
dotnet run -c Release --no-build --project perf/CheckpointCache.Perf -- scale --json perf/results/scale.json "$@"
/usr/bin/python3 perf/scale_chart.py perf/results/scale.json docs/images/scale.png
