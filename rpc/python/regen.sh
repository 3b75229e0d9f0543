#!/usr/bin/env bash
# Regenerates checkpointcache/_proto/ from rpc/protos/*.proto (the files the node is built from).
# Prefers Debian's protoc (protobuf-compiler) + grpc_python_plugin (protobuf-compiler-grpc), whose
# versions match python3-protobuf / python3-grpcio; falls back to `python3 -m grpc_tools.protoc`.
# Debian 12's python3-grpc-tools is grpc 1.14 (2018) and bundles an old protoc, so it is only a
# fallback. The generated imports are rewritten to be package-relative.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
protos="$here/../protos"
out="$here/checkpointcache/_proto"
mkdir -p "$out"
rm -f "$out"/*_pb2.py "$out"/*_pb2_grpc.py

if command -v protoc >/dev/null && command -v grpc_python_plugin >/dev/null; then
  protoc -I"$protos" --python_out="$out" --grpc_out="$out" \
    --plugin=protoc-gen-grpc="$(command -v grpc_python_plugin)" "$protos"/kv.proto "$protos"/node.proto
elif /usr/bin/python3 -c "import grpc_tools.protoc" 2>/dev/null; then
  /usr/bin/python3 -m grpc_tools.protoc -I"$protos" --python_out="$out" --grpc_python_out="$out" \
    "$protos"/kv.proto "$protos"/node.proto
else
  echo "need protoc + grpc_python_plugin (apt-get install protobuf-compiler-grpc) or python3-grpc-tools" >&2
  exit 1
fi

# "import kv_pb2 as kv__pb2" -> "from . import kv_pb2 as kv__pb2"
sed -i -E 's/^import (kv_pb2|node_pb2) as /from . import \1 as /' "$out"/*_pb2_grpc.py
touch "$out/__init__.py"
echo "generated: $(cd "$out" && ls *_pb2*.py | tr '\n' ' ')"
