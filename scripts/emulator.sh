# shellcheck shell=bash
# Sourced by scripts/test and scripts/run-local (after scripts/lib.sh;
# `scripts/setup emulator` installs it): a local AWS emulator (MiniStack,
# pinned) with IAM enforced (AUTH=true), on a free loopback port, with only
# the services the stack uses; stopped when the calling (sub)shell exits.
# Functions run as local processes, with their role's credentials.
# shellcheck source=scripts/pins.sh
source scripts/pins.sh
EMULATOR_SERVICES="cloudformation,s3,iam,sts,lambda,apigateway,dynamodb,secretsmanager,kms,logs,cloudwatch"

# Starts the emulator and exports what the AWS CLI, SAM CLI and SDKs need to
# reach it as its administrator. EMULATOR_LOG is its log.
emulator_start() {
  if [ "$(cat "$EMULATOR_VENV/installed" 2>/dev/null)" != "$EMULATOR_PACKAGES" ]; then
    echo "The AWS emulator is not installed: run scripts/setup emulator" >&2
    return 1
  fi
  local port
  port=$(free_port)
  EMULATOR_DIR=$(mktemp -d "$SCRATCH/emulator.XXXXXX")
  EMULATOR_LOG="$EMULATOR_DIR/emulator.log"
  # AWS_ENDPOINT_URL in its own environment is what it hands its functions,
  # so their SDK calls come back to it. Its state lives in memory.
  # A session of its own, so its functions (its child processes) stop with it.
  (cd "$EMULATOR_DIR" && exec setsid env AUTH=true BIND_HOST=127.0.0.1 GATEWAY_PORT="$port" \
    AWS_ENDPOINT_URL="http://127.0.0.1:$port" SERVICES="$EMULATOR_SERVICES" IOT_MTLS_ENABLED=0 \
    TMPDIR="$EMULATOR_DIR" "$EMULATOR_VENV/bin/ministack") >"$EMULATOR_LOG" 2>&1 &
  EMULATOR_PID=$!
  on_exit emulator_stop
  for _ in $(seq 1 150); do
    if curl -fs "http://127.0.0.1:$port/_ministack/health" >/dev/null 2>&1; then
      export AWS_ENDPOINT_URL="http://127.0.0.1:$port"
      # A service's own endpoint variable would win over the emulator's.
      # shellcheck disable=SC2046 # one word per variable name
      unset $(compgen -v AWS_ENDPOINT_URL_ || true)
      # The emulator's administrator (its root account); functions get their roles'.
      export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test
      unset AWS_SESSION_TOKEN AWS_PROFILE
      export AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
      export EMULATOR_LOG
      echo "The AWS emulator is listening on 127.0.0.1:$port (pid $EMULATOR_PID, IAM enforced)" >&2
      return 0
    fi
    if ! kill -0 "$EMULATOR_PID" 2>/dev/null; then
      echo "The AWS emulator failed to start:" >&2
      cat "$EMULATOR_LOG" >&2
      return 1
    fi
    sleep 0.2
  done
  echo "The AWS emulator did not answer within 30 s" >&2
  return 1
}

emulator_stop() {
  if [ -n "${EMULATOR_PID:-}" ]; then
    # Its functions run as its children: end the whole process group.
    kill -- -"$EMULATOR_PID" 2>/dev/null
    for _ in $(seq 1 25); do
      kill -0 "$EMULATOR_PID" 2>/dev/null || break
      sleep 0.2
    done
    kill -9 -- -"$EMULATOR_PID" 2>/dev/null || true
  fi
  EMULATOR_PID=
  if [ -n "${EMULATOR_DIR:-}" ]; then rm -rf "$EMULATOR_DIR"; fi
  EMULATOR_DIR=
}
