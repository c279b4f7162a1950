# shellcheck shell=bash
# Sourced by the scripts: the project's Python-distributed tools, pinned, in a
# project-local virtualenv, put first on PATH:
#   cfn-lint and aws-sam-cli  check and build template.yaml;
#   cargo-lambda (with zig)   runs the functions behind the real Lambda runtime
#                             API and cross-builds them for arm64;
#   django-oauth-toolkit      the real DOT peer in the interoperability tests.
PYTHON_TOOLS="cfn-lint==1.58.0 aws-sam-cli==1.170.0 cargo-lambda==1.9.2 django==5.2.19 django-oauth-toolkit==3.4.1"
TOOLS_VENV="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/.local/venv"
if [ "$(cat "$TOOLS_VENV/installed" 2>/dev/null)" != "$PYTHON_TOOLS" ]; then
  echo "Installing $PYTHON_TOOLS..." >&2
  python3 -m venv "$TOOLS_VENV"
  # shellcheck disable=SC2086
  "$TOOLS_VENV/bin/pip" install --quiet --disable-pip-version-check $PYTHON_TOOLS
  echo "$PYTHON_TOOLS" >"$TOOLS_VENV/installed"
fi
export PATH="$TOOLS_VENV/bin:$PATH"
# SAM CLI would otherwise send usage telemetry.
export SAM_CLI_TELEMETRY=0
