# Sourced by scripts/test and scripts/demo: create .venv if missing and install the project
# with its test extras. The install is skipped when neither pyproject.toml nor the set of
# top-level packages changed since the last one (the install is editable, so code changes
# need no reinstall; a new package or entry point does).
venv_ready() {
    local python="${PYTHON:-python3}"
    if [ ! -x .venv/bin/python ]; then
        "$python" -m venv .venv
    fi
    local digest stamp
    digest=$( { cat pyproject.toml; ls -d -- */__init__.py 2>/dev/null; } | sha256sum | cut -c1-16)
    stamp=".venv/.prtc-installed-$digest"
    if [ ! -e "$stamp" ]; then
        .venv/bin/python -m pip install --quiet --upgrade pip
        .venv/bin/python -m pip install --quiet -e '.[test]'
        rm -f .venv/.prtc-installed-*
        touch "$stamp"
    fi
}
