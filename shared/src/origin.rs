//! Web origins (RFC 6454) a browser client's pages are served from, as
//! django-oauth-toolkit's `allowed_origins`: the only ones whose scripts may
//! read the answers of the token, revocation and UserInfo endpoints.

use url::Url;

/// An origin, `scheme://host[:port]` in the form browsers send in `Origin`:
/// `https`, or plain `http` to a loopback address only.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Origin(String);

/// The longest origin accepted (a host name is at most 253 bytes).
const MAX_ORIGIN_BYTES: usize = 300;

impl Origin {
    /// Parses an origin as a browser serialises it; a trailing `/` is
    /// tolerated. The error says what is wrong.
    pub fn parse(value: &str) -> Result<Self, &'static str> {
        if value.len() > MAX_ORIGIN_BYTES || !value.is_ascii() || value.contains(['\\', ' ']) {
            return Err("an origin is an ASCII URL without spaces or backslashes");
        }
        let url = Url::parse(value).map_err(|_| "an origin is scheme://host[:port]")?;
        if !url.username().is_empty() || url.password().is_some() {
            return Err("an origin has no userinfo");
        }
        if url.path() != "/"
            || url.query().is_some()
            || url.fragment().is_some()
            || value.ends_with(['?', '#'])
        {
            return Err("an origin has no path, query or fragment");
        }
        match url.scheme() {
            "https" => {}
            "http" if crate::redirect_uri::is_loopback(url.host()) => {}
            "http" => return Err("plain http only to a loopback address"),
            _ => return Err("an origin is https (or http to a loopback address)"),
        }
        Ok(Self(url.origin().ascii_serialization()))
    }

    /// The origin as a browser sends it.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::Origin;

    #[test]
    fn origins_are_what_browsers_send() {
        let parsed = |v| Origin::parse(v).map(|o| o.as_str().to_owned());
        assert_eq!(
            parsed("https://App.Example.com").unwrap(),
            "https://app.example.com"
        );
        assert_eq!(
            parsed("https://app.example.com:443/").unwrap(),
            "https://app.example.com"
        );
        assert_eq!(
            parsed("https://app.example.com:8443").unwrap(),
            "https://app.example.com:8443"
        );
        assert_eq!(parsed("http://127.0.0.1:5173").unwrap(), "http://127.0.0.1:5173");
        assert_eq!(parsed("http://[::1]:8080").unwrap(), "http://[::1]:8080");
        for bad in [
            "http://app.example.com",
            "https://app.example.com/spa",
            "https://user@app.example.com",
            "https://app.example.com?x",
            "https://app.example.com#",
            "null",
            "*",
            "javascript:alert(1)",
            "https://app.example.com\\@evil.example",
        ] {
            assert!(Origin::parse(bad).is_err(), "{bad}");
        }
    }
}
