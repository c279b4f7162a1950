//! JWTs as the tests read and forge them, with *ring* (not the service's
//! aws-lc-rs): a part decoded, a signature checked against a JWKS, and the
//! lookalikes a verifier must refuse.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Value};

/// Part `index` of a compact JWS (0: header, 1: claims), as JSON.
pub fn part(jwt: &str, index: usize) -> Value {
    let encoded = jwt.split('.').nth(index).expect("a compact JWS");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(encoded).expect("base64url")).expect("JSON")
}

/// Whether `jwt` is an RS256 signature by the key of `jwks` (a JWKS
/// document) its `kid` names.
pub fn verifies(jwt: &str, jwks: &Value) -> bool {
    let header = part(jwt, 0);
    let keys = jwks["keys"].as_array().cloned().unwrap_or_default();
    let Some(jwk) = keys.iter().find(|k| k["kid"] == header["kid"]) else {
        return false;
    };
    assert_eq!(
        (jwk["kty"].as_str(), jwk["alg"].as_str(), jwk["use"].as_str()),
        (Some("RSA"), Some("RS256"), Some("sig"))
    );
    let n = URL_SAFE_NO_PAD.decode(jwk["n"].as_str().unwrap()).unwrap();
    let e = URL_SAFE_NO_PAD.decode(jwk["e"].as_str().unwrap()).unwrap();
    let (signed, signature) = jwt.rsplit_once('.').unwrap();
    ring::signature::RsaPublicKeyComponents { n: &n, e: &e }
        .verify(
            &ring::signature::RSA_PKCS1_2048_8192_SHA256,
            signed.as_bytes(),
            &URL_SAFE_NO_PAD.decode(signature).unwrap_or_default(),
        )
        .is_ok()
}

/// Tokens made from the real access token `real` that no verifier may
/// accept, by name: `alg: none`, HS256 keyed with the published public key,
/// a foreign `kid`, claims changed under the signature, an ID token's `typ`.
pub fn forgeries(real: &str, jwks: &Value) -> Vec<(&'static str, String)> {
    let b64 = |v: &Value| URL_SAFE_NO_PAD.encode(v.to_string());
    let (header, rest) = real.split_once('.').unwrap();
    let (claims, signature) = rest.split_once('.').unwrap();
    let kid = part(real, 0)["kid"].clone();
    let hs256 = {
        let head = b64(&json!({"alg": "HS256", "typ": "at+jwt", "kid": kid}));
        let signed = format!("{head}.{claims}");
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, jwks["keys"][0].to_string().as_bytes());
        format!(
            "{signed}.{}",
            URL_SAFE_NO_PAD.encode(ring::hmac::sign(&key, signed.as_bytes()))
        )
    };
    let mut wider = part(real, 1);
    wider["scope"] = json!("read write admin");
    let mut id_token_header = part(real, 0);
    id_token_header["typ"] = json!("JWT");
    vec![
        (
            "alg none",
            format!("{}.{claims}.", b64(&json!({"alg": "none", "typ": "at+jwt"}))),
        ),
        ("HS256 with the public key", hs256),
        (
            "a foreign kid",
            format!(
                "{}.{claims}.{signature}",
                b64(&json!({"alg": "RS256", "typ": "at+jwt", "kid": "foreign"}))
            ),
        ),
        ("claims changed", format!("{header}.{}.{signature}", b64(&wider))),
        (
            "typ JWT (an ID token's)",
            format!("{}.{claims}.{signature}", b64(&id_token_header)),
        ),
    ]
}
