//! The `Authorization` request header: HTTP Basic client credentials
//! (RFC 6749 §2.3.1) and bearer tokens (RFC 6750 §2.1).

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use http::header::AUTHORIZATION;
use http::HeaderMap;

use crate::form;

/// What the `Authorization` header carries.
#[derive(Clone, PartialEq, Eq)]
pub enum Authorization {
    /// No `Authorization` header.
    Absent,
    /// HTTP Basic with form-urldecoded client id and secret.
    Basic {
        /// The client id.
        client_id: String,
        /// The client secret.
        client_secret: String,
    },
    /// A bearer token.
    Bearer(String),
    /// Another scheme, named here.
    Other(String),
}

// Credentials must never reach a log, even through `{:?}`.
impl std::fmt::Debug for Authorization {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Authorization::Absent => f.write_str("Absent"),
            Authorization::Basic { client_id, .. } => write!(f, "Basic({client_id}, <secret>)"),
            Authorization::Bearer(_) => f.write_str("Bearer(<token>)"),
            Authorization::Other(scheme) => write!(f, "Other({scheme})"),
        }
    }
}

/// Reads the `Authorization` header. The error says what is malformed.
pub fn parse_authorization(headers: &HeaderMap) -> Result<Authorization, &'static str> {
    let mut values = headers.get_all(AUTHORIZATION).iter();
    let value = match (values.next(), values.next()) {
        (None, _) => return Ok(Authorization::Absent),
        (Some(_), Some(_)) => return Err("more than one Authorization header"),
        (Some(v), None) => v.to_str().map_err(|_| "the Authorization header is not ASCII")?,
    };
    parse_authorization_value(value)
}

/// Reads one `Authorization` header value. The error says what is malformed.
pub fn parse_authorization_value(value: &str) -> Result<Authorization, &'static str> {
    let value = value.trim();
    let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
    let credentials = rest.trim_start();
    if scheme.eq_ignore_ascii_case("basic") {
        parse_basic(credentials)
    } else if scheme.eq_ignore_ascii_case("bearer") {
        if is_b64token(credentials) {
            Ok(Authorization::Bearer(credentials.to_owned()))
        } else {
            Err("the Bearer credentials are not a single token")
        }
    } else {
        Ok(Authorization::Other(scheme.to_owned()))
    }
}

fn parse_basic(credentials: &str) -> Result<Authorization, &'static str> {
    let decoded = STANDARD
        .decode(credentials)
        .map_err(|_| "the Basic credentials are not valid base64")?;
    let colon = decoded
        .iter()
        .position(|&b| b == b':')
        .ok_or("the Basic credentials have no ':' between client id and secret")?;
    // RFC 6749 §2.3.1: both parts are form-urlencoded before base64.
    let client_id = form::decode(&decoded[..colon]).map_err(|_| "the Basic client id is not UTF-8")?;
    let client_secret =
        form::decode(&decoded[colon + 1..]).map_err(|_| "the Basic client secret is not UTF-8")?;
    if client_id.is_empty() {
        return Err("the Basic credentials have an empty client id");
    }
    Ok(Authorization::Basic {
        client_id,
        client_secret,
    })
}

/// RFC 6750 §2.1 `b64token`: `1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`.
fn is_b64token(value: &str) -> bool {
    let body = value.trim_end_matches('=');
    !body.is_empty()
        && body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(value: &str) -> Result<Authorization, &'static str> {
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, value.parse().unwrap());
        parse_authorization(&headers)
    }

    #[test]
    fn basic_is_form_urldecoded() {
        // "my%20id:p%40ss+word" -> id "my id", secret "p@ss word"
        let encoded = STANDARD.encode("my%20id:p%40ss+word");
        assert_eq!(
            parse(&format!("basic {encoded}")),
            Ok(Authorization::Basic {
                client_id: "my id".into(),
                client_secret: "p@ss word".into()
            })
        );
        assert!(parse("Basic !!!").is_err());
        assert!(parse(&format!("Basic {}", STANDARD.encode("nocolon"))).is_err());
    }

    #[test]
    fn bearer_scheme_is_case_insensitive_and_single() {
        assert_eq!(
            parse("bEaReR abc.def"),
            Ok(Authorization::Bearer("abc.def".into()))
        );
        assert!(parse("Bearer a b").is_err());
        assert!(parse("Bearer").is_err());
        assert_eq!(parse("Digest x"), Ok(Authorization::Other("Digest".into())));
    }
}
