#!/usr/bin/env bash
# All tests: the Rust core (cargo, no Python needed) and the Python package.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --release -p merx-core
python3 -m pytest -q tests
