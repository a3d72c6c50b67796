#!/usr/bin/env bash
# The demo's serving stage: start the real tritonserver on 127.0.0.1 on a Triton repository (fec-deploy's
# choice; or an ONNX export folder, packaged here first), embed pictures through it, find the faces whose
# expression is closest to a query, stop.
# Usage: triton_repo/serve_and_query.sh REPO_OR_EXPORT_DIR PICTURES_DIR QUERY_PICTURE OUT_DIR
# PICTURES_DIR should hold face crops (make demo passes the face store): the model was trained on crops, and
# whole pictures (face, hair, background, clutter) put it out of its domain.
set -euo pipefail
source=$1 pictures=$2 query=$3 out=$4
bin=$(dirname "$(command -v fec-serve || echo .venv/bin/fec-serve)")
repo=$source
port=${FEC_DEMO_HTTP_PORT:-8000}

if [ ! -f "$source/.fec-triton.json" ]; then  # an export folder: package it (python backend: the wheel's server)
  repo=triton_repo/demo
  "$bin/fec-triton" "$source" --repo "$repo" --embedding ort-python --quiet
fi
"$bin/fec-serve" --repo "$repo" --http-port "$port" --grpc-port $((port + 1)) --quiet &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null' EXIT
for _ in $(seq 300); do
  python3 -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:$port/v2/health/ready', timeout=1)" 2>/dev/null && break
  kill -0 $server 2>/dev/null || { echo "fec-serve exited before it was ready" >&2; exit 1; }
  sleep 1
done
"$bin/fec-embed" --url "http://127.0.0.1:$port" "$pictures" --out "$out/served_embeddings.npy" --quiet
"$bin/fec-embed" --url "http://127.0.0.1:$port" "$pictures" --similar "$query" --top 8 --sheet "$out/similar.png"
echo "served embeddings: $out/served_embeddings.npy; contact sheet: $out/similar.png"
