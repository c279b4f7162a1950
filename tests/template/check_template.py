"""Translates template.yaml with the SAM translator (as `sam deploy` would) and
checks what the deployed stack would be: least privilege, the authorizer wired
to both example APIs, the table kept, the secret referenced and never inlined.
Run by scripts/test with the pinned aws-sam-cli's Python."""

import json
import os
import sys

from samtranslator.model.exceptions import InvalidDocumentException
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

# The translator wants a region; it calls nothing.
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
with open(sys.argv[1]) as f:
    template = yaml_parse(f.read())
# As `sam deploy` does after uploading the built code.
for resource in template["Resources"].values():
    if "CodeUri" in resource.get("Properties", {}):
        resource["Properties"]["CodeUri"] = "s3://bucket/code.zip"


class NoManagedPolicies:
    def load(self):
        return {}


try:
    parameters = {"AWS::Region": "us-east-1", "AWS::AccountId": "123456789012", "ApiAuthorizerCacheSeconds": 123}
    cfn = transform(template, parameters, NoManagedPolicies())
except InvalidDocumentException as e:
    sys.exit(f"SAM cannot translate template.yaml: {e}")
resources = cfn["Resources"]
failures = []


def check(condition, what):
    print(("ok      " if condition else "FAILED  ") + what)
    if not condition:
        failures.append(what)


def role_actions(function):
    role = resources[resources[function]["Properties"]["Role"]["Fn::GetAtt"][0]]
    actions = []
    for policy in role["Properties"].get("Policies", []):
        for statement in policy["PolicyDocument"]["Statement"]:
            action = statement["Action"]
            actions += action if isinstance(action, list) else [action]
    return sorted(actions), role["Properties"].get("ManagedPolicyArns", [])


table = resources["Table"]
check(table.get("DeletionPolicy") == "Retain" and table.get("UpdateReplacePolicy") == "Retain", "the table is kept on deletion and replacement")
props = table["Properties"]
check(props["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"}], "the table's key is pk")
check(props["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}, "TTL on expires_at")
check(props["BillingMode"] == "PAY_PER_REQUEST", "on-demand billing")
check(props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True, "point-in-time recovery")
check(props["SSESpecification"]["SSEEnabled"] is True, "encryption with a KMS key")

actions, managed = role_actions("TokenServiceFunction")
check(actions == ["dynamodb:BatchGetItem", "dynamodb:DeleteItem", "dynamodb:GetItem", "dynamodb:PutItem"],
      f"the token service may only GetItem/BatchGetItem/PutItem/DeleteItem (has {actions})")
actions, managed = role_actions("AuthorizerFunction")
check(not any(a.startswith("dynamodb:") for a in actions), "the authorizer has no DynamoDB access")
check(actions == ["secretsmanager:GetSecretValue"], f"the authorizer may only read its secret (has {actions})")

for function in ("TokenServiceFunction", "AuthorizerFunction"):
    p = resources[function]["Properties"]
    check(p["Runtime"] == "provided.al2023" and p["Architectures"] == ["arm64"], f"{function} runs on provided.al2023, arm64")
env = resources["AuthorizerFunction"]["Properties"]["Environment"]["Variables"]
check("RESOURCE_SERVER_AUTH_TOKEN" not in env and "RESOURCE_SERVER_INTROSPECTION_CREDENTIALS" not in env,
      "no introspection credentials in the authorizer's environment")
check(env["RESOURCE_SERVER_CREDENTIALS_SECRET_ARN"] == {"Ref": "AuthorizerCredentials"}, "the authorizer is told its secret's ARN")

permissions = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::Lambda::Permission"]
invokers = [json.dumps(p.get("SourceArn")) for p in permissions if json.dumps(p["FunctionName"]).find("AuthorizerFunction") >= 0]
check(any("ExampleApi" in s and "authorizers" in s for s in invokers), "the REST API may invoke the authorizer")
check(any("ExampleHttpApi" in s for s in invokers), "the HTTP API may invoke the authorizer")

rest = resources["ExampleApi"]["Properties"]["Body"]
auth = rest["securityDefinitions"]["OAuthAuthorizer"]
check(auth["x-amazon-apigateway-authorizer"]["type"] == "token", "the REST API's default authorizer is a TOKEN authorizer")
check(auth["name"] == "Authorization", "on the Authorization header")
check(auth["x-amazon-apigateway-authorizer"]["authorizerResultTtlInSeconds"] == 123,
      "its cache time comes from the ApiAuthorizerCacheSeconds parameter")
http = resources["ExampleHttpApi"]["Properties"]["Body"]["components"]["securitySchemes"]["OAuthAuthorizer"]["x-amazon-apigateway-authorizer"]
check(http["authorizerPayloadFormatVersion"] == "2.0", "the HTTP API's authorizer uses payload 2.0")

settings = resources["TokenApi"]["Properties"]
stage = next(r for r in resources.values() if r["Type"] == "AWS::ApiGateway::Stage" and r["Properties"]["RestApiId"] == {"Ref": "TokenApi"})
method = stage["Properties"]["MethodSettings"][0]
check("ThrottlingRateLimit" in method and "ThrottlingBurstLimit" in method, "the token API is throttled")
check(cfn["Outputs"]["AuthorizerFunctionArn"]["Export"]["Name"] == {"Fn::Sub": "${AWS::StackName}-AuthorizerFunctionArn"},
      "the authorizer's ARN is exported")

print(f"template: {len(failures)} failed")
sys.exit(1 if failures else 0)
