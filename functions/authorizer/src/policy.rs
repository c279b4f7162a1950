//! Cache-safe IAM policies.
//!
//! API Gateway caches an authorizer's answer per token and applies it to every
//! route of the API, so a policy never names only the route being called: it
//! allows every method and path of this API and stage, and denies each rule
//! the token's scopes do not meet. IAM lets any matching Deny win, which is
//! exactly the rule semantics (every matching rule must be met).

use aws_lambda_events::apigw::ApiGatewayCustomAuthorizerPolicy;
use aws_lambda_events::iam::{IamPolicyEffect, IamPolicyStatement};
use shared::scope::ScopeSet;

use crate::rules::Rules;

/// A parsed `methodArn` / `routeArn`:
/// `arn:PARTITION:execute-api:REGION:ACCOUNT:API_ID/STAGE/METHOD/PATH...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiArn {
    /// `arn:...:API_ID/STAGE`: the API and stage every statement is scoped to.
    pub api_stage: String,
    /// The request's method.
    pub method: String,
    /// The request's path, starting with `/`.
    pub path: String,
}

impl ApiArn {
    /// Parses an execute-api ARN; `None` if it is not one.
    pub fn parse(arn: &str) -> Option<Self> {
        let parts: Vec<&str> = arn.splitn(6, ':').collect();
        let [scheme, partition, service, region, account, resource] = parts.as_slice() else {
            return None;
        };
        if *scheme != "arn"
            || *service != "execute-api"
            || partition.is_empty()
            || region.is_empty()
            || account.is_empty()
        {
            return None;
        }
        let mut segments = resource.splitn(4, '/');
        let (Some(api), Some(stage), Some(method)) = (segments.next(), segments.next(), segments.next())
        else {
            return None;
        };
        if api.is_empty() || stage.is_empty() || method.is_empty() {
            return None;
        }
        let path = format!("/{}", segments.next().unwrap_or(""));
        Some(Self {
            api_stage: format!("{scheme}:{partition}:{service}:{region}:{account}:{api}/{stage}"),
            method: method.to_owned(),
            path,
        })
    }
}

/// The policy document for a token with `scopes` on this API and stage.
pub fn policy_document(rules: &Rules, scopes: &ScopeSet, arn: &ApiArn) -> ApiGatewayCustomAuthorizerPolicy {
    let rule_arns = |rule: &crate::rules::Rule| -> Vec<String> {
        rule.methods()
            .into_iter()
            .map(|method| format!("{}/{method}/{}", arn.api_stage, rule.resource_path()))
            .collect()
    };
    // Everything, or with unmatched routes denied only the routes of the
    // rules the token meets (nothing else is allowed, IAM's default).
    let allowed: Vec<String> = if rules.denies_unmatched() {
        distinct(rules.met(scopes).flat_map(rule_arns))
    } else {
        vec![format!("{}/*/*", arn.api_stage)]
    };
    if allowed.is_empty() {
        return deny_all(arn);
    }
    let mut statements = vec![statement(IamPolicyEffect::Allow, allowed)];
    let denied = distinct(rules.unmet(scopes).flat_map(rule_arns));
    if !denied.is_empty() {
        statements.push(statement(IamPolicyEffect::Deny, denied));
    }
    document(statements)
}

fn statement(effect: IamPolicyEffect, resource: Vec<String>) -> IamPolicyStatement {
    let mut statement = IamPolicyStatement::default();
    statement.action = vec!["execute-api:Invoke".to_owned()];
    statement.effect = effect;
    statement.resource = resource;
    statement
}

fn document(statements: Vec<IamPolicyStatement>) -> ApiGatewayCustomAuthorizerPolicy {
    let mut document = ApiGatewayCustomAuthorizerPolicy::default();
    document.version = Some("2012-10-17".to_owned());
    document.statement = statements;
    document
}

/// Each resource once, in first-seen order (rules may overlap).
fn distinct(resources: impl Iterator<Item = String>) -> Vec<String> {
    let mut unique: Vec<String> = Vec::new();
    for resource in resources {
        if !unique.contains(&resource) {
            unique.push(resource);
        }
    }
    unique
}

/// The policy refusing every method and path of this API and stage: the
/// answer for a token that is no good anywhere.
pub fn deny_all(arn: &ApiArn) -> ApiGatewayCustomAuthorizerPolicy {
    document(vec![statement(
        IamPolicyEffect::Deny,
        vec![format!("{}/*/*", arn.api_stage)],
    )])
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};
    use shared::scope::parse_scope;

    fn policy_document(rules: &Rules, scopes: &ScopeSet, arn: &ApiArn) -> Value {
        serde_json::to_value(super::policy_document(rules, scopes, arn)).unwrap()
    }

    /// With unmatched routes denied, the policy allows only the routes of the
    /// rules the token meets, and still denies the unmet ones over them.
    #[test]
    fn with_unmatched_routes_denied_only_met_rules_are_allowed() {
        let arn = ApiArn::parse("arn:aws:execute-api:us-east-1:1:api/prod/GET/items/7").unwrap();
        let mut rules = Rules::parse("GET /items/* = read\nPOST /items = write").unwrap();
        rules.deny_unmatched();
        let doc = policy_document(&rules, &parse_scope("read").unwrap(), &arn);
        assert_eq!(doc["Statement"][0]["Effect"], "Allow");
        assert_eq!(
            doc["Statement"][0]["Resource"],
            json!(["arn:aws:execute-api:us-east-1:1:api/prod/GET/items/*"])
        );
        assert_eq!(
            doc["Statement"][1]["Resource"],
            json!(["arn:aws:execute-api:us-east-1:1:api/prod/POST/items"])
        );
        let none = policy_document(&rules, &parse_scope("introspection").unwrap(), &arn);
        assert_eq!(none, serde_json::to_value(deny_all(&arn)).unwrap());
    }

    #[test]
    fn arns_parse() {
        let arn =
            ApiArn::parse("arn:aws:execute-api:eu-west-1:123456789012:abc123/prod/GET/items/7").unwrap();
        assert_eq!(
            arn.api_stage,
            "arn:aws:execute-api:eu-west-1:123456789012:abc123/prod"
        );
        assert_eq!((arn.method.as_str(), arn.path.as_str()), ("GET", "/items/7"));
        let root = ApiArn::parse("arn:aws:execute-api:us-east-1:1:api/$default/GET/").unwrap();
        assert_eq!(root.path, "/");
        for bad in [
            "",
            "arn:aws:s3:::bucket",
            "arn:aws:execute-api:r:1:api/stage",
            "not an arn",
        ] {
            assert!(ApiArn::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn policies_allow_the_whole_stage_and_deny_unmet_rules() {
        let arn = ApiArn::parse("arn:aws:execute-api:us-east-1:1:api/prod/GET/items/7").unwrap();
        let rules = Rules::parse("GET /items/* = read\nPOST /items = write\n* /admin/* = admin").unwrap();
        let doc = policy_document(&rules, &parse_scope("read").unwrap(), &arn);
        assert_eq!(doc["Statement"][0]["Effect"], "Allow");
        assert_eq!(
            doc["Statement"][0]["Resource"],
            json!(["arn:aws:execute-api:us-east-1:1:api/prod/*/*"])
        );
        assert_eq!(doc["Statement"][1]["Effect"], "Deny");
        // "Any method" is every method by name: a `*` there would also match
        // `GET/x/admin/y`, a path the rule does not name.
        let mut denied = vec!["arn:aws:execute-api:us-east-1:1:api/prod/POST/items".to_owned()];
        for method in crate::rules::METHODS {
            denied.push(format!(
                "arn:aws:execute-api:us-east-1:1:api/prod/{method}/admin/*"
            ));
        }
        assert_eq!(doc["Statement"][1]["Resource"], json!(denied));
        let everything = policy_document(&rules, &parse_scope("read write admin").unwrap(), &arn);
        assert_eq!(everything["Statement"].as_array().unwrap().len(), 1);
    }
}
