//! Redirect URIs (RFC 6749 §3.1.2), parsed once as a browser parses them
//! (WHATWG URL rules, through the `url` crate) and refused wherever a
//! browser could be sent somewhere other than where they seem to point:
//! a backslash (a browser reads it as a slash), userinfo (`a.example@b.example`
//! goes to `b.example`), a fragment, anything not ASCII (lookalike hosts).
//! Registered and requested URIs are compared as the URLs a browser would
//! go to, never as strings that two parsers could read differently.

use std::fmt;
use std::str::FromStr;

use url::{Host, Url};

/// The longest redirect URI accepted, registered or requested.
pub const MAX_REDIRECT_URI_BYTES: usize = 2000;

/// Where a redirect URI sends the browser, which says how much the
/// redirect proves about the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RedirectKind {
    /// `https` to a named host: whoever receives the code owns that host.
    Web,
    /// Plain `http` to this machine's loopback interface (RFC 8252 §7.3): a
    /// native app listening on a port it picked, so any port matches.
    Loopback,
    /// A private-use scheme in reverse-domain form (RFC 8252 §7.1), such as
    /// `com.example.app:/callback`.
    PrivateUse,
}

/// A redirect URI that may be registered or asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedirectUri {
    url: Url,
    kind: RedirectKind,
}

/// Why a string is no acceptable redirect URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedirectUriError(String);

impl fmt::Display for RedirectUriError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RedirectUriError {}

impl RedirectUri {
    /// Parses `input` as a browser would, refusing what a redirect URI must
    /// not be or hold.
    pub fn parse(input: &str) -> Result<Self, RedirectUriError> {
        let refused = |why: &str| {
            let shown: String = input.chars().take(100).collect();
            Err(RedirectUriError(format!("{shown:?} {why}")))
        };
        if input.len() > MAX_REDIRECT_URI_BYTES {
            return refused(&format!("is longer than {MAX_REDIRECT_URI_BYTES} bytes"));
        }
        if !input.is_ascii() {
            return refused("is not ASCII (a URI is; hosts that are not ASCII are refused)");
        }
        if input.bytes().any(|b| b.is_ascii_control() || b == b' ') {
            return refused("holds spaces or control characters");
        }
        if input.contains('\\') {
            return refused("holds a backslash, which browsers read as a slash");
        }
        if input.contains('#') {
            return refused("has a fragment");
        }
        // Browsers skip any number of slashes after `https:` (`https:///x`
        // is `https://x/`): a URI that needs that repair is refused.
        let after_scheme = input.split_once(':').map_or("", |(_, rest)| rest);
        if after_scheme.starts_with("///") {
            return refused("has an empty authority");
        }
        let url = match Url::parse(input) {
            Ok(url) => url,
            Err(e) => return refused(&format!("is not an absolute URI ({e})")),
        };
        if !url.username().is_empty() || url.password().is_some() {
            return refused("has userinfo (a browser goes to the host after the @)");
        }
        // django-oauth-toolkit's ALLOW_URI_WILDCARDS, refused on purpose:
        // whoever can publish under the pattern would receive codes.
        if url.host_str().is_some_and(|host| host.contains('*')) {
            return refused("has a wildcard host (*), which is not accepted here: list each URI");
        }
        let kind = match url.scheme() {
            "https" if url.host().is_some() => RedirectKind::Web,
            "https" => return refused("has no host"),
            "http" if is_loopback(url.host()) => RedirectKind::Loopback,
            "http" => {
                return refused("is plain http to another host than this machine's loopback; use https")
            }
            scheme if is_private_use(scheme) && (url.host().is_some() || url.path().len() > 1) => {
                RedirectKind::PrivateUse
            }
            _ => return refused(
                "is neither https, loopback http, nor a private-use scheme such as com.example.app:/callback",
            ),
        };
        Ok(Self { url, kind })
    }

    /// The URI as a browser would go to it (the form stored and compared).
    pub fn as_str(&self) -> &str {
        self.url.as_str()
    }

    /// Where it sends the browser.
    pub fn kind(&self) -> RedirectKind {
        self.kind
    }

    /// Where the browser goes, as a person can judge it: the host of an
    /// `https` URI, or the app on this device that a loopback port or a
    /// private-use scheme reaches.
    pub fn destination(&self) -> String {
        match self.kind {
            RedirectKind::Web => self.url.host_str().unwrap_or_default().to_owned(),
            RedirectKind::Loopback => "an application on this device".to_owned(),
            RedirectKind::PrivateUse => {
                format!("the application on this device that opens {}:", self.url.scheme())
            }
        }
    }

    /// Whether this registered URI admits a request naming `requested`: the
    /// same URL, except that a loopback one may name any port (RFC 8252
    /// §7.3: native apps bind an ephemeral one).
    pub fn admits(&self, requested: &RedirectUri) -> bool {
        match (self.kind, requested.kind) {
            (RedirectKind::Loopback, RedirectKind::Loopback) => {
                let (a, b) = (&self.url, &requested.url);
                a.scheme() == b.scheme()
                    && a.host() == b.host()
                    && a.path() == b.path()
                    && a.query() == b.query()
            }
            _ => self.url == requested.url,
        }
    }

    /// Whether the redirect itself identifies the client: `https` does (only
    /// the host's owner receives the code); a loopback port or a private-use
    /// scheme can be claimed by any app on the device (RFC 8252 §8.6).
    pub fn identifies_client(&self) -> bool {
        self.kind == RedirectKind::Web
    }

    /// This URI with `params` added to its query: where the browser is sent.
    pub fn with_params(&self, params: &[(&str, &str)]) -> String {
        let mut url = self.url.clone();
        url.query_pairs_mut().extend_pairs(params);
        url.into()
    }
}

/// `localhost`, `127.0.0.0/8` or `[::1]`, as the URL parser read the host.
pub(crate) fn is_loopback(host: Option<Host<&str>>) -> bool {
    match host {
        Some(Host::Domain(name)) => name == "localhost",
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// A reverse-domain scheme (`com.example.app`): RFC 8252 §7.1 asks for one,
/// so that no two apps pick the same.
fn is_private_use(scheme: &str) -> bool {
    scheme.contains('.')
        && scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'+'))
}

impl FromStr for RedirectUri {
    type Err = RedirectUriError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for RedirectUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(uri: &str) -> Result<RedirectKind, RedirectUriError> {
        RedirectUri::parse(uri).map(|u| u.kind())
    }

    #[test]
    fn https_loopback_http_and_private_use_schemes_are_accepted() {
        for (uri, expected) in [
            ("https://app.example.com/callback", RedirectKind::Web),
            ("https://app.example.com:8443/cb?tenant=1", RedirectKind::Web),
            ("https://app.example.com", RedirectKind::Web),
            ("http://127.0.0.1:49152/callback", RedirectKind::Loopback),
            ("http://127.0.0.1/callback", RedirectKind::Loopback),
            ("http://[::1]:8080/cb", RedirectKind::Loopback),
            ("http://localhost:3000/cb", RedirectKind::Loopback),
            ("com.example.app:/oauth2redirect", RedirectKind::PrivateUse),
            ("com.example.app://callback", RedirectKind::PrivateUse),
        ] {
            assert_eq!(kind(uri), Ok(expected), "{uri}");
        }
    }

    #[test]
    fn what_a_browser_would_read_otherwise_is_refused() {
        for bad in [
            "https://*.example.com/cb",
            "https://app-*.example.com/cb",
            "http://evil.example\\@127.0.0.1/cb",
            "https://app.example.com\\@evil.example/cb",
            "https://app.example.com@evil.example/cb",
            "https://user:pass@app.example.com/cb",
            "http://app.example.com/callback",
            "http://127.0.0.1.example.com/cb",
            "http://localhost.example.com/cb",
            "https:///no-host",
            "https://app.example.com/cb#fragment",
            "https://app.example.com/cb#",
            "https://аpp.example.com/cb",
            "https://app.example.com/caf\u{e9}",
            "javascript:alert(1)",
            "data:text/html,hi",
            "myapp:/cb",
            "com.example.app:",
            "https://app.example.com/a b",
            "https://app.example.com/a\tb",
            "/relative/path",
            "",
        ] {
            assert!(RedirectUri::parse(bad).is_err(), "{bad:?} was accepted");
        }
        let long = format!("https://app.example.com/{}", "a".repeat(2000));
        assert!(RedirectUri::parse(&long).is_err());
    }

    #[test]
    fn uris_compare_as_the_urls_a_browser_goes_to() {
        let registered = RedirectUri::parse("https://app.example.com/cb").unwrap();
        for same in ["https://APP.example.com/cb", "https://app.example.com:443/cb"] {
            assert!(registered.admits(&RedirectUri::parse(same).unwrap()), "{same}");
        }
        for other in [
            "https://app.example.com/cb/",
            "https://app.example.com/CB",
            "https://app.example.com/cb?x=1",
            "https://app.example.com:8443/cb",
            "https://app.example.com.evil.example/cb",
        ] {
            assert!(!registered.admits(&RedirectUri::parse(other).unwrap()), "{other}");
        }
    }

    #[test]
    fn loopback_uris_admit_any_port_and_nothing_else() {
        let registered = RedirectUri::parse("http://127.0.0.1:8765/cb").unwrap();
        let admits = |uri: &str| registered.admits(&RedirectUri::parse(uri).unwrap());
        assert!(admits("http://127.0.0.1:51234/cb"));
        assert!(admits("http://127.0.0.1/cb"));
        assert!(!admits("http://127.0.0.1:51234/other"));
        assert!(!admits("http://127.0.0.2:8765/cb"));
        assert!(!admits("http://localhost:8765/cb"));
        assert!(!admits("http://127.0.0.1:8765/cb?x=1"));
        // Not for https, even to a loopback address.
        let web = RedirectUri::parse("https://127.0.0.1:8443/cb").unwrap();
        assert!(!web.admits(&RedirectUri::parse("https://127.0.0.1:9443/cb").unwrap()));
    }

    #[test]
    fn only_https_identifies_the_client() {
        assert!(RedirectUri::parse("https://app.example.com/cb")
            .unwrap()
            .identifies_client());
        assert!(!RedirectUri::parse("http://127.0.0.1/cb")
            .unwrap()
            .identifies_client());
        assert!(!RedirectUri::parse("com.example.app:/cb")
            .unwrap()
            .identifies_client());
    }

    #[test]
    fn parameters_are_added_to_the_query() {
        let uri = RedirectUri::parse("https://a.example/cb?t=1").unwrap();
        assert_eq!(
            uri.with_params(&[("code", "x y"), ("state", "a&b")]),
            "https://a.example/cb?t=1&code=x+y&state=a%26b"
        );
        let uri = RedirectUri::parse("com.example.app:/cb").unwrap();
        assert_eq!(uri.with_params(&[("code", "x")]), "com.example.app:/cb?code=x");
    }
}
