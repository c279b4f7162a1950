# shellcheck shell=bash
# Sourced by the scripts that run the pinned Python tools (scripts/pins.sh):
# puts their virtualenv first on PATH. Installs nothing: `scripts/setup
# python` does, and a script calls it before sourcing this.
# shellcheck source=scripts/pins.sh
source scripts/pins.sh
if [ "$(cat "$TOOLS_VENV/installed" 2>/dev/null)" != "$PYTHON_TOOLS" ]; then
  echo "The pinned Python tools are not installed: run scripts/setup python" >&2
  exit 1
fi
export PATH="$TOOLS_VENV/bin:$PATH"
# SAM CLI would otherwise send usage telemetry.
export SAM_CLI_TELEMETRY=0
export DOT_PYTHON="$TOOLS_VENV/bin/python"
