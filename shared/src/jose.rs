//! The little of JOSE this service signs with: RS256 compact JWS (RFC 7515,
//! RFC 7518 §3.3) over JSON claims, RSA public keys as JWKs (RFC 7517) named
//! by their RFC 7638 thumbprint, and base64url without padding.

use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{KeyPair, RsaKeyPair, RSA_PKCS1_SHA256};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

pub use crate::model::RsaPublicJwk;

/// base64url without padding, as JOSE writes every binary value.
pub fn base64url(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A signing key could not be made or used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyError(pub &'static str);

impl std::fmt::Display for KeyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for KeyError {}

/// An RSA private key that signs with RS256; its PKCS#8 encoding never
/// leaves this type but sealed ([`crate::keys`]).
pub struct RsaSigner {
    pair: RsaKeyPair,
}

// Never the private key, in a log or anywhere else.
impl std::fmt::Debug for RsaSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RsaSigner")
            .field("public", &self.public_jwk())
            .finish_non_exhaustive()
    }
}

impl RsaSigner {
    /// A new RSA 2048 key (what OpenID Connect's RS256 and API Gateway's
    /// JWT authorizer accept), with its PKCS#8 encoding to seal.
    pub fn generate() -> Result<(Self, Vec<u8>), KeyError> {
        use aws_lc_rs::encoding::AsDer;
        let pair =
            RsaKeyPair::generate(KeySize::Rsa2048).map_err(|_| KeyError("RSA key generation failed"))?;
        let pkcs8 = pair
            .as_der()
            .map_err(|_| KeyError("the new RSA key could not be encoded"))?
            .as_ref()
            .to_vec();
        Ok((Self { pair }, pkcs8))
    }

    /// The key whose PKCS#8 encoding is `pkcs8` (one this service sealed).
    pub fn from_pkcs8(pkcs8: &[u8]) -> Result<Self, KeyError> {
        let pair = RsaKeyPair::from_pkcs8(pkcs8).map_err(|_| KeyError("not an RSA private key in PKCS#8"))?;
        Ok(Self { pair })
    }

    /// The key a PEM file holds (`RSA PRIVATE KEY`, PKCS#1, as `openssl
    /// genrsa` and django-oauth-toolkit's docs make it; or `PRIVATE KEY`,
    /// PKCS#8), with its PKCS#8 encoding to seal; 2048 bits at least.
    pub fn from_pem(pem: &str) -> Result<(Self, Vec<u8>), KeyError> {
        use aws_lc_rs::encoding::AsDer;
        use base64::engine::general_purpose::STANDARD;
        use base64::Engine;
        let (label, body) = pem_body(pem).ok_or(KeyError("not a PEM file"))?;
        let der = STANDARD
            .decode(body)
            .map_err(|_| KeyError("the PEM body is not base64"))?;
        let pair = match label.as_str() {
            "RSA PRIVATE KEY" => RsaKeyPair::from_der(&der),
            "PRIVATE KEY" => RsaKeyPair::from_pkcs8(&der),
            _ => {
                return Err(KeyError(
                    "not an RSA private key (RSA PRIVATE KEY or PRIVATE KEY)",
                ))
            }
        }
        .map_err(|_| KeyError("not an RSA private key this service can sign with (2048 bits or more)"))?;
        let pkcs8 = pair
            .as_der()
            .map_err(|_| KeyError("the RSA key could not be encoded"))?
            .as_ref()
            .to_vec();
        Ok((Self { pair }, pkcs8))
    }

    /// The public half, as a JWK's members.
    pub fn public_jwk(&self) -> RsaPublicJwk {
        let public = self.pair.public_key();
        RsaPublicJwk {
            n: base64url(public.modulus().big_endian_without_leading_zero()),
            e: base64url(public.exponent().big_endian_without_leading_zero()),
        }
    }

    /// A compact JWS of `claims`: header `{"alg":"RS256","typ":typ,"kid":kid}`.
    pub fn sign(&self, kid: &str, typ: &str, claims: &Value) -> Result<String, KeyError> {
        let header = json!({ "alg": "RS256", "typ": typ, "kid": kid });
        let mut jws = base64url(header.to_string());
        jws.push('.');
        jws.push_str(&base64url(claims.to_string()));
        let mut signature = vec![0u8; self.pair.public_modulus_len()];
        self.pair
            .sign(
                &RSA_PKCS1_SHA256,
                &aws_lc_rs::rand::SystemRandom::new(),
                jws.as_bytes(),
                &mut signature,
            )
            .map_err(|_| KeyError("RS256 signing failed"))?;
        jws.push('.');
        jws.push_str(&base64url(signature));
        Ok(jws)
    }
}

/// The claims of `jws` if it is an RS256 signature (header `alg` RS256)
/// by the key of `keys` its `kid` names: this service's own tokens
/// presented back (an `id_token_hint`). `None` for anything else, `alg:
/// none` and HMAC included.
pub fn verify_rs256<'a>(
    jws: &str,
    keys: impl IntoIterator<Item = (&'a str, &'a RsaPublicJwk)>,
) -> Option<Value> {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
    if jws.len() > 16 * 1024 {
        return None;
    }
    let (signed, signature) = jws.rsplit_once('.')?;
    let (header, claims) = signed.split_once('.')?;
    let header: Value = serde_json::from_slice(&B64.decode(header).ok()?).ok()?;
    if header.get("alg")?.as_str()? != "RS256" {
        return None;
    }
    let kid = header.get("kid")?.as_str()?;
    let (_, key) = keys.into_iter().find(|(id, _)| *id == kid)?;
    let n = B64.decode(&key.n).ok()?;
    let e = B64.decode(&key.e).ok()?;
    aws_lc_rs::signature::RsaPublicKeyComponents { n: &n, e: &e }
        .verify(
            &aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA256,
            signed.as_bytes(),
            &B64.decode(signature).ok()?,
        )
        .ok()?;
    serde_json::from_slice(&B64.decode(claims).ok()?).ok()
}

/// The label and the base64 body (whitespace removed) of the first PEM
/// block of `pem`.
fn pem_body(pem: &str) -> Option<(String, String)> {
    let start = pem.find("-----BEGIN ")?;
    let rest = &pem[start + "-----BEGIN ".len()..];
    let (label, rest) = rest.split_once("-----")?;
    let end = rest.find(&format!("-----END {label}-----"))?;
    let body: String = rest[..end].chars().filter(|c| !c.is_whitespace()).collect();
    Some((label.to_owned(), body))
}

/// OpenID Connect's `at_hash` (Core §3.1.3.6): the left half of the SHA-256
/// of the access token, base64url.
pub fn left_half_hash(value: &str) -> String {
    let digest = Sha256::digest(value.as_bytes());
    base64url(&digest[..16])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_key_signs_what_its_public_half_verifies() {
        let (signer, pkcs8) = RsaSigner::generate().unwrap();
        let again = RsaSigner::from_pkcs8(&pkcs8).unwrap();
        assert_eq!(signer.public_jwk(), again.public_jwk());
        let jws = again.sign("k1", "JWT", &json!({"sub": "42"})).unwrap();
        let (signed, signature) = jws.rsplit_once('.').unwrap();
        let public = signer.public_jwk();
        let n = URL_SAFE_NO_PAD.decode(&public.n).unwrap();
        let e = URL_SAFE_NO_PAD.decode(&public.e).unwrap();
        assert_eq!(n.len(), 256, "RSA 2048");
        let key = aws_lc_rs::signature::RsaPublicKeyComponents { n: &n, e: &e };
        key.verify(
            &aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA256,
            signed.as_bytes(),
            &URL_SAFE_NO_PAD.decode(signature).unwrap(),
        )
        .unwrap();
        let header: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(jws.split('.').next().unwrap()).unwrap()).unwrap();
        assert_eq!(header, json!({"alg": "RS256", "typ": "JWT", "kid": "k1"}));
    }

    #[test]
    fn only_rs256_signatures_by_a_known_key_verify() {
        let (signer, _) = RsaSigner::generate().unwrap();
        let public = signer.public_jwk();
        let keys = [("k1", &public)];
        let jws = signer.sign("k1", "JWT", &json!({"sub": "42"})).unwrap();
        assert_eq!(verify_rs256(&jws, keys), Some(json!({"sub": "42"})));
        assert_eq!(verify_rs256(&jws, [("k2", &public)]), None, "a kid not published");
        let (header, rest) = jws.split_once('.').unwrap();
        let (claims, _) = rest.split_once('.').unwrap();
        let none = format!("{}.{claims}.", base64url(r#"{"alg":"none","kid":"k1"}"#));
        assert_eq!(verify_rs256(&none, keys), None, "alg none");
        let hs = format!("{}.{claims}.AAAA", base64url(r#"{"alg":"HS256","kid":"k1"}"#));
        assert_eq!(verify_rs256(&hs, keys), None, "HMAC");
        let tampered = format!(
            "{header}.{}.{}",
            base64url(r#"{"sub":"43"}"#),
            jws.rsplit_once('.').unwrap().1
        );
        assert_eq!(verify_rs256(&tampered, keys), None, "claims changed");
        assert_eq!(verify_rs256("not a jwt", keys), None);
    }

    #[test]
    fn thumbprints_follow_rfc_7638() {
        // RFC 7638 §3.1's example key and thumbprint.
        let jwk = RsaPublicJwk {
            n: "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw".into(),
            e: "AQAB".into(),
        };
        assert_eq!(jwk.thumbprint(), "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
    }

    #[test]
    fn at_hash_is_the_left_half_of_the_sha256() {
        // OpenID Connect Core, Appendix A.3's access token and at_hash.
        assert_eq!(
            left_half_hash("jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y"),
            "77QmUPtjPfzWtF2AnpK9RQ"
        );
    }
}
