# shellcheck shell=bash
# Sourced first by every script: the repository root as the working
# directory, one EXIT handler that runs every cleanup registered with
# `on_exit` (last registered first), and one scratch directory, $SCRATCH,
# removed at exit, for every temporary file a script makes.
#
# A subshell gets no EXIT trap of its parent: one that registers cleanups
# of its own starts with `cleanup_scope`.

cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1

_cleanups=()

# Runs "$@" when the script (or the current cleanup scope) exits, whatever the exit status.
on_exit() {
  local command
  printf -v command '%q ' "$@"
  _cleanups+=("$command")
}

_run_cleanups() {
  local status=$? i
  for ((i = ${#_cleanups[@]} - 1; i >= 0; i--)); do
    eval "${_cleanups[i]}" || true
  done
  _cleanups=()
  return "$status"
}

# Starts a fresh list of cleanups, run when this (sub)shell exits.
cleanup_scope() {
  _cleanups=()
  trap _run_cleanups EXIT
}

cleanup_scope
SCRATCH=$(mktemp -d "${TMPDIR:-/tmp}/oauth-lambda.XXXXXX")
on_exit rm -rf "$SCRATCH"

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}
