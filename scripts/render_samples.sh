#!/usr/bin/env bash
# Writes the sample CLEVR-style renders of docs/architecture.md (docs/samples/clevr_sample_{0..3}.png, 128 px, seed 0,
# split "sample") and prints release render timings at 128 and 224 px.
# Usage: ./scripts/render_samples.sh [output folder]
set -euo pipefail
cd "$(dirname "$0")/.."
TVP_WRITE_SAMPLES="$(realpath -m "${1:-docs/samples}")" swift test -c release --filter RenderSamplesTests
