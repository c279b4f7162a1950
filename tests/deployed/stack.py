"""The stack as deployed: `sam deploy` of the real template.yaml onto a local
AWS emulator (MiniStack, started by scripts/emulator.sh with IAM enforced),
then, where the emulator falls short of AWS, its state repaired through its
own AWS APIs (`repair_emulator_gaps`, the one place that does so).

    stack.py deploy --stack NAME [--param KEY=VALUE ...]

builds nothing: it packages the host-architecture binaries that
`cargo build --bins` made (CARGO_TARGET_DIR) the way `sam build` lays out its
artifacts, deploys, repairs, and prints the stack's URLs as the emulator
serves them (JSON). Run with the project's tools Python (aws-sam-cli's boto3
and SAM translator), with AWS_ENDPOINT_URL pointing at the emulator.
"""

import argparse
import copy
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile

import boto3
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

# The translator warns of feature toggles it was not given: noise, not findings.
logging.getLogger("samtranslator").setLevel(logging.ERROR)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FUNCTIONS = {"TokenServiceFunction": "token-service", "AuthorizerFunction": "authorizer", "McpAuthorizerFunction": "authorizer"}
AUTHORIZERS = [logical_id for logical_id, binary in FUNCTIONS.items() if binary == "authorizer"]


def endpoint() -> str:
    return os.environ["AWS_ENDPOINT_URL"].rstrip("/")


def load_template() -> dict:
    with open(os.path.join(ROOT, "template.yaml")) as f:
        return yaml_parse(f.read())


def package(build_dir: str) -> str:
    """What `sam build` makes (a template whose functions' CodeUri is a folder
    holding `bootstrap`), but with this machine's binaries: the emulator runs
    provided.al2023 bootstraps as local processes, so arm64 ones cannot run here."""
    target = os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), "debug")
    template = load_template()
    for logical_id, binary in FUNCTIONS.items():
        folder = os.path.join(build_dir, logical_id)
        os.makedirs(folder, exist_ok=True)
        # Debug info is most of a debug binary's size and none of its behaviour.
        subprocess.run(["strip", "-o", os.path.join(folder, "bootstrap"), os.path.join(target, binary)], check=True)
        resource = template["Resources"][logical_id]
        resource.pop("Metadata", None)
        resource["Properties"]["CodeUri"] = logical_id
    path = os.path.join(build_dir, "template.json")
    with open(path, "w") as f:
        json.dump(template, f, indent=1)
    return path


def deploy(stack: str, params: dict) -> None:
    build_dir = tempfile.mkdtemp(prefix="stack-build-")
    try:
        template = package(build_dir)
        bucket = f"{stack}-artifacts"
        s3 = boto3.client("s3")
        if bucket not in [b["Name"] for b in s3.list_buckets().get("Buckets", [])]:
            s3.create_bucket(Bucket=bucket)
        command = ["sam", "deploy", "--template-file", template, "--stack-name", stack, "--s3-bucket", bucket,
                   "--capabilities", "CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND",
                   "--no-confirm-changeset", "--no-fail-on-empty-changeset", "--no-progressbar"]
        if params:
            command += ["--parameter-overrides"] + [f"{k}={v}" for k, v in params.items()]
        result = subprocess.run(command, cwd=build_dir, capture_output=True, text=True)
        if result.returncode != 0:
            sys.exit(f"sam deploy failed:\n{result.stdout}\n{result.stderr}")
    finally:
        shutil.rmtree(build_dir, ignore_errors=True)


def stack_outputs(stack: str) -> dict:
    described = boto3.client("cloudformation").describe_stacks(StackName=stack)["Stacks"][0]
    return {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])}


def physical_ids(stack: str) -> dict:
    cfn = boto3.client("cloudformation")
    pages = cfn.get_paginator("list_stack_resources").paginate(StackName=stack)
    return {r["LogicalResourceId"]: r["PhysicalResourceId"] for page in pages for r in page["StackResourceSummaries"]}


def translated(params: dict) -> dict:
    """The template as SAM translates it for these parameter values: what AWS
    would create, to repair the emulator towards."""

    class NoManagedPolicies:
        def load(self):
            return {}

    template = load_template()
    for resource in template["Resources"].values():
        if "CodeUri" in resource.get("Properties", {}):
            resource["Properties"]["CodeUri"] = "s3://bucket/code.zip"
    values = {"AWS::Region": boto3.session.Session().region_name, "AWS::AccountId": "000000000000"}
    for name, spec in template.get("Parameters", {}).items():
        values[name] = spec.get("Default")
    values.update(params)
    return transform(copy.deepcopy(template), values, NoManagedPolicies())


def data_plane(url: str, http_api: bool = False) -> str:
    """An execute-api URL as the emulator serves it: `*.execute-api` host names
    do not resolve here, so the emulator's path-based form is used."""
    rest = url.split("://", 1)[1]
    host, _, path = rest.partition("/")
    api_id = host.split(".", 1)[0]
    stage = "$default" if http_api else path.split("/", 1)[0]
    if not http_api:
        path = path.split("/", 1)[1] if "/" in path else ""
    return f"{endpoint()}/_aws/execute-api/{api_id}/{stage}/{path}"


def repair_emulator_gaps(stack: str, params: dict) -> None:
    """Every place where MiniStack 1.5.33 falls short of AWS, bridged through
    the emulator's own AWS APIs towards what AWS would have created from the
    same template. Nothing here changes the product or the template."""
    # Gap 0, before the others: the default issuer is the token API's
    # `*.execute-api` URL, which does not resolve here, so API Gateway's JWT
    # authorizer could not read its discovery document (and would try the
    # network). The stack is deployed again with the token API's address on
    # the emulator as its Issuer, as a custom domain is given on AWS.
    # So is the MCP API's, which is given as McpBaseUrl as a custom domain
    # would be; and, as docs/mcp.md tells one who changes McpBaseUrl, the API
    # is deployed again for its 401 and 403 to name it.
    redeploy = {}
    if not params.get("Issuer"):
        redeploy["Issuer"] = data_plane(stack_outputs(stack)["IssuerUrl"]).rstrip("/")
    if not params.get("McpBaseUrl"):
        redeploy["McpBaseUrl"] = data_plane(stack_outputs(stack)["McpServerUrl"]).rstrip("/").removesuffix("/mcp")
    if redeploy:
        params = {**params, **redeploy}
        deploy(stack, params)
    ids = physical_ids(stack)
    if "McpBaseUrl" in redeploy:
        boto3.client("apigateway").create_deployment(restApiId=ids["McpApi"], stageName="prod")
    cfn = translated(params)["Resources"]
    apigw = boto3.client("apigateway")
    apigw2 = boto3.client("apigatewayv2")
    aws_lambda = boto3.client("lambda")
    region = boto3.session.Session().region_name
    account = boto3.client("sts").get_caller_identity()["Account"]
    template_defaults = {k: v.get("Default") for k, v in load_template().get("Parameters", {}).items()}

    def function_arn(logical_id):
        return aws_lambda.get_function(FunctionName=ids[logical_id])["Configuration"]["FunctionArn"]

    conditions = translated(params).get("Conditions", {})

    def resolve(value):
        """The intrinsic functions the translated API bodies use, with this stack's values."""
        if not isinstance(value, dict):
            return value
        if "Ref" in value:
            if value["Ref"] in ids:
                return ids[value["Ref"]]
            return params.get(value["Ref"], template_defaults[value["Ref"]])
        if "Fn::GetAtt" in value:
            logical_id, attribute = value["Fn::GetAtt"]
            assert attribute == "Arn", value
            return function_arn(logical_id)
        if "Fn::If" in value:
            name, then, otherwise = value["Fn::If"]
            return resolve(then if holds(conditions[name]) else otherwise)
        text, variables = value["Fn::Sub"] if isinstance(value["Fn::Sub"], list) else (value["Fn::Sub"], {})
        names = {"AWS::Partition": "aws", "AWS::Region": region, "AWS::AccountId": account, "AWS::StackName": stack,
                 "AWS::URLSuffix": "amazonaws.com"}
        names.update({k: resolve(v) for k, v in variables.items()})
        for name in re.findall(r"\$\{([^}]+)\}", text):
            if name not in names and name in ids:
                names[name] = ids[name]
            elif name not in names:
                logical_id, attribute = name.split(".")
                assert attribute == "Arn", name
                names[name] = function_arn(logical_id)
            text = text.replace("${" + name + "}", str(names[name]))
        return text

    def holds(condition):
        """A template condition (Fn::Not, Fn::Equals) for this stack's parameters."""
        if "Fn::Not" in condition:
            return not holds(condition["Fn::Not"][0])
        if "Fn::Equals" in condition:
            left, right = condition["Fn::Equals"]
            return resolve(left) == resolve(right)
        return holds(conditions[condition["Condition"]])

    # Gap 1: a REST API body's `x-amazon-apigateway-any-method` is not imported
    # (the example API's ANY /items and ANY /items/{proxy+} have no method), and
    # the SAM transform runs on the parameters' defaults, so the authorizer's
    # cache time (ReauthorizeEvery) is not the deployed value.
    api_id = ids["ExampleApi"]
    body = cfn["ExampleApi"]["Properties"]["Body"]
    scheme = body["components"]["securitySchemes"]["OAuthAuthorizer"]["x-amazon-apigateway-authorizer"]
    authorizer = next(a for a in apigw.get_authorizers(restApiId=api_id)["items"] if a["name"] == "OAuthAuthorizer")
    apigw.update_authorizer(restApiId=api_id, authorizerId=authorizer["id"], patchOperations=[
        {"op": "replace", "path": "/authorizerResultTtlInSeconds", "value": str(resolve(scheme["authorizerResultTtlInSeconds"]))}])
    resources = {r["path"]: r for r in apigw.get_resources(restApiId=api_id)["items"]}
    for path, operations in body["paths"].items():
        operation = operations.get("x-amazon-apigateway-any-method")
        if operation is None or "ANY" in resources[path].get("resourceMethods", {}):
            continue
        integration = operation["x-amazon-apigateway-integration"]
        apigw.put_method(restApiId=api_id, resourceId=resources[path]["id"], httpMethod="ANY",
                         authorizationType="CUSTOM", authorizerId=authorizer["id"])
        apigw.put_integration(restApiId=api_id, resourceId=resources[path]["id"], httpMethod="ANY",
                              type=integration["type"].upper(), integrationHttpMethod=integration["httpMethod"],
                              uri=resolve(integration["uri"]))
    # Gap 2: nor is its `x-amazon-apigateway-gateway-responses` (the RFC 6750
    # WWW-Authenticate headers), which PutGatewayResponse sets as AWS would.
    for response_type, response in body.get("x-amazon-apigateway-gateway-responses", {}).items():
        apigw.put_gateway_response(restApiId=api_id, responseType=response_type, statusCode=response["statusCode"],
                                   responseParameters=response.get("responseParameters", {}),
                                   responseTemplates=response.get("responseTemplates", {}))
    apigw.create_deployment(restApiId=api_id, stageName="prod")

    # Gap 3: an HTTP API's OpenAPI body is not imported at all: no routes, no
    # integrations, no authorizers.
    http_id = ids["ExampleHttpApi"]
    body = cfn["ExampleHttpApi"]["Properties"]["Body"]
    if not apigw2.get_routes(ApiId=http_id)["Items"]:
        authorizers = {}
        for name, scheme in body["components"]["securitySchemes"].items():
            spec = scheme["x-amazon-apigateway-authorizer"]
            if spec["type"] == "jwt":
                jwt_config = spec["jwtConfiguration"]
                authorizers[name] = ("JWT", apigw2.create_authorizer(
                    ApiId=http_id, Name=name, AuthorizerType="JWT", IdentitySource=[spec["identitySource"]],
                    JwtConfiguration={"Issuer": resolve(jwt_config["issuer"]),
                                      "Audience": [resolve(a) for a in jwt_config["audience"]]},
                )["AuthorizerId"])
            else:
                authorizers[name] = ("CUSTOM", apigw2.create_authorizer(
                    ApiId=http_id, Name=name, AuthorizerType="REQUEST",
                    AuthorizerUri=resolve(spec["authorizerUri"]),
                    AuthorizerPayloadFormatVersion=spec["authorizerPayloadFormatVersion"],
                    EnableSimpleResponses=spec.get("enableSimpleResponses", False),
                    AuthorizerResultTtlInSeconds=int(resolve(spec["authorizerResultTtlInSeconds"])),
                    IdentitySource=spec["identitySource"],
                )["AuthorizerId"])
        integrations = {}
        for path, operations in body["paths"].items():
            for verb, operation in operations.items():
                integration = operation["x-amazon-apigateway-integration"]
                uri = resolve(integration["uri"])
                if uri not in integrations:
                    integrations[uri] = apigw2.create_integration(
                        ApiId=http_id, IntegrationType="AWS_PROXY", IntegrationUri=uri,
                        IntegrationMethod=integration["httpMethod"],
                        PayloadFormatVersion=integration["payloadFormatVersion"])["IntegrationId"]
                (name, scopes), = operation["security"][0].items()
                kind, authorizer_id = authorizers[name]
                method = "ANY" if verb == "x-amazon-apigateway-any-method" else verb.upper()
                apigw2.create_route(ApiId=http_id, RouteKey=f"{method} {path}", AuthorizationType=kind,
                                    AuthorizerId=authorizer_id, AuthorizationScopes=scopes,
                                    Target=f"integrations/{integrations[uri]}")

    # Gap 4: `Ref` of a secret gives its name where AWS gives its ARN, so the
    # authorizer's role allowed GetSecretValue on a name (which matches no
    # request) and the function was told the name. Both get the ARN, as on AWS.
    secret_name = ids["AuthorizerCredentials"]
    secret_arn = boto3.client("secretsmanager").describe_secret(SecretId=secret_name)["ARN"]
    iam = boto3.client("iam")
    for role in (ids[f"{logical_id}Role"] for logical_id in AUTHORIZERS):
        for policy in iam.list_role_policies(RoleName=role)["PolicyNames"]:
            document = json.dumps(iam.get_role_policy(RoleName=role, PolicyName=policy)["PolicyDocument"])
            if json.dumps(secret_name) in document:
                iam.put_role_policy(RoleName=role, PolicyName=policy,
                                    PolicyDocument=document.replace(json.dumps(secret_name), json.dumps(secret_arn)))

    # Gap 5: Lambda tells a function its LoggingConfig through
    # AWS_LAMBDA_LOG_FORMAT and AWS_LAMBDA_LOG_LEVEL; the emulator does not.
    for logical_id in FUNCTIONS:
        configuration = aws_lambda.get_function_configuration(FunctionName=ids[logical_id])
        logging_config = configuration.get("LoggingConfig", {})
        variables = configuration.get("Environment", {}).get("Variables", {})
        wanted = {"AWS_LAMBDA_LOG_FORMAT": logging_config.get("LogFormat", "Text")}
        if logging_config.get("LogFormat") == "JSON":
            wanted["AWS_LAMBDA_LOG_LEVEL"] = logging_config.get("ApplicationLogLevel", "INFO")
        if any(variables.get(k) != v for k, v in wanted.items()):
            aws_lambda.update_function_configuration(FunctionName=ids[logical_id],
                                                     Environment={"Variables": {**variables, **wanted}})
            aws_lambda.get_waiter("function_updated_v2").wait(FunctionName=ids[logical_id])

    # Gap 6: and the functions were told the secret's name: they get the ARN.
    for function in (ids[logical_id] for logical_id in AUTHORIZERS):
        variables = aws_lambda.get_function_configuration(FunctionName=function)["Environment"]["Variables"]
        if variables["RESOURCE_SERVER_CREDENTIALS_SECRET_ID"] == secret_name:
            variables["RESOURCE_SERVER_CREDENTIALS_SECRET_ID"] = secret_arn
            aws_lambda.update_function_configuration(FunctionName=function, Environment={"Variables": variables})
            aws_lambda.get_waiter("function_updated_v2").wait(FunctionName=function)


def urls(stack: str) -> dict:
    outputs = stack_outputs(stack)
    region = boto3.session.Session().region_name
    return {
        "Stack": stack,
        "Issuer": outputs["IssuerUrl"],
        "TokenApi": data_plane(f"https://{physical_ids(stack)['TokenApi']}.execute-api.{region}.amazonaws.com/prod"),
        "ExampleApi": data_plane(outputs["ExampleApiUrl"]),
        "ExampleHttpApi": data_plane(outputs["ExampleHttpApiUrl"], http_api=True),
        "JwtItems": data_plane(outputs["ExampleJwtItemsUrl"], http_api=True),
        "McpServer": outputs["McpServerUrl"],
        "McpResourceMetadata": outputs["McpResourceMetadataUrl"],
        "TableName": outputs["TableName"],
        "AuthorizerCredentialsSecret": outputs["AuthorizerCredentialsSecretArn"],
        "SigningKeyKmsKeyArn": outputs["SigningKeyKmsKeyArn"],
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("command", choices=["deploy"])
    parser.add_argument("--stack", required=True)
    parser.add_argument("--param", action="append", default=[], help="KEY=VALUE, a template parameter")
    args = parser.parse_args()
    params = dict(p.split("=", 1) for p in args.param)
    deploy(args.stack, params)
    repair_emulator_gaps(args.stack, params)
    json.dump(urls(args.stack), sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
