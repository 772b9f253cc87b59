#!/usr/bin/env bash
# Build manylinux wheels of merx (abi3, CPython >= 3.11) with maturin + zig, and check that the
# x86_64 wheel installs into a fresh virtual environment and fits a model there.
#
#   bash scripts/build_wheels.sh            # x86_64 and aarch64 (cross-built with zig)
#   TARGETS=x86_64 bash scripts/build_wheels.sh
#
# Needs: maturin (>=1.5,<2), ziglang (pip install ziglang), and for aarch64 the Rust target
# (rustup target add aarch64-unknown-linux-gnu). Wheels land in target/wheels/ (git-ignored).
# CARGO_BUILD_JOBS is left to the caller (set CARGO_BUILD_JOBS=1 on a shared machine).
set -euo pipefail
cd "$(dirname "$0")/.."

COMPAT="${COMPAT:-manylinux2014}"
TARGETS="${TARGETS:-x86_64 aarch64}"
OUT=target/wheels

for arch in $TARGETS; do
    echo "== building ${arch} (${COMPAT}) =="
    maturin build --release --zig --compatibility "$COMPAT" \
        --target "${arch}-unknown-linux-gnu" --out "$OUT"
done
ls -l "$OUT"

# Install test of the newest wheel for this machine's architecture (in target/wheels, so also one
# built by an earlier run), in a fresh venv, outside the repo (so that `import merx` cannot pick up
# python/merx from the source tree). Wheels of other architectures are not run here.
host="$(uname -m)"
wheel="$(ls -t "$OUT"/merx-*-cp311-abi3-manylinux*_"${host}".whl 2>/dev/null | head -n1 || true)"
if [ -z "$wheel" ]; then
    echo "no ${host} wheel built: install test skipped"
    exit 0
fi
wheel="$(cd "$(dirname "$wheel")" && pwd)/$(basename "$wheel")"
venv="$(mktemp -d)/venv"
echo "== install test of $(basename "$wheel") in a fresh venv =="
python3 -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check "$wheel"
(cd "$(dirname "$venv")" && "$venv/bin/python" - <<'PY'
import merx
from merx.datasets import load_example
m = merx.lmer("Reaction ~ Days + (Days | Subject)", load_example("sleepstudy"))
print(merx.__file__)
print(m)
assert abs(m.fixef["(Intercept)"] - 251.405) < 1e-2
print("install test: ok")
PY
)
