//! The Lambda adapter: tells the three authorizer event kinds apart by their
//! shape, takes the token from each, and shapes the decision as each expects.
//!
//! | event | token from | answer |
//! |---|---|---|
//! | REST `TOKEN` | `authorizationToken` | IAM policy |
//! | REST `REQUEST` | the `Authorization` header | IAM policy |
//! | HTTP API, payload 2.0 | the `Authorization` header | simple response or IAM policy (`HTTP_API_RESPONSE`) |
//!
//! Never from a query string (RFC 9700 §4.3.2).

use aws_lambda_events::apigw::{
    ApiGatewayCustomAuthorizerPolicy, ApiGatewayCustomAuthorizerRequest,
    ApiGatewayCustomAuthorizerRequestTypeRequest, ApiGatewayCustomAuthorizerResponse,
    ApiGatewayV2CustomAuthorizerSimpleResponse, ApiGatewayV2CustomAuthorizerV2Request,
};
use http::header::AUTHORIZATION;
use http::HeaderMap;
use lambda_runtime::Diagnostic;
use serde_json::{Map, Value};

use crate::config::HttpApiResponse;
use crate::decision::{Authorizer, Decision};
use crate::policy::{deny_all, policy_document, ApiArn};
use crate::token::TokenInfo;

/// Why the authorizer answers with a Lambda error instead of a policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The error `Unauthorized`, which API Gateway turns into 401.
    Unauthorized,
    /// Any other error: API Gateway answers 500 and lets nothing through.
    Failed(String),
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            // API Gateway matches this exact message.
            Refusal::Unauthorized => f.write_str("Unauthorized"),
            Refusal::Failed(why) => write!(f, "authorizer failure: {why}"),
        }
    }
}

impl std::error::Error for Refusal {}

impl From<Refusal> for Diagnostic {
    fn from(refusal: Refusal) -> Self {
        let error_type = match refusal {
            Refusal::Unauthorized => "Unauthorized",
            Refusal::Failed(_) => "AuthorizerFailure",
        };
        Diagnostic {
            error_type: error_type.to_owned(),
            error_message: refusal.to_string(),
        }
    }
}

enum Kind {
    RestToken,
    RestRequest,
    HttpApi,
}

fn kind(event: &Value) -> Option<Kind> {
    if event.get("version").and_then(Value::as_str) == Some("2.0") {
        return Some(Kind::HttpApi);
    }
    match event.get("type").and_then(Value::as_str) {
        Some("TOKEN") => Some(Kind::RestToken),
        Some("REQUEST") => Some(Kind::RestRequest),
        _ => None,
    }
}

/// The one `Authorization` header; several are refused as ambiguous.
fn authorization_header(headers: &HeaderMap) -> Result<Option<&str>, Refusal> {
    let mut values = headers.get_all(AUTHORIZATION).iter();
    match (values.next(), values.next()) {
        (None, _) => Ok(None),
        (Some(v), None) => Ok(v.to_str().ok()),
        (Some(_), Some(_)) => Err(Refusal::Unauthorized),
    }
}

/// Answers one authorizer event.
pub async fn handle(authorizer: &Authorizer, event: Value) -> Result<Value, Refusal> {
    let kind = kind(&event).ok_or_else(|| Refusal::Failed("not an API Gateway authorizer event".into()))?;
    let malformed = |e: serde_json::Error| Refusal::Failed(format!("malformed authorizer event: {e}"));
    let (authorization, arn) = match kind {
        Kind::RestToken => {
            let event: ApiGatewayCustomAuthorizerRequest =
                serde_json::from_value(event).map_err(malformed)?;
            (event.authorization_token, event.method_arn)
        }
        Kind::RestRequest => {
            let event: ApiGatewayCustomAuthorizerRequestTypeRequest =
                serde_json::from_value(event).map_err(malformed)?;
            // lambda events put single- and multi-value headers side by side.
            let header = match authorization_header(&event.multi_value_headers)? {
                Some(value) => Some(value.to_owned()),
                None => authorization_header(&event.headers)?.map(str::to_owned),
            };
            (header, event.method_arn)
        }
        Kind::HttpApi => {
            let event: ApiGatewayV2CustomAuthorizerV2Request =
                serde_json::from_value(event).map_err(malformed)?;
            (
                authorization_header(&event.headers)?.map(str::to_owned),
                event.route_arn,
            )
        }
    };
    let arn = arn
        .as_deref()
        .and_then(ApiArn::parse)
        .ok_or_else(|| Refusal::Failed("the event has no valid method or route ARN".into()))?;

    let decision = authorizer
        .decide(authorization.as_deref(), &arn.method, &arn.path)
        .await;
    let simple = matches!(kind, Kind::HttpApi) && authorizer.http_api_response() == HttpApiResponse::Simple;
    let (info, allowed) = match decision {
        Decision::Allow(info) => (info, true),
        Decision::Forbidden(info) => (info, false),
        Decision::Unauthorized(why) => {
            tracing::info!(reason = why, "unauthorized");
            // HTTP APIs have no "Unauthorized" error: any error is a 500 there.
            // A token that is no good is refused on every route (403) instead;
            // a missing header never reaches the authorizer (API Gateway's 401).
            return match kind {
                Kind::HttpApi if simple => Ok(simple_response(false, Map::new())),
                Kind::HttpApi => Ok(policy_response("anonymous", deny_all(&arn), Map::new())),
                _ => Err(Refusal::Unauthorized),
            };
        }
        Decision::Failed(why) => {
            // Fail closed, and say why (never with the token).
            tracing::error!(reason = %why, "introspection failed; denying");
            return Err(Refusal::Failed(why.to_string()));
        }
    };
    tracing::info!(principal = info.principal_id(), allowed, "authorized");
    let context = context(&info);
    Ok(if simple {
        simple_response(allowed, context)
    } else {
        // Cache-safe: the policy covers every route, not only this one.
        let policy = policy_document(authorizer.rules(), &info.scopes, &arn);
        policy_response(info.principal_id(), policy, context)
    })
}

/// An IAM policy answer, the same shape for REST and HTTP APIs.
fn policy_response(
    principal: &str,
    policy: ApiGatewayCustomAuthorizerPolicy,
    context: Map<String, Value>,
) -> Value {
    let mut response = ApiGatewayCustomAuthorizerResponse::<Map<String, Value>>::default();
    response.principal_id = Some(principal.to_owned());
    response.policy_document = policy;
    response.context = context;
    to_json(&response)
}

/// An HTTP API simple answer (`enableSimpleResponses`).
fn simple_response(is_authorized: bool, context: Map<String, Value>) -> Value {
    let mut response = ApiGatewayV2CustomAuthorizerSimpleResponse::<Map<String, Value>>::default();
    response.is_authorized = is_authorized;
    response.context = context;
    to_json(&response)
}

/// The answer as JSON, without the fields it leaves unset (such as
/// `usageIdentifierKey`): only what AWS documents the output to have.
fn to_json(response: &impl serde::Serialize) -> Value {
    let mut json = serde_json::to_value(response).unwrap_or_default();
    if let Value::Object(fields) = &mut json {
        fields.retain(|_, v| !v.is_null());
    }
    json
}

/// What the backend sees as the authorizer context: strings and numbers only
/// (API Gateway refuses anything else with a 500).
fn context(info: &TokenInfo) -> Map<String, Value> {
    let mut context = Map::new();
    if let Some(client_id) = &info.client_id {
        context.insert("client_id".into(), client_id.clone().into());
    }
    if let Some(username) = &info.username {
        context.insert("username".into(), username.clone().into());
    }
    context.insert("scope".into(), info.scope.clone().into());
    if let Some(exp) = info.exp {
        context.insert("exp".into(), exp.into());
    }
    context.insert("token_type".into(), "Bearer".into());
    context
}
