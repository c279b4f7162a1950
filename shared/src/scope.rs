//! OAuth scopes (RFC 6749 §3.3): space-delimited, case-sensitive tokens.

use std::collections::BTreeSet;

/// The scope a resource server's token or client needs to call introspection.
pub const INTROSPECTION_SCOPE: &str = "introspection";

/// The scope of an initial access token (RFC 7591 §3), which a closed
/// deployment's registrations need (`CLIENT_REGISTRATION=token`).
pub const REGISTRATION_SCOPE: &str = "registration";

/// Whether `scope` is for the authorization server's own endpoints
/// (introspection, registration): given by an administrator only, never by
/// default, never registrable, never advertised.
pub fn is_reserved(scope: &str) -> bool {
    scope == INTROSPECTION_SCOPE || scope == REGISTRATION_SCOPE
}

/// The scope that makes an authorization request an OpenID Connect one.
pub const OPENID_SCOPE: &str = "openid";

/// OpenID Connect's request for refresh tokens (Core §11): any client that
/// may refresh may ask for it, registered for it or not, as relying
/// parties ask for it unprompted (and MCP clients, SEP-2207, whenever the
/// server lists it). Refresh tokens are issued with or without it.
pub const OFFLINE_ACCESS_SCOPE: &str = "offline_access";

/// A set of scope names, kept sorted so answers are deterministic.
pub type ScopeSet = BTreeSet<String>;

/// Whether `name` is a valid RFC 6749 scope-token:
/// `1*( %x21 / %x23-5B / %x5D-7E )`.
pub fn is_valid_scope_token(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b))
}

/// Parses a space-delimited scope string. Extra spaces are tolerated; a
/// character outside the scope-token grammar is an error naming the bad token.
pub fn parse_scope(value: &str) -> Result<ScopeSet, String> {
    value
        .split(' ')
        .filter(|s| !s.is_empty())
        .map(|s| {
            if is_valid_scope_token(s) {
                Ok(s.to_owned())
            } else {
                Err(s.to_owned())
            }
        })
        .collect()
}

/// The canonical space-delimited form of a scope set.
pub fn format_scope(scopes: &ScopeSet) -> String {
    scopes.iter().map(String::as_str).collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_formats() {
        let s = parse_scope("write  read read").unwrap();
        assert_eq!(format_scope(&s), "read write");
        assert_eq!(parse_scope("a\"b"), Err("a\"b".to_owned()));
        assert_eq!(parse_scope("a\\b"), Err("a\\b".to_owned()));
        assert!(parse_scope("").unwrap().is_empty());
    }
}
