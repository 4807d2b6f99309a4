#!/bin/sh
# Independent camera benchmark (make bench): frames rendered afresh from a
# random seed with bwip-js (not gozxing), decoded by the agent's decoder and
# by zxing-cpp (zxing-wasm) in the same run; prints the per-category table.
#
# Frames are made in node by gen.mjs: bwip-js gives the module grid, and
# the camera model (placement on a 9×9 grid, rotation, shear, perspective,
# ink spread/dots/gaps, box-print clutter, blur, motion blur, vignette,
# shadow, noise) is our own plain JavaScript, so no image library is
# needed and frames are 8-bit PGM files that Go reads directly.
#
#   SEED=N  repeat a run (the seed is printed)   PER=N  frames per category
# Skips (exit 0, with a message) when node or the npm packages are missing.
set -eu
cd "$(dirname "$0")"
GO=${GO:-go}
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
	echo "camera-bench: skipped: node and npm are needed (apt-get install nodejs npm)"
	exit 0
fi
if [ ! -d node_modules/bwip-js ] || [ ! -d node_modules/zxing-wasm ]; then
	if ! npm ci --no-audit --no-fund --loglevel=error; then
		echo "camera-bench: skipped: npm could not install bwip-js and zxing-wasm (package-lock.json)"
		exit 0
	fi
fi
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
node gen.mjs "$out" "${SEED:-}" "${PER:-49}"
node zxing.mjs "$out"
(cd ../.. && PDA_CAMERA_BENCH_DIR="$out" "$GO" test -count=1 -tags bench -cpu 1 -run '^TestIndependentFrames$' ./device/camera/ >/dev/null)
ZXING_VERSION="(zxing-wasm $(node -p "JSON.parse(require('fs').readFileSync('node_modules/zxing-wasm/package.json','utf8')).version"))" node report.mjs "$out"
