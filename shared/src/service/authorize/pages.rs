//! The pages a person sees at the authorization endpoint: sign-in, consent,
//! errors and sign-out. Plain HTML and one inline stylesheet: no script, no
//! external asset; every value from a request or the store is escaped. The
//! headers forbid framing, referrers, caching and anything but that
//! stylesheet (by hash).

use std::sync::OnceLock;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use http::header::{CACHE_CONTROL, CONTENT_TYPE, PRAGMA};
use http::{HeaderValue, StatusCode};
use sha2::{Digest, Sha256};

use super::HttpResponse;

/// Readable on a phone as on a desktop; no external fonts.
const STYLE: &str = "\
*{box-sizing:border-box}\
body{margin:0;font:16px/1.5 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;background:#f3f4f6;color:#111827}\
main{max-width:26rem;margin:2rem auto;padding:1.5rem;background:#fff;border-radius:.75rem;box-shadow:0 1px 3px rgba(0,0,0,.12)}\
h1{font-size:1.35rem;margin:0 0 1rem}\
p{margin:.5rem 0 1rem}\
label{display:block;font-weight:600;margin:.75rem 0 .25rem}\
input[type=text],input[type=password]{width:100%;padding:.6rem .7rem;font-size:1rem;border:1px solid #9ca3af;border-radius:.4rem}\
button{width:100%;margin-top:1.25rem;padding:.7rem;font-size:1rem;font-weight:600;border:0;border-radius:.4rem;background:#1d4ed8;color:#fff;cursor:pointer}\
button.secondary{background:#e5e7eb;color:#111827;margin-top:.6rem}\
.error{padding:.6rem .8rem;border-radius:.4rem;background:#fee2e2;color:#991b1b}\
ul{padding-left:1.2rem}\
li{margin:.3rem 0}\
.who{color:#4b5563;font-size:.9rem}\
.unverified{padding:.6rem .8rem;border-radius:.4rem;background:#fef3c7;color:#92400e}\
@media (max-width:30rem){main{margin:0;min-height:100vh;border-radius:0;box-shadow:none}}";

/// `Content-Security-Policy`: nothing but the one stylesheet above.
fn content_security_policy() -> &'static str {
    static POLICY: OnceLock<String> = OnceLock::new();
    POLICY.get_or_init(|| {
        let hash = STANDARD.encode(Sha256::digest(STYLE.as_bytes()));
        format!("default-src 'none'; style-src 'sha256-{hash}'; base-uri 'none'; frame-ancestors 'none'")
    })
}

/// HTML-escapes text for element content and quoted attribute values.
pub(super) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn document(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>{}</title><style>{STYLE}</style></head><body><main>{body}</main></body></html>",
        escape(title)
    )
}

/// An HTML page with the headers every page here carries.
pub(super) fn html(status: StatusCode, title: &str, body: &str) -> HttpResponse {
    let mut response = http::Response::new(document(title, body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(PRAGMA, HeaderValue::from_static("no-cache"));
    headers.insert("x-frame-options", HeaderValue::from_static("DENY"));
    headers.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    headers.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    if let Ok(policy) = HeaderValue::from_str(content_security_policy()) {
        headers.insert("content-security-policy", policy);
    }
    response
}

/// Hidden inputs carrying the authorization request and the CSRF token.
fn hidden(fields: &[(&str, &str)]) -> String {
    fields
        .iter()
        .map(|(name, value)| {
            format!(
                "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
                escape(name),
                escape(value)
            )
        })
        .collect()
}

/// The sign-in form, posted back to the authorization endpoint.
pub(super) fn sign_in(
    action: &str,
    client_name: &str,
    carried: &[(&str, &str)],
    error: Option<&str>,
    username: &str,
) -> HttpResponse {
    let error = error
        .map(|e| format!("<p class=\"error\" role=\"alert\">{}</p>", escape(e)))
        .unwrap_or_default();
    let body = format!(
        "<h1>Sign in</h1><p>to continue to <strong>{client}</strong></p>{error}\
<form method=\"post\" action=\"{action}\">{hidden}\
<input type=\"hidden\" name=\"step\" value=\"sign_in\">\
<label for=\"username\">Username</label>\
<input type=\"text\" id=\"username\" name=\"username\" value=\"{username}\" autocomplete=\"username\" autocapitalize=\"none\" required autofocus>\
<label for=\"password\">Password</label>\
<input type=\"password\" id=\"password\" name=\"password\" autocomplete=\"current-password\" required>\
<button type=\"submit\">Sign in</button></form>",
        client = escape(client_name),
        action = escape(action),
        hidden = hidden(carried),
        username = escape(username),
    );
    html(StatusCode::OK, "Sign in", &body)
}

/// How a client nobody here vouched for came to be known, and where its
/// answer goes.
pub(super) enum Unverified {
    /// It registered itself (RFC 7591).
    RegisteredItself { destination: String },
    /// Its id is the URL of its metadata document, on `host`.
    DescribedAt { host: String, destination: String },
}

/// The consent form: the client, the user, and each scope with its description.
pub(super) fn consent(
    action: &str,
    client_name: &str,
    unverified: Option<&Unverified>,
    username: &str,
    scopes: &[(&str, &str)],
    carried: &[(&str, &str)],
) -> HttpResponse {
    // A client nobody here vouched for names itself: say so, and where the
    // answer goes, which is what the person can check.
    let warning = unverified.map_or_else(String::new, |unverified| {
        let (how, destination) = match unverified {
            Unverified::RegisteredItself { destination } => ("registered itself".to_owned(), destination),
            Unverified::DescribedAt { host, destination } => (
                format!(
                    "describes itself in a document at <strong>{}</strong>",
                    escape(host)
                ),
                destination,
            ),
        };
        format!(
            "<p class=\"unverified\" role=\"note\">This application {how}: its name is not \
verified by this service. If you allow, the answer goes to <strong>{}</strong>.</p>",
            escape(destination)
        )
    });
    let items: String = scopes
        .iter()
        .map(|(name, description)| {
            format!(
                "<li><strong>{}</strong> ({})</li>",
                escape(description),
                escape(name)
            )
        })
        .collect();
    let body = format!(
        "<h1>Allow access?</h1><p><strong>{client}</strong> asks to:</p><ul>{items}</ul>{warning}\
<form method=\"post\" action=\"{action}\">{hidden}\
<input type=\"hidden\" name=\"step\" value=\"consent\">\
<button type=\"submit\" name=\"decision\" value=\"allow\">Allow</button>\
<button type=\"submit\" name=\"decision\" value=\"deny\" class=\"secondary\">Deny</button></form>\
<p class=\"who\">Signed in as {user}.</p>",
        client = escape(client_name),
        action = escape(action),
        hidden = hidden(carried),
        user = escape(username),
    );
    html(StatusCode::OK, "Allow access", &body)
}

/// A request that cannot go on and cannot be sent back to the client.
pub(super) fn error(status: StatusCode, message: &str) -> HttpResponse {
    let body = format!(
        "<h1>This request cannot be completed</h1><p class=\"error\" role=\"alert\">{}</p>\
<p>Go back to the application and try again.</p>",
        escape(message)
    );
    html(status, "Request refused", &body)
}

/// The sign-out form (a GET only shows it, so a link cannot sign anyone out).
pub(super) fn sign_out(
    action: &str,
    carried: &[(&str, &str)],
    signed_in: Option<&str>,
    for_client: Option<&str>,
) -> HttpResponse {
    let body = match signed_in {
        Some(user) => format!(
            "<h1>Sign out</h1><p>Signed in as {}.</p>{}<form method=\"post\" action=\"{}\">{}\
<button type=\"submit\">Sign out</button></form>",
            escape(user),
            for_client.map_or(String::new(), |client| format!(
                "<p>{} asks you to sign out; you will be sent back to it.</p>",
                escape(client)
            )),
            escape(action),
            hidden(carried)
        ),
        None => "<h1>Signed out</h1><p>You are not signed in.</p>".to_owned(),
    };
    html(StatusCode::OK, "Sign out", &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn everything_from_outside_is_escaped() {
        let hostile = "<script>alert('x')</script>\"&";
        let page = sign_in(hostile, hostile, &[(hostile, hostile)], Some(hostile), hostile);
        let text = page.body();
        assert!(!text.contains("<script>"), "{text}");
        assert!(text.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&quot;&amp;"));
        let headers = page.headers();
        assert_eq!(headers["x-frame-options"], "DENY");
        assert!(headers["content-security-policy"]
            .to_str()
            .unwrap()
            .starts_with("default-src 'none'; style-src 'sha256-"));
    }
}
