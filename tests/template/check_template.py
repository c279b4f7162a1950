"""Translates template.yaml with the SAM translator (as `sam deploy` would) and
checks what the deployed stack would be: least privilege, the authorizer wired
to both example APIs, the table kept, the secret referenced and never inlined.
Run by scripts/test with the pinned aws-sam-cli's Python.

    check_template.py template.yaml [--dynamodb-actions ACTIONS.json]

With --dynamodb-actions (written by dynamodb_recorder.py during the end-to-end
tests), the token service's role must grant exactly the DynamoDB actions the
tests saw the service perform: none missing, none unused."""

import json
import logging
import os
import sys

from samtranslator.model.exceptions import InvalidDocumentException
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

# The translator warns of feature toggles it was not given: noise, not findings.
logging.getLogger("samtranslator").setLevel(logging.ERROR)

# The translator wants a region; it calls nothing.
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
recorded_actions = None
if "--dynamodb-actions" in sys.argv:
    with open(sys.argv[sys.argv.index("--dynamodb-actions") + 1]) as f:
        recorded_actions = json.load(f)
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

actions, managed = role_actions("TokenServiceFunction")
check(all("AWSLambdaBasicExecutionRole" in json.dumps(m) for m in managed), f"the token service's only managed policy is for its logs ({managed})")
kms_actions = [a for a in actions if a.startswith("kms:")]
actions = [a for a in actions if not a.startswith("kms:")]
check(all(a.startswith("dynamodb:") and "*" not in a for a in actions), f"the token service may only use named DynamoDB actions, and KMS (has {actions})")
check(kms_actions == ["kms:Decrypt", "kms:Encrypt"], f"the token service may only seal and open with KMS (has {kms_actions})")
role = resources[resources["TokenServiceFunction"]["Properties"]["Role"]["Fn::GetAtt"][0]]
kms_resources = [st["Resource"] for p in role["Properties"]["Policies"] for st in p["PolicyDocument"]["Statement"]
                 if any(str(a).startswith("kms:") for a in (st["Action"] if isinstance(st["Action"], list) else [st["Action"]]))]
check(kms_resources == [{"Fn::GetAtt": ["SigningKeyKey", "Arn"]}], f"...on the signing keys' KMS key only ({kms_resources})")
signing_key = resources["SigningKeyKey"]
check(signing_key.get("DeletionPolicy") == "Retain" and signing_key["Properties"].get("EnableKeyRotation") is True
      and signing_key["Properties"].get("KeySpec") == "SYMMETRIC_DEFAULT",
      "the signing keys' KMS key is symmetric, rotated yearly by KMS, and kept on deletion")
service_env = resources["TokenServiceFunction"]["Properties"]["Environment"]["Variables"]
check(service_env.get("SIGNING_KEY_KMS_KEY_ID") == {"Fn::GetAtt": ["SigningKeyKey", "Arn"]} and "SIGNING_KEY_SECRET" not in service_env,
      "the token service seals its signing keys with that KMS key (no secret in its environment)")
if recorded_actions is not None:
    # Least privilege from behaviour: what the tests saw the service do (as the
    # access key "TokenService", tests/src/lib.rs), against what its role grants.
    used = set(recorded_actions.get("TokenService", []))
    check(bool(used), "the end-to-end tests recorded the token service's DynamoDB actions")
    for action in sorted(used - set(actions)):
        check(False, f"the token service's role in template.yaml lacks {action}, which the service performs")
    for action in sorted(set(actions) - used):
        check(False, f"the token service's role in template.yaml grants {action}, which no test saw it perform")
    check(used == set(actions), f"the token service's role grants exactly what it uses ({sorted(used)})")
for authorizer in ("AuthorizerFunction", "McpAuthorizerFunction"):
    actions, managed = role_actions(authorizer)
    check(not any(a.startswith(("dynamodb:", "kms:")) for a in actions), f"{authorizer} has no DynamoDB or KMS access")
    check(actions == ["secretsmanager:GetSecretValue"], f"{authorizer} may only read its secret (has {actions})")

for function in ("TokenServiceFunction", "AuthorizerFunction", "McpAuthorizerFunction"):
    p = resources[function]["Properties"]
    check(p["Runtime"] == "provided.al2023" and p["Architectures"] == ["arm64"], f"{function} runs on provided.al2023, arm64")
env = resources["AuthorizerFunction"]["Properties"]["Environment"]["Variables"]
check("RESOURCE_SERVER_AUTH_TOKEN" not in env and "RESOURCE_SERVER_INTROSPECTION_CREDENTIALS" not in env,
      "no introspection credentials in the authorizer's environment")
check(env["RESOURCE_SERVER_CREDENTIALS_SECRET_ID"] == {"Ref": "AuthorizerCredentials"}, "the authorizer is told its secret")

permissions = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::Lambda::Permission"]
invokers = [json.dumps(p.get("SourceArn")) for p in permissions if json.dumps(p["FunctionName"]).find("AuthorizerFunction") >= 0]
check(any("ExampleApi" in s and "authorizers" in s for s in invokers), "the REST API may invoke the authorizer")
check(any("ExampleHttpApi" in s for s in invokers), "the HTTP API may invoke the authorizer")

rest = resources["ExampleApi"]["Properties"]["Body"]
auth = rest["components"]["securitySchemes"]["OAuthAuthorizer"]
check(auth["x-amazon-apigateway-authorizer"]["type"] == "token", "the REST API's default authorizer is a TOKEN authorizer")
check(auth["name"] == "Authorization", "on the Authorization header")
check(auth["x-amazon-apigateway-authorizer"]["authorizerResultTtlInSeconds"] == 123,
      "its cache time comes from the ApiAuthorizerCacheSeconds parameter")
http = resources["ExampleHttpApi"]["Properties"]["Body"]["components"]["securitySchemes"]["OAuthAuthorizer"]["x-amazon-apigateway-authorizer"]
check(http["authorizerPayloadFormatVersion"] == "2.0", "the HTTP API's authorizer uses payload 2.0")
http_api = resources["ExampleHttpApi"]["Properties"]
check(http_api.get("FailOnWarnings") is True, "the HTTP API fails on warnings (a route or authorizer it could not import)")
jwt = http_api["Body"]["components"]["securitySchemes"]["JwtAuthorizer"]["x-amazon-apigateway-authorizer"]
issuer_default = {"Fn::If": ["IssuerGiven", {"Ref": "Issuer"},
                             {"Fn::Sub": "https://${TokenApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}/prod"}]}
check(jwt["type"] == "jwt" and jwt["jwtConfiguration"]["issuer"] == issuer_default,
      "the JWT authorizer trusts this stack's issuer (the token service's ISSUER)")
token_env = resources["TokenServiceFunction"]["Properties"]["Environment"]["Variables"]
check(token_env["ISSUER"] == issuer_default, "the token service's ISSUER is the same expression")
check(jwt["jwtConfiguration"]["audience"] == [{"Fn::If": ["JwtAudienceGiven", {"Ref": "JwtAudience"}, issuer_default]}]
      and token_env["JWT_ACCESS_TOKEN_AUDIENCE"] == {"Fn::If": ["JwtAudienceGiven", {"Ref": "JwtAudience"}, {"Ref": "AWS::NoValue"}]},
      "its audience is the JwtAudience parameter, the tokens' aud (both default to the issuer)")
jwt_routes = {f"{verb.upper()} {path}": op.get("security") for path, verbs in http_api["Body"]["paths"].items()
              for verb, op in verbs.items() if any("JwtAuthorizer" in s for s in op.get("security", []))}
check(jwt_routes == {"GET /jwt/items": [{"JwtAuthorizer": ["read"]}], "POST /jwt/items": [{"JwtAuthorizer": ["write"]}]},
      f"/jwt/items is behind the JWT authorizer, with the scope rules of /items ({jwt_routes})")

stages = [r for r in resources.values() if r["Type"] == "AWS::ApiGateway::Stage"]
check(sorted(s["Properties"]["StageName"] for s in stages) == ["prod", "prod", "prod"],
      f"each REST API has exactly one stage, prod (no unthrottled 'Stage'): {[s['Properties']['StageName'] for s in stages]}")
stage = next(r for r in stages if r["Properties"]["RestApiId"] == {"Ref": "TokenApi"})
settings = {(m["ResourcePath"], m["HttpMethod"]): m for m in stage["Properties"]["MethodSettings"]}
limits = lambda key: (settings.get(key, {}).get("ThrottlingRateLimit"), settings.get(key, {}).get("ThrottlingBurstLimit"))
check(limits(("/*", "*")) == ({"Ref": "TokenApiRateLimit"}, {"Ref": "TokenApiBurstLimit"}), "the token API is throttled")
for verb in ("POST", "GET"):
    check(limits(("/~1o~1introspect", verb)) == ({"Ref": "IntrospectionRateLimit"}, {"Ref": "IntrospectionBurstLimit"}),
          f"{verb} /o/introspect has a throttle of its own")
check(limits(("/~1o~1register", "POST")) == ({"Ref": "RegistrationRateLimit"}, {"Ref": "RegistrationBurstLimit"}),
      "POST /o/register has a throttle of its own")
token_paths = resources["TokenApi"]["Properties"]["Body"]["paths"]
routes = sorted(f"{verb.upper()} {path}" for path, verbs in token_paths.items() for verb in verbs)
check(routes == sorted(["GET /.well-known/oauth-authorization-server", "GET /.well-known/openid-configuration", "GET /o/.well-known/jwks.json",
                 "GET /o/.well-known/openid-configuration", "GET /o/authorize", "GET /o/introspect", "GET /o/logout", "GET /o/userinfo",
                 "OPTIONS /o/revoke_token", "OPTIONS /o/token", "OPTIONS /o/userinfo",
                 "POST /o/authorize", "POST /o/introspect", "POST /o/logout", "POST /o/register", "POST /o/revoke_token", "POST /o/token", "POST /o/userinfo",
                 "DELETE /o/register/{client_id}", "GET /o/register/{client_id}", "PUT /o/register/{client_id}",
                 "POST /o/device-authorization", "GET /o/device", "POST /o/device"]),
      f"the token API routes exactly the service's endpoints ({routes})")
check(cfn["Outputs"]["AuthorizerFunctionArn"]["Export"]["Name"] == {"Fn::Sub": "${AWS::StackName}-AuthorizerFunctionArn"},
      "the authorizer's ARN is exported")

# The example MCP server: one resource URL everywhere it is named, its API's
# own 401 and 403 pointing at its metadata, and a deployment made after them.
mcp_url = {"Fn::If": ["McpBaseUrlGiven", {"Fn::Sub": "${McpBaseUrl}/mcp"},
                      {"Fn::Sub": "https://${McpApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}/prod/mcp"}]}
mcp_env = resources["McpAuthorizerFunction"]["Properties"]["Environment"]["Variables"]
check(mcp_env["RESOURCE"] == mcp_url and resources["McpServerFunction"]["Properties"]["Environment"]["Variables"]["MCP_RESOURCE"] == mcp_url
      and cfn["Outputs"]["McpServerUrl"]["Value"] == mcp_url,
      "the MCP authorizer's RESOURCE, the server's own resource and the McpServerUrl output are one URL")
check(mcp_env["SCOPE_RULES"] == {"Fn::Sub": "ANY /mcp = ${McpScope}"} and mcp_env["DENY_UNMATCHED_ROUTES"] == "true",
      "every method of /mcp needs McpScope, and nothing else on the MCP API is open to a token")
check(mcp_env["RESOURCE_SERVER_INTROSPECTION_URL"] == env["RESOURCE_SERVER_INTROSPECTION_URL"]
      and mcp_env["RESOURCE_SERVER_CREDENTIALS_SECRET_ID"] == {"Ref": "AuthorizerCredentials"},
      "the MCP authorizer introspects where the other does, with the same secret")
resources_env = json.dumps(token_env["RESOURCES"])
check("McpApi" in resources_env and "${McpScope}" in resources_env and "ResourceIndicators" in resources_env,
      "the token service knows the MCP server as a resource accepting McpScope, unless ResourceIndicators lists them")
methods = {(r["Properties"]["ResourceId"]["Ref"], r["Properties"]["HttpMethod"]): r["Properties"]
           for r in resources.values() if r["Type"] == "AWS::ApiGateway::Method"}
check(methods.get(("McpResource", "ANY"), {}).get("AuthorizationType") == "CUSTOM"
      and methods[("McpResource", "ANY")].get("AuthorizerId") == {"Ref": "McpAuthorizer"},
      "/mcp is behind the MCP authorizer, every method")
check(all(methods.get((r, "GET"), {}).get("AuthorizationType") == "NONE" for r in ("McpMetadataResource", "McpMetadataRootResource")),
      "its protected-resource metadata is public, at both well-known paths")
for response_type, status, starts in (("UNAUTHORIZED", "401", "'Bearer resource_metadata=" + '"'),
                                      ("ACCESS_DENIED", "403", """'Bearer error="insufficient_scope", scope="${McpScope}", resource_metadata=""" + '"')):
    response = next((r["Properties"] for r in resources.values() if r["Type"] == "AWS::ApiGateway::GatewayResponse"
                     and r["Properties"]["ResponseType"] == response_type and r["Properties"]["RestApiId"] == {"Ref": "McpApi"}), {})
    header = response.get("ResponseParameters", {}).get("gatewayresponse.header.WWW-Authenticate", {}).get("Fn::Sub", ["", {}])
    check(response.get("StatusCode") == status and header[0].startswith(starts)
          and "/.well-known/oauth-protected-resource/mcp" in header[0] and "McpApi" in json.dumps(header[1]),
          f"the MCP API's {status} says where its metadata is, at its own URL ({header[0]})")
deployment = resources["McpDeployment"]
check(set(deployment.get("DependsOn", [])) >= {"McpMethod", "McpMetadataMethod", "McpMetadataRootMethod",
                                               "McpUnauthorizedResponse", "McpAccessDeniedResponse"},
      "the MCP API's deployment is made after its methods and gateway responses (a deployment is a snapshot)")
check(resources["McpDomainName"].get("Condition") == "McpDomainCreated"
      and resources["McpBasePathMapping"]["Properties"].get("BasePath") in (None, ""),
      "with McpBaseUrl and a certificate, the custom domain maps the MCP API at its root (the RFC 9728 well-known URL routes)")

# Hardening an experienced SAM user expects.
check(props.get("DeletionProtectionEnabled") is True, "the table has deletion protection")
check(props["SSESpecification"]["SSEEnabled"] == {"Fn::If": ["UseTableKmsKey", True, False]},
      "the table's KMS key (and its charge) only when TableKmsKey is true")
for api in ("TokenApi", "ExampleApi", "McpApi"):
    check(resources[api]["Properties"].get("EndpointConfiguration", {}).get("Types") == ["REGIONAL"], f"{api} is a REGIONAL endpoint")
responses = rest.get("x-amazon-apigateway-gateway-responses", {})
check(responses.get("UNAUTHORIZED", {}).get("responseParameters", {}).get("gatewayresponse.header.WWW-Authenticate") == "'Bearer'",
      "401 from the example API carries WWW-Authenticate: Bearer")
check("insufficient_scope" in responses.get("ACCESS_DENIED", {}).get("responseParameters", {}).get("gatewayresponse.header.WWW-Authenticate", ""),
      "403 from the example API carries error=\"insufficient_scope\"")
check(auth["x-amazon-apigateway-authorizer"].get("identityValidationExpression") == template["Parameters"]["TokenValidationExpression"]["Default"],
      "the TOKEN authorizer validates the header with the TokenValidationExpression parameter")
for function in ("TokenServiceFunction", "AuthorizerFunction", "ExampleBackendFunction", "McpAuthorizerFunction", "McpServerFunction"):
    logging_config = resources[function]["Properties"].get("LoggingConfig", {})
    group = logging_config.get("LogGroup", {}).get("Ref")
    check(logging_config.get("LogFormat") == "JSON" and logging_config.get("ApplicationLogLevel") == {"Ref": "LogLevel"}
          and group in resources and resources[group]["Properties"].get("RetentionInDays") == {"Ref": "LogRetentionDays"},
          f"{function} logs JSON at LogLevel into a log group of the stack kept LogRetentionDays")
alarms = {k: r["Properties"] for k, r in resources.items() if r["Type"] == "AWS::CloudWatch::Alarm"}
check(len(alarms) >= 8 and all(a.get("AlarmActions") == {"Fn::If": ["AlarmTopicGiven", [{"Ref": "AlarmTopicArn"}], {"Ref": "AWS::NoValue"}]}
                               for a in alarms.values()), f"every alarm notifies AlarmTopicArn when given ({sorted(alarms)})")

print(f"template: {len(failures)} failed")
sys.exit(1 if failures else 0)
