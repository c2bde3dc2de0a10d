#!/usr/bin/env bash
# The one command that sets up a fresh Debian machine and runs the test suite:
#   bash scripts/test.sh [pytest arguments...]
# Installs PostgreSQL's server binaries (the tests start a throwaway server) and Chromium (the
# browser test drives it) if missing, makes .venv, installs the project with its test extras,
# then runs pytest with any arguments given.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

apt_updated=0
apt_install() {
    local sudo=()
    if [ "$(id -u)" -ne 0 ]; then
        if ! command -v sudo >/dev/null; then
            echo "scripts/test.sh: need root (or sudo) to apt-get install $*" >&2
            exit 1
        fi
        sudo=(sudo)
    fi
    if [ "$apt_updated" -eq 0 ]; then
        "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
        apt_updated=1
    fi
    echo "scripts/test.sh: installing $* with apt-get" >&2
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

have_postgres() {
    if command -v pg_ctl >/dev/null && command -v initdb >/dev/null; then
        return 0
    fi
    local bin
    for bin in /usr/lib/postgresql/*/bin; do
        if [ -x "$bin/pg_ctl" ] && [ -x "$bin/initdb" ]; then
            return 0
        fi
    done
    return 1
}

if ! have_postgres; then
    apt_install postgresql
fi

# The browser test (pytest -m browser) drives Debian's Chromium through Playwright; Playwright's
# own browser download (`playwright install`) is never used.
have_chromium() {
    [ -x /usr/bin/chromium ]
}

if ! have_chromium; then
    apt_install chromium
fi

if [ ! -x .venv/bin/python ]; then
    # Debian splits venv/ensurepip out of python3; add it if the first attempt fails.
    if ! python3 -m venv .venv 2>/dev/null; then
        rm -rf .venv
        apt_install python3-venv
        python3 -m venv .venv
    fi
fi

.venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[test]'

exec .venv/bin/python -m pytest "$@"
