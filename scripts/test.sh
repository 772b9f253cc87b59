#!/usr/bin/env bash
# All tests: the Rust core (cargo, no Python needed) and the Python package.
set -euo pipefail
cd "$(dirname "$0")/.."
# The Rust property tests draw their cases from a fixed seed, as the Python ones
# (tests/conftest.py): CI runs the same cases every time; unset it to explore.
export PROPTEST_RNG_SEED="${PROPTEST_RNG_SEED:-20261130}"
cargo test --release -p merx-core
python3 -m pytest -q tests
