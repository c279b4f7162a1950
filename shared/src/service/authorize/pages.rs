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
ul.scopes{list-style:none;padding:0}\
label.scope{display:flex;gap:.6rem;align-items:baseline;font-weight:400;margin:.4rem 0}\
label.scope input{margin:0;flex:none}\
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

/// What a person signs in for.
#[derive(Clone, Copy)]
pub(super) enum SignInFor<'a> {
    /// A client's authorization request: its name.
    Client(&'a str),
    /// Connecting a device (RFC 8628).
    Device,
}

/// An error message as the pages show one.
fn alert(error: Option<&str>) -> String {
    error
        .map(|e| format!("<p class=\"error\" role=\"alert\">{}</p>", escape(e)))
        .unwrap_or_default()
}

/// The sign-in form, posted back to `action`.
pub(super) fn sign_in(
    action: &str,
    signing_in_for: SignInFor<'_>,
    carried: &[(&str, &str)],
    error: Option<&str>,
    username: &str,
) -> HttpResponse {
    let error = alert(error);
    let purpose = match signing_in_for {
        SignInFor::Client(name) => format!("to continue to <strong>{}</strong>", escape(name)),
        SignInFor::Device => "to connect a device".to_owned(),
    };
    let body = format!(
        "<h1>Sign in</h1><p>{purpose}</p>{error}\
<form method=\"post\" action=\"{action}\">{hidden}\
<input type=\"hidden\" name=\"step\" value=\"sign_in\">\
<label for=\"username\">Username</label>\
<input type=\"text\" id=\"username\" name=\"username\" value=\"{username}\" autocomplete=\"username\" autocapitalize=\"none\" required autofocus>\
<label for=\"password\">Password</label>\
<input type=\"password\" id=\"password\" name=\"password\" autocomplete=\"current-password\" required>\
<button type=\"submit\">Sign in</button></form>",
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

/// A scope the consent form offers.
pub(super) struct ScopeChoice<'a> {
    pub name: &'a str,
    pub description: &'a str,
    /// Not the person's to untick (`openid`: the sign-in itself).
    pub fixed: bool,
}

/// The name the consent form's scope boxes are posted under.
pub(super) const GRANTED_SCOPE_FIELD: &str = "granted_scope";

/// The consent form: the client, the user, and each scope with its
/// description, ticked; the person may untick any but the fixed ones.
pub(super) fn consent(
    action: &str,
    client_name: &str,
    for_device: bool,
    unverified: Option<&Unverified>,
    username: &str,
    scopes: &[ScopeChoice<'_>],
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
    // RFC 8628 §5.4: a code can be sent to a victim; say whose it should be.
    let warning = if for_device {
        format!(
            "{warning}<p class=\"unverified\" role=\"note\">Allow only if you started this on a device \
you have with you: someone could have sent you a code of theirs.</p>"
        )
    } else {
        warning
    };
    let items: String = scopes
        .iter()
        .map(|scope| {
            // A fixed scope is shown ticked and sent as a hidden field (a
            // disabled box is not posted).
            let (input, kept) = if scope.fixed {
                (
                    "<input type=\"checkbox\" checked disabled>".to_owned(),
                    hidden(&[(GRANTED_SCOPE_FIELD, scope.name)]),
                )
            } else {
                (
                    format!(
                        "<input type=\"checkbox\" name=\"{GRANTED_SCOPE_FIELD}\" value=\"{}\" checked>",
                        escape(scope.name)
                    ),
                    String::new(),
                )
            };
            format!(
                "<li><label class=\"scope\">{input}{kept}<span><strong>{}</strong> ({})</span></label></li>",
                escape(scope.description),
                escape(scope.name)
            )
        })
        .collect();
    let body = format!(
        "<h1>Allow access?</h1><form method=\"post\" action=\"{action}\">\
<p><strong>{client}</strong> asks to:</p><ul class=\"scopes\">{items}</ul>{warning}{hidden}\
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

/// The device page's form: the code a device shows (RFC 8628 §3.3).
pub(super) fn device_code(
    action: &str,
    carried: &[(&str, &str)],
    error: Option<&str>,
    username: &str,
    typed: &str,
) -> HttpResponse {
    let body = format!(
        "<h1>Connect a device</h1><p>Enter the code your device shows.</p>{error}\
<form method=\"post\" action=\"{action}\">{hidden}\
<input type=\"hidden\" name=\"step\" value=\"code\">\
<label for=\"user_code\">Code</label>\
<input type=\"text\" id=\"user_code\" name=\"user_code\" value=\"{typed}\" autocomplete=\"off\" autocapitalize=\"characters\" spellcheck=\"false\" required autofocus>\
<button type=\"submit\">Continue</button></form>\
<p class=\"who\">Signed in as {user}.</p>",
        error = alert(error),
        action = escape(action),
        hidden = hidden(carried),
        typed = escape(typed),
        user = escape(username),
    );
    html(StatusCode::OK, "Connect a device", &body)
}

/// The device page's last word: what was decided, and where to look next.
pub(super) fn device_decided(client_name: &str, approved: bool) -> HttpResponse {
    let body = if approved {
        format!(
            "<h1>Device connected</h1><p><strong>{}</strong> now has the access you allowed. \
You may return to your device.</p>",
            escape(client_name)
        )
    } else {
        format!(
            "<h1>Request denied</h1><p><strong>{}</strong> gets no access. You may close this page.</p>",
            escape(client_name)
        )
    };
    html(
        StatusCode::OK,
        if approved {
            "Device connected"
        } else {
            "Request denied"
        },
        &body,
    )
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
        let page = sign_in(
            hostile,
            SignInFor::Client(hostile),
            &[(hostile, hostile)],
            Some(hostile),
            hostile,
        );
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
