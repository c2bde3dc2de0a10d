#!/usr/bin/env bash
# One command on a fresh machine: install, seed a demo CRM (SQLite, under ./.dsr), and fulfil one
# access request end to end. Extra arguments go to `dsr demo` (e.g. --contacts 20000).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e .
exec .venv/bin/dsr demo "$@"
