#!/usr/bin/env bash
# The photo demo: photos in, expressions out. Writes the real sample photos (astronaut, grace_hopper,
# four lfw faces pasted on coffee, and coffee, which holds no face), serves a repository that has the photo model
# (fec-deploy ... --photos, or fec-triton ... --photos) on 127.0.0.1, and runs fec-embed --detect through it:
# every face's box, landmarks, score and embedding in OUT_DIR/faces.jsonl, the faces closest in expression to
# the astronaut's in OUT_DIR/faces_similar.png. coffee.jpg is reported as a photo without a face.
# Usage: triton_repo/photos_demo.sh REPO OUT_DIR
set -euo pipefail
repo=$1 out=$2
bin=$(dirname "$(command -v fec-serve || echo .venv/bin/fec-serve)")
here=$(cd "$(dirname "$0")/.." && pwd)
port=${FEC_DEMO_PHOTO_PORT:-8002}

if [ ! -f "$repo/fecnet_photo/config.pbtxt" ]; then
  echo "error: $repo has no photo model (fecnet_photo); write it with fec-deploy ... --photos or fec-triton ... --photos" >&2
  exit 2
fi
mkdir -p "$out"
"$bin/python" "$here/benchmarks/sample_photos.py" "$out/photos"
"$bin/fec-serve" --repo "$repo" --http-port "$port" --grpc-port $((port + 1)) --quiet &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null' EXIT
for _ in $(seq 300); do
  "$bin/python" -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/v2/models/fecnet_photo/ready', timeout=1)" \
    2>/dev/null && break
  kill -0 $server 2>/dev/null || { echo "fec-serve exited before it was ready" >&2; exit 1; }
  sleep 1
done
"$bin/fec-embed" --url "http://127.0.0.1:$port" --detect "$out/photos" --out "$out/faces.jsonl" \
  --similar "$out/photos/astronaut.jpg" --top 5 --sheet "$out/faces_similar.png"
echo "faces: $out/faces.jsonl; contact sheet: $out/faces_similar.png"
