//! An HTTPS server on loopback, for the documents a client names by URL
//! (Client ID Metadata Documents): well-behaved ones and every kind of
//! misbehaviour the token service must survive. Its certificate is the
//! test's; whoever fetches must trust it (SSL_CERT_FILE).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

/// What the document server answers on a path.
#[derive(Clone)]
pub enum Serve {
    /// `200` with this body and, if given, this `Cache-Control`.
    Json(String, Option<&'static str>),
    /// A bare status.
    Status(u16),
    /// `302` to there.
    Redirect(String),
    /// 1 MB, announced by `Content-Length` or not (chunked).
    Huge { announced: bool },
    /// Accepts, then never answers.
    Silent,
}

/// An HTTPS server on 127.0.0.1, with a certificate for `localhost`.
pub struct DocumentServer {
    /// Its port on 127.0.0.1.
    pub port: u16,
    routes: Arc<Mutex<HashMap<String, Serve>>>,
    hits: Arc<Mutex<HashMap<String, usize>>>,
}

impl DocumentServer {
    /// Starts serving over TLS with `cert` (for `localhost`); nothing is served yet.
    pub async fn start(cert: &rcgen::CertifiedKey<rcgen::KeyPair>) -> Self {
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
        let routes: Arc<Mutex<HashMap<String, Serve>>> = Arc::default();
        let hits: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
        let (served, counted) = (routes.clone(), hits.clone());
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let (acceptor, routes, hits) = (acceptor.clone(), served.clone(), counted.clone());
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(socket).await else {
                        return;
                    };
                    let mut head = Vec::new();
                    let mut buffer = [0u8; 4096];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                        match tls.read(&mut buffer).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&buffer[..n]),
                        }
                    }
                    let head = String::from_utf8_lossy(&head).into_owned();
                    let path = head.split(' ').nth(1).unwrap_or("/").to_owned();
                    *hits.lock().unwrap().entry(path.clone()).or_default() += 1;
                    let serve = routes.lock().unwrap().get(&path).cloned();
                    let response = match serve {
                        Some(Serve::Json(body, cache)) => format!(
                            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n{}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                            cache.map(|c| format!("Cache-Control: {c}\r\n")).unwrap_or_default(),
                            body.len()
                        )
                        .into_bytes(),
                        Some(Serve::Redirect(to)) => format!(
                            "HTTP/1.1 302 Found\r\nLocation: {to}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                        )
                        .into_bytes(),
                        Some(Serve::Huge { announced }) => {
                            let body = format!("{{\"client_name\": \"{}\"}}", "x".repeat(1 << 20));
                            let mut response = if announced {
                                format!("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n", body.len())
                                    .into_bytes()
                            } else {
                                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec()
                            };
                            if announced {
                                response.extend_from_slice(body.as_bytes());
                            } else {
                                for chunk in body.as_bytes().chunks(8192) {
                                    response.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
                                    response.extend_from_slice(chunk);
                                    response.extend_from_slice(b"\r\n");
                                }
                                response.extend_from_slice(b"0\r\n\r\n");
                            }
                            response
                        }
                        Some(Serve::Silent) => {
                            tokio::time::sleep(Duration::from_secs(60)).await;
                            return;
                        }
                        Some(Serve::Status(status)) => format!(
                            "HTTP/1.1 {status} Whatever\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                        )
                        .into_bytes(),
                        None => b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_vec(),
                    };
                    let _ = tls.write_all(&response).await;
                    let _ = tls.shutdown().await;
                });
            }
        });
        Self { port, routes, hits }
    }

    /// The URL of `path` here, by the name the certificate is for.
    pub fn url(&self, path: &str) -> String {
        format!("https://localhost:{}{path}", self.port)
    }

    /// Answers `serve` on `path` from now on.
    pub fn serve(&self, path: &str, serve: Serve) {
        self.routes.lock().unwrap().insert(path.to_owned(), serve);
    }

    /// How many requests `path` got.
    pub fn hits(&self, path: &str) -> usize {
        self.hits.lock().unwrap().get(path).copied().unwrap_or(0)
    }
}
