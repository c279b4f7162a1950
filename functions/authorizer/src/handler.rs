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
    ApiGatewayCustomAuthorizerRequestTypeRequest, ApiGatewayV2CustomAuthorizerV2Request,
};
use http::header::AUTHORIZATION;
use http::HeaderMap;
use lambda_runtime::Diagnostic;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::value::RawValue;
use serde_json::Value;

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

/// An authorizer event as API Gateway sends it, read straight from the
/// invocation's bytes into the type of its kind (a `serde_json::Value` in
/// between cost an HTTP API decision a third of its instructions).
///
/// Reading one never fails on JSON: what is no authorizer event, or is
/// malformed, is kept as such and refused by [`handle`] (fail closed, with the
/// reason).
#[derive(Debug)]
pub enum AuthorizerEvent {
    /// REST API `TOKEN` authorizer.
    RestToken(Box<ApiGatewayCustomAuthorizerRequest>),
    /// REST API `REQUEST` authorizer.
    RestRequest(Box<ApiGatewayCustomAuthorizerRequestTypeRequest>),
    /// HTTP API authorizer, payload format 2.0.
    HttpApi(Box<ApiGatewayV2CustomAuthorizerV2Request>),
    /// JSON that is no API Gateway authorizer event.
    Unknown,
    /// An authorizer event whose members do not read as their kind's.
    Malformed(String),
}

impl<'de> Deserialize<'de> for AuthorizerEvent {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        /// The members that tell the kinds apart, whatever their types.
        #[derive(Deserialize)]
        struct Shape {
            #[serde(default)]
            version: Value,
            #[serde(default, rename = "type")]
            kind: Value,
        }
        fn read<T: DeserializeOwned>(json: &str, kind: fn(Box<T>) -> AuthorizerEvent) -> AuthorizerEvent {
            serde_json::from_str(json).map_or_else(|e| AuthorizerEvent::Malformed(e.to_string()), kind)
        }

        let raw = Box::<RawValue>::deserialize(deserializer)?;
        let json = raw.get();
        let Ok(shape) = serde_json::from_str::<Shape>(json) else {
            return Ok(AuthorizerEvent::Unknown);
        };
        Ok(if shape.version.as_str() == Some("2.0") {
            read(json, AuthorizerEvent::HttpApi)
        } else {
            match shape.kind.as_str() {
                Some("TOKEN") => read(json, AuthorizerEvent::RestToken),
                Some("REQUEST") => read(json, AuthorizerEvent::RestRequest),
                _ => AuthorizerEvent::Unknown,
            }
        })
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

/// What the authorizer answers API Gateway: only the members AWS documents,
/// none of them null. Serialised straight into the Lambda response (building
/// a `serde_json::Value` first was a sixth of a warm decision's instructions).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Answer {
    /// An IAM policy, the same shape for REST and HTTP APIs.
    #[serde(rename_all = "camelCase")]
    Policy {
        principal_id: String,
        policy_document: ApiGatewayCustomAuthorizerPolicy,
        context: Context,
    },
    /// An HTTP API simple answer (`enableSimpleResponses`).
    #[serde(rename_all = "camelCase")]
    Simple { is_authorized: bool, context: Context },
}

/// What the backend sees as the authorizer context: strings and numbers only
/// (API Gateway refuses anything else with a 500). Empty for a token that is
/// no good.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Context {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exp: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_type: Option<&'static str>,
}

/// Answers one authorizer event.
pub async fn handle(authorizer: &Authorizer, event: AuthorizerEvent) -> Result<Answer, Refusal> {
    let (http_api, authorization, arn) = match event {
        AuthorizerEvent::RestToken(event) => (false, event.authorization_token, event.method_arn),
        AuthorizerEvent::RestRequest(event) => {
            // lambda events put single- and multi-value headers side by side.
            let header = match authorization_header(&event.multi_value_headers)? {
                Some(value) => Some(value.to_owned()),
                None => authorization_header(&event.headers)?.map(str::to_owned),
            };
            (false, header, event.method_arn)
        }
        AuthorizerEvent::HttpApi(event) => (
            true,
            authorization_header(&event.headers)?.map(str::to_owned),
            event.route_arn,
        ),
        AuthorizerEvent::Unknown => {
            return Err(Refusal::Failed("not an API Gateway authorizer event".into()))
        }
        AuthorizerEvent::Malformed(e) => {
            return Err(Refusal::Failed(format!("malformed authorizer event: {e}")))
        }
    };
    let arn = arn
        .as_deref()
        .and_then(ApiArn::parse)
        .ok_or_else(|| Refusal::Failed("the event has no valid method or route ARN".into()))?;

    let decision = authorizer
        .decide(authorization.as_deref(), &arn.method, &arn.path)
        .await;
    let simple = http_api && authorizer.http_api_response() == HttpApiResponse::Simple;
    let (info, allowed) = match decision {
        Decision::Allow(info) => (info, true),
        Decision::Forbidden(info) => (info, false),
        Decision::Unauthorized(why) => {
            tracing::info!(reason = why, "unauthorized");
            // HTTP APIs have no "Unauthorized" error: any error is a 500 there.
            // A token that is no good is refused on every route (403) instead;
            // a missing header never reaches the authorizer (API Gateway's 401).
            return if simple {
                Ok(Answer::Simple {
                    is_authorized: false,
                    context: Context::default(),
                })
            } else if http_api {
                Ok(Answer::Policy {
                    principal_id: "anonymous".to_owned(),
                    policy_document: deny_all(&arn),
                    context: Context::default(),
                })
            } else {
                Err(Refusal::Unauthorized)
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
        Answer::Simple {
            is_authorized: allowed,
            context,
        }
    } else {
        Answer::Policy {
            principal_id: info.principal_id().to_owned(),
            // Cache-safe: the policy covers every route, not only this one.
            policy_document: policy_document(authorizer.rules(), &info.scopes, &arn),
            context,
        }
    })
}

fn context(info: &TokenInfo) -> Context {
    Context {
        client_id: info.client_id.clone(),
        username: info.username.clone(),
        scope: Some(info.scope.clone()),
        exp: info.exp,
        token_type: Some("Bearer"),
    }
}
