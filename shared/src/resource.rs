//! RFC 8707 resource indicators: the resources this service issues tokens
//! for (`RESOURCES`), each with the scopes it accepts, and a request's
//! `resource` values resolved against them into a token's audience.
//!
//! Values are compared as browsers parse URLs (`https://API.example` and
//! `https://api.example/` are one resource); tokens carry the identifier as
//! configured.

use std::collections::{BTreeMap, BTreeSet};

use crate::scope::{parse_scope, ScopeSet, OFFLINE_ACCESS_SCOPE, OPENID_SCOPE};

/// The longest `resource` value read.
pub const MAX_RESOURCE_BYTES: usize = 2048;

/// The most `resource` values one request may name.
pub const MAX_RESOURCES_PER_REQUEST: usize = 8;

/// The authorization server's own scopes (OpenID Connect's), which go with
/// a token for any resource: they are for UserInfo, the ID token and the
/// grant's refresh tokens.
const OWN_SCOPES: [&str; 4] = [OPENID_SCOPE, "profile", "email", OFFLINE_ACCESS_SCOPE];

/// A token's audience: the identifiers of the resources it was issued for;
/// empty when its request named none.
pub type Audience = BTreeSet<String>;

/// A resource this service issues tokens for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resource {
    /// Its identifier as configured: what tokens carry as `aud`.
    pub identifier: String,
    /// The scopes a token for it may carry.
    pub scopes: ScopeSet,
}

/// Why a request's `resource` cannot be served: an `invalid_target`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetRefused(pub String);

/// The configured resources, by their identifiers' parsed form.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resources(BTreeMap<String, Resource>);

/// `value` as a URL parser writes it back, if it is an absolute URI
/// without a fragment (RFC 8707 §2): the form resources are compared in.
pub fn canonical(value: &str) -> Result<String, &'static str> {
    if value.len() > MAX_RESOURCE_BYTES {
        return Err("is too long");
    }
    if value.contains('#') {
        return Err("has a fragment");
    }
    if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("holds a space or a control character");
    }
    let url = url::Url::parse(value).map_err(|_| "is not an absolute URI")?;
    Ok(url.to_string())
}

impl Resources {
    /// `RESOURCES`: a JSON object of resource identifiers to the scopes
    /// each accepts, like `{"https://mcp.example.com/mcp": "read write"}`.
    pub fn parse_json(value: &str) -> Result<Self, String> {
        let map: BTreeMap<String, String> = serde_json::from_str(value).map_err(|e| {
            format!(
                r#"must be a JSON object of resource URIs to the scopes each accepts, like {{"https://api.example.com/": "read write"}} ({e})"#
            )
        })?;
        let mut resources = BTreeMap::new();
        for (identifier, scope) in map {
            let key = canonical(&identifier).map_err(|why| format!("{identifier:?} {why}"))?;
            let scopes = parse_scope(&scope).map_err(|bad| format!("{bad:?} is not a valid scope name"))?;
            if scopes.is_empty() {
                return Err(format!("{identifier:?} accepts no scope"));
            }
            let resource = Resource { identifier, scopes };
            if let Some(other) = resources.insert(key, resource) {
                return Err(format!("{:?} is named twice", other.identifier));
            }
        }
        Ok(Self(resources))
    }

    /// Every configured resource.
    pub fn iter(&self) -> impl Iterator<Item = &Resource> {
        self.0.values()
    }

    /// The resource `identifier` (as tokens carry it).
    pub fn get(&self, identifier: &str) -> Option<&Resource> {
        self.0.values().find(|r| r.identifier == identifier)
    }

    /// The audience a request naming `asked` gets: each value a configured
    /// resource; none named, none.
    pub fn resolve(&self, asked: &[&str]) -> Result<Audience, TargetRefused> {
        if asked.len() > MAX_RESOURCES_PER_REQUEST {
            return Err(TargetRefused(format!(
                "at most {MAX_RESOURCES_PER_REQUEST} resource values may be named"
            )));
        }
        asked
            .iter()
            .map(|value| {
                let key = canonical(value).map_err(|why| TargetRefused(format!("a resource {why}")))?;
                self.0.get(&key).map(|r| r.identifier.clone()).ok_or_else(|| {
                    TargetRefused(format!(
                        "resource {key:?} is not one this server issues tokens for"
                    ))
                })
            })
            .collect()
    }

    /// Whether a client limited to `allowed` (its `--resource`s; none: any)
    /// may have a token for `audience`; the first resource it may not.
    pub fn outside<'a>(allowed: &Audience, audience: &'a Audience) -> Option<&'a String> {
        if allowed.is_empty() {
            return None;
        }
        let allowed: Vec<String> = allowed.iter().filter_map(|a| canonical(a).ok()).collect();
        audience
            .iter()
            .find(|id| canonical(id).map_or(true, |id| !allowed.contains(&id)))
    }

    /// The audience a request naming `asked` gets from a grant made for
    /// `granted`: all of it when none is named, else what is named, which
    /// the grant must have been made for (RFC 8707 §2.2).
    pub fn narrow(&self, granted: &Audience, asked: &[&str]) -> Result<Audience, TargetRefused> {
        if asked.is_empty() {
            return Ok(granted.clone());
        }
        let audience = self.resolve(asked)?;
        if let Some(outside) = audience.difference(granted).next() {
            return Err(TargetRefused(format!(
                "the grant was not made for resource {outside:?}"
            )));
        }
        Ok(audience)
    }

    /// Whether a token for `audience` may carry `scope`: some resource of
    /// it accepts the scope, or the scope is the authorization server's
    /// own; any scope when the audience is empty.
    pub fn admits(&self, audience: &Audience, scope: &str) -> bool {
        audience.is_empty()
            || OWN_SCOPES.contains(&scope)
            || audience
                .iter()
                .any(|id| self.get(id).is_some_and(|r| r.scopes.contains(scope)))
    }

    /// What of `scope` a token for `audience` may carry.
    pub fn admitted(&self, audience: &Audience, scope: &ScopeSet) -> ScopeSet {
        scope
            .iter()
            .filter(|s| self.admits(audience, s))
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resources() -> Resources {
        Resources::parse_json(
            r#"{"https://mcp.example.com/mcp": "tools", "https://API.example.com": "read write"}"#,
        )
        .unwrap()
    }

    #[test]
    fn values_resolve_as_a_url_parser_reads_them_to_the_configured_identifier() {
        let r = resources();
        assert_eq!(
            r.resolve(&["https://api.example.com/", "HTTPS://mcp.example.com:443/mcp"])
                .unwrap(),
            Audience::from([
                "https://API.example.com".to_owned(),
                "https://mcp.example.com/mcp".to_owned()
            ])
        );
        assert_eq!(r.resolve(&[]).unwrap(), Audience::new());
    }

    #[test]
    fn unknown_relative_fragment_and_oversized_values_are_refused() {
        let r = resources();
        for bad in [
            "https://mcp.example.com/other",
            "/mcp",
            "https://mcp.example.com/mcp#x",
            "https://mcp.example.com/mcp x",
            &format!("https://mcp.example.com/{}", "a".repeat(MAX_RESOURCE_BYTES)),
        ] {
            assert!(r.resolve(&[bad]).is_err(), "{bad}");
        }
        let many = vec!["https://api.example.com/"; MAX_RESOURCES_PER_REQUEST + 1];
        assert!(r.resolve(&many).is_err());
    }

    #[test]
    fn a_grant_narrows_to_what_it_was_made_for() {
        let r = resources();
        let granted = r.resolve(&["https://mcp.example.com/mcp"]).unwrap();
        assert_eq!(r.narrow(&granted, &[]).unwrap(), granted);
        assert_eq!(
            r.narrow(&granted, &["https://mcp.example.com/mcp"]).unwrap(),
            granted
        );
        assert!(r.narrow(&granted, &["https://api.example.com"]).is_err());
        assert!(r.narrow(&Audience::new(), &["https://api.example.com"]).is_err());
    }

    #[test]
    fn scopes_follow_the_audience() {
        let r = resources();
        let mcp = r.resolve(&["https://mcp.example.com/mcp"]).unwrap();
        assert!(r.admits(&mcp, "tools") && r.admits(&mcp, "openid") && !r.admits(&mcp, "read"));
        assert!(r.admits(&Audience::new(), "read"));
    }

    #[test]
    fn bad_configuration_is_named() {
        for bad in [
            "[]",
            r#"{"/relative": "read"}"#,
            r#"{"https://a.example/": ""}"#,
            r#"{"https://a.example": "read", "https://A.example/": "write"}"#,
        ] {
            assert!(Resources::parse_json(bad).is_err(), "{bad}");
        }
    }
}
