//! The bearer token and what its introspection answer says it is.

use serde_json::{Map, Value};
use shared::credentials::{parse_authorization_value, Authorization};
use shared::scope::{parse_scope, ScopeSet};

/// What an active token is, from its introspection answer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TokenInfo {
    /// Granted scopes.
    pub scopes: ScopeSet,
    /// The `scope` string as the server sent it.
    pub scope: String,
    /// Expiry, epoch seconds, if the server said.
    pub exp: Option<u64>,
    /// The client the token was issued to.
    pub client_id: Option<String>,
    /// The resource owner, for user tokens.
    pub username: Option<String>,
    /// The subject, if the server names one.
    pub sub: Option<String>,
    /// The resources it was issued for (`aud`), if the server says.
    pub audience: Vec<String>,
}

impl TokenInfo {
    /// The principal API Gateway reports: the user, else the subject, else the client.
    pub fn principal_id(&self) -> &str {
        self.username
            .as_deref()
            .or(self.sub.as_deref())
            .or(self.client_id.as_deref())
            .unwrap_or("unknown")
    }
}

/// The bearer token in an `Authorization` value: scheme `Bearer` in any case,
/// exactly one RFC 6750 b64token.
pub fn bearer_token(authorization: &str) -> Option<String> {
    match parse_authorization_value(authorization) {
        Ok(Authorization::Bearer(token)) => Some(token),
        _ => None,
    }
}

/// Judges an introspection answer at `now`: active only if `active` is JSON
/// `true`, `exp` (when present) is a number in the future, and `token_type`
/// (when present) names an access token.
pub fn judge(answer: &Map<String, Value>, now: u64) -> Result<TokenInfo, &'static str> {
    if answer.get("active") != Some(&Value::Bool(true)) {
        return Err("the token is not active");
    }
    let exp = match answer.get("exp") {
        None => None,
        Some(Value::Number(n)) => Some(
            n.as_u64()
                .or_else(|| n.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64))
                .ok_or("exp is not a time")?,
        ),
        Some(_) => return Err("exp is not a number"),
    };
    if exp.is_some_and(|exp| exp <= now) {
        return Err("the token has expired");
    }
    match answer.get("token_type") {
        None => {}
        Some(Value::String(t))
            if t.eq_ignore_ascii_case("bearer") || t.eq_ignore_ascii_case("access_token") => {}
        Some(_) => return Err("the token is not an access token"),
    }
    let text = |name: &str| -> Result<Option<String>, &'static str> {
        match answer.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err("a claim has the wrong type"),
        }
    };
    let scope = text("scope")?.unwrap_or_default();
    let scopes = parse_scope(&scope).map_err(|_| "the scope is malformed")?;
    Ok(TokenInfo {
        scopes,
        scope,
        exp,
        client_id: text("client_id")?,
        username: text("username")?,
        sub: text("sub")?,
        audience: audience(answer.get("aud")).ok_or("a claim has the wrong type")?,
    })
}

/// `aud` as RFC 7519 §4.1.3 (and RFC 7662) write it: one string or an
/// array of them; absent, none. `None` for anything else.
pub fn audience(aud: Option<&Value>) -> Option<Vec<String>> {
    match aud {
        None | Some(Value::Null) => Some(Vec::new()),
        Some(Value::String(one)) => Some(vec![one.clone()]),
        Some(Value::Array(many)) => many.iter().map(|a| a.as_str().map(str::to_owned)).collect(),
        Some(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn answer(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn bearer_scheme_is_case_insensitive_and_single() {
        assert_eq!(bearer_token("Bearer abc").as_deref(), Some("abc"));
        assert_eq!(
            bearer_token("bearer  a.b-c_d~e+f/g==").as_deref(),
            Some("a.b-c_d~e+f/g==")
        );
        assert_eq!(bearer_token("Bearer a b"), None);
        assert_eq!(bearer_token("Basic abc"), None);
        assert_eq!(bearer_token("Bearer"), None);
        assert_eq!(bearer_token("abc"), None);
    }

    #[test]
    fn only_exactly_active_unexpired_access_tokens_pass() {
        let now = 1000;
        let ok = judge(
            &answer(json!({"active": true, "exp": 2000, "scope": "read write", "client_id": "c"})),
            now,
        )
        .unwrap();
        assert_eq!(ok.exp, Some(2000));
        assert_eq!(ok.principal_id(), "c");
        assert!(
            judge(&answer(json!({"active": true})), now).is_ok(),
            "exp is optional (RFC 7662)"
        );
        for bad in [
            json!({"active": "true"}),
            json!({"active": 1}),
            json!({"active": false}),
            json!({}),
            json!({"active": true, "exp": 1000}),
            json!({"active": true, "exp": "2000"}),
            json!({"active": true, "token_type": "refresh_token"}),
            json!({"active": true, "scope": ["read"]}),
            json!({"active": true, "aud": 7}),
            json!({"active": true, "aud": ["https://api.example", 7]}),
        ] {
            assert!(judge(&answer(bad.clone()), now).is_err(), "{bad}");
        }
        let user = judge(
            &answer(json!({"active": true, "token_type": "Bearer", "username": "jdoe", "client_id": "c"})),
            now,
        );
        assert_eq!(user.unwrap().principal_id(), "jdoe");
    }
}
