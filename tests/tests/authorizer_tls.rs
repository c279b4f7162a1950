//! The introspection call over TLS (rustls): a server whose certificate the
//! system trust store (here SSL_CERT_FILE) vouches for is used; any other is
//! refused, and the authorizer fails closed. Its own test binary, because it
//! sets SSL_CERT_FILE for the process.

use std::sync::Arc;

use authorizer::{Authorizer, AuthorizerConfig, Refusal};
use integration_tests::authorizer_support::{authorize, event, EventKind};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use shared::{SharedClock, SystemClock};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

/// An HTTPS introspection endpoint for `localhost` answering `{"active": true}`.
async fn https_endpoint(cert: &rcgen::CertifiedKey<rcgen::KeyPair>) -> String {
    let chain = vec![CertificateDer::from(cert.cert.der().to_vec())];
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(cert.signing_key.serialize_der()));
    let config =
        rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .unwrap();
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(socket).await else {
                    return;
                };
                let mut buffer = [0u8; 8192];
                let _ = tls.read(&mut buffer).await;
                let body = r#"{"active": true, "scope": "read"}"#;
                let response = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = tls.write_all(response.as_bytes()).await;
                let _ = tls.shutdown().await;
            });
        }
    });
    format!("https://localhost:{port}/o/introspect/")
}

async fn authorizer(url: &str) -> Authorizer {
    let config = AuthorizerConfig::from_lookup(|k| match k {
        "RESOURCE_SERVER_INTROSPECTION_URL" => Some(url.to_owned()),
        "RESOURCE_SERVER_AUTH_TOKEN" => Some("rs".to_owned()),
        _ => None,
    })
    .unwrap();
    let clock: SharedClock = Arc::new(SystemClock);
    integration_tests::authorizer_support::cold_start(config, clock)
        .await
        .unwrap()
}

#[tokio::test]
async fn introspection_over_tls_trusts_only_the_trust_store() {
    let trusted = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let stranger = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let dir = std::env::temp_dir().join(format!("authorizer-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bundle = dir.join("ca.pem");
    std::fs::write(&bundle, trusted.cert.pem()).unwrap();
    // Read by rustls-native-certs when the authorizer builds its client.
    std::env::set_var("SSL_CERT_FILE", &bundle);

    let good = authorizer(&https_endpoint(&trusted).await).await;
    let answer = authorize(
        &good,
        event(EventKind::RestToken, Some("Bearer abc"), "GET", "/items/1"),
    )
    .await
    .unwrap();
    assert_eq!(answer["policyDocument"]["Statement"][0]["Effect"], "Allow");

    let bad = authorizer(&https_endpoint(&stranger).await).await;
    match authorize(
        &bad,
        event(EventKind::RestToken, Some("Bearer abc"), "GET", "/items/1"),
    )
    .await
    {
        Err(Refusal::Failed(why)) => assert!(why.contains("unreachable"), "{why}"),
        other => panic!("an untrusted certificate must fail closed, got {other:?}"),
    }
    std::fs::remove_dir_all(&dir).ok();
}
