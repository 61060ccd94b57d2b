#!/usr/bin/env bash
# The test suite on both ends of every runtime dependency's range in pyproject.toml: each at the lowest version
# its range allows (uv's lowest-direct resolution) and each at the newest published (highest). The test tools are
# installed beside them at their newest that fit, the runtime dependencies held where they were resolved.
# Each end in a venv of its own under $ENDS_DIR (default .ends). An end that resolves to exactly the packages of
# $TESTED_VENV (default .venv: the one `make test` just ran the suite in, which pip fills with the newest releases
# in range, as the highest end) is not run again: the line says so and names the versions.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
ends="${ENDS_DIR:-.ends}"
mkdir -p "$ends"
test -x "$ends/uv/bin/uv" || { "$PYTHON" -m venv "$ends/uv" && "$ends/uv/bin/pip" install --quiet "uv>=0.5,<1"; }
uv="$ends/uv/bin/uv"
tested="${TESTED_VENV:-.venv}"
installed() {  # a venv's Python and every distribution in it but the project and the installers, one a line
    "$1/bin/python" --version
    "$uv" pip freeze --quiet --python "$1/bin/python" | grep -viE '^(-e |backup-policy-bot|pip==|setuptools==|wheel==)' | sort
}
for resolution in ${RESOLUTIONS:-lowest-direct highest}; do
    venv="$ends/$resolution"
    rm -rf "$venv"
    "$uv" venv --quiet --python "$PYTHON" "$venv"
    VIRTUAL_ENV="$venv" "$uv" pip install --quiet --refresh --resolution "$resolution" -e .
    "$venv/bin/python" -c 'import importlib.metadata as m, re
for r in m.requires("backup-policy-bot"):
    if "extra ==" not in r:
        name = re.split(r"[<>=!~\[ ;]", r)[0]
        print(f"{name}=={m.version(name)}")' > "$ends/$resolution.txt"
    VIRTUAL_ENV="$venv" "$uv" pip install --quiet -c "$ends/$resolution.txt" -e '.[dev]'
    echo "== $resolution: $(tr '\n' ' ' < "$ends/$resolution.txt")"
    if test -x "$tested/bin/python" && test -n "$(installed "$venv")" && \
            test "$(installed "$venv")" = "$(installed "$tested")"; then
        echo "== $resolution: the same Python and $(($(installed "$venv" | wc -l) - 1)) packages at the same versions as $tested, where the suite just ran: not run again"
        continue
    fi
    "$venv/bin/python" -m pytest -q -p no:cacheprovider -n "${TEST_WORKERS:-4}" ${ENDS_PYTEST_ARGS:-}
done
