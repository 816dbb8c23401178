#!/usr/bin/env bash
# image_folder decode rate: Quarry's plugin (first load, then the cached load) against PIL as a
# torchvision ImageFolder + DataLoader decodes, in one run. Makes COUNT JPEG (3 in 4) and PNG files
# of 96x96 smooth colour noise in 10 classes (train/ and test/) with PIL, then resizes to SIZE.
#   bench/image_folder/run.sh [BUILD_DIR] [DATA_DIR]     (COUNT=4000 SIZE=32 THREADS=nproc: env)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${1:-$root/build}
data=${2:-/tmp/quarry-bench-image-folder}
count=${COUNT:-4000} size=${SIZE:-32} threads=${THREADS:-$(nproc)}
bench=$build/bin/bench_image_folder
[ -x "$bench" ] || { echo "run.sh: $bench not built (ninja -C $build bench_image_folder)" >&2; exit 1; }
python=${PYTHON:-/usr/bin/python3}
if [ ! -f "$data/.count-$count" ]; then
  rm -rf "$data"
  "$python" - "$data" "$count" <<'PY'
import os, sys
import numpy as np
from PIL import Image
root, count = sys.argv[1], int(sys.argv[2])
rng = np.random.default_rng(0)
for i in range(count):
    split = "test" if (i // 10) % 5 == 0 else "train"
    d = os.path.join(root, split, f"class{i % 10}")
    os.makedirs(d, exist_ok=True)
    small = rng.integers(0, 256, (12, 12, 3), dtype=np.uint8)
    img = Image.fromarray(small).resize((96, 96), Image.BICUBIC)
    if i % 4 == 3: img.save(os.path.join(d, f"{i}.png"))
    else: img.save(os.path.join(d, f"{i}.jpg"), quality=90)
open(os.path.join(root, f".count-{count}"), "w").close()
PY
fi
results=$(mktemp)
cache=$(mktemp -d)
nice "$bench" "$data" "$cache" "$size" "$threads" >> "$results"
nice "$python" "$here/reference.py" "$data" "$size" "$threads" >> "$results"
rm -rf "$cache"
"$python" - "$results" "$threads" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
first = next(r for r in rows if r["side"] == "quarry (first load)")
best_ref = min((r for r in rows if r["side"].startswith("python")), key=lambda r: r["seconds"])
print(f"{'side':<28} {'images':>7} {'seconds':>8} {'images/s':>10} {'vs best python':>15}")
for r in rows:
    ips = r["images"] / r["seconds"]
    print(f"{r['side']:<28} {r['images']:>7} {r['seconds']:>8.3f} {ips:>10.0f} {best_ref['seconds'] / r['seconds']:>14.1f}x")
print(f"{sys.argv[2]} threads/processes; the first load decodes and writes the cache, the cached load reads it")
PY
rm -f "$results"
