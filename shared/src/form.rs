//! `application/x-www-form-urlencoded` request parameters (RFC 6749 appendix B).

use std::borrow::Cow;

use percent_encoding::{percent_decode, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// What `application/x-www-form-urlencoded` escapes: everything but ASCII
/// letters, digits and `*-._` (a space becomes `+`).
const FORM: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'*')
    .remove(b'-')
    .remove(b'.')
    .remove(b'_');

/// Why a form could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FormError {
    /// A name or value is not UTF-8 once decoded.
    InvalidUtf8,
    /// A parameter this request uses appears more than once (RFC 6749 §3.2).
    Repeated(String),
    /// A parameter this request needs is absent or empty.
    Missing(String),
}

impl std::fmt::Display for FormError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FormError::InvalidUtf8 => f.write_str("request parameters must be UTF-8"),
            FormError::Repeated(name) => write!(f, "parameter {name:?} is included more than once"),
            FormError::Missing(name) => write!(f, "{name} is missing"),
        }
    }
}

/// Decoded form parameters, in request order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Form {
    params: Vec<(String, String)>,
}

impl Form {
    /// Parses a form body or query string.
    pub fn parse(input: &[u8]) -> Result<Self, FormError> {
        let params = input
            .split(|&b| b == b'&')
            .filter(|pair| !pair.is_empty())
            .map(|pair| {
                let (name, value) = match pair.iter().position(|&b| b == b'=') {
                    Some(i) => (&pair[..i], &pair[i + 1..]),
                    None => (pair, &[][..]),
                };
                Ok((decode(name)?, decode(value)?))
            })
            .collect::<Result<_, FormError>>()?;
        Ok(Self { params })
    }

    /// The value of `name`. An empty value counts as absent (RFC 6749 §3.1); a
    /// repeated parameter is an error.
    pub fn get(&self, name: &str) -> Result<Option<&str>, FormError> {
        let mut values = self
            .params
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str());
        match (values.next(), values.next()) {
            (_, Some(_)) => Err(FormError::Repeated(name.to_owned())),
            (Some(v), None) if !v.is_empty() => Ok(Some(v)),
            _ => Ok(None),
        }
    }

    /// Every non-empty value of `name`, for a parameter that may repeat
    /// (RFC 8707's `resource`).
    pub fn get_all(&self, name: &str) -> Vec<&str> {
        self.params
            .iter()
            .filter(|(n, v)| n == name && !v.is_empty())
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The value of `name`, which the request must have.
    pub fn require(&self, name: &str) -> Result<&str, FormError> {
        self.get(name)?.ok_or_else(|| FormError::Missing(name.to_owned()))
    }
}

/// Form-urldecodes one name or value: `+` is a space, `%XX` a byte, and the
/// result must be UTF-8. Also used for credentials inside HTTP Basic
/// (RFC 6749 §2.3.1).
pub fn decode(input: &[u8]) -> Result<String, FormError> {
    let plus_as_space: Cow<[u8]> = if input.contains(&b'+') {
        Cow::Owned(input.iter().map(|&b| if b == b'+' { b' ' } else { b }).collect())
    } else {
        Cow::Borrowed(input)
    };
    percent_decode(&plus_as_space)
        .decode_utf8()
        .map(Cow::into_owned)
        .map_err(|_| FormError::InvalidUtf8)
}

/// Form-urlencodes one name or value (the inverse of [`decode`]); also how
/// credentials are prepared for HTTP Basic (RFC 6749 §2.3.1).
pub fn encode(value: &str) -> String {
    utf8_percent_encode(value, FORM).to_string().replace("%20", "+")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_plus_percent_and_empty_values() {
        let form = Form::parse(b"a=x+y%2Bz&b=&c&d=%C3%A9").unwrap();
        assert_eq!(form.get("a"), Ok(Some("x y+z")));
        assert_eq!(form.get("b"), Ok(None));
        assert_eq!(form.get("c"), Ok(None));
        assert_eq!(form.get("d"), Ok(Some("é")));
        assert_eq!(form.get("missing"), Ok(None));
        assert_eq!(form.require("a"), Ok("x y+z"));
        assert_eq!(form.require("b"), Err(FormError::Missing("b".into())));
    }

    #[test]
    fn encode_round_trips() {
        let value = "a b+c%d/é:*-._~";
        assert_eq!(encode(value), "a+b%2Bc%25d%2F%C3%A9%3A*-._%7E");
        assert_eq!(decode(encode(value).as_bytes()).unwrap(), value);
    }

    #[test]
    fn rejects_repeats_and_bad_utf8() {
        let form = Form::parse(b"scope=a&scope=b").unwrap();
        assert_eq!(form.get("scope"), Err(FormError::Repeated("scope".into())));
        assert_eq!(Form::parse(b"a=%FF"), Err(FormError::InvalidUtf8));
        assert_eq!(Form::parse(b"a=\xff"), Err(FormError::InvalidUtf8));
    }
}
