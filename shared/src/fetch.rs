//! Fetching a document from a URL a client gave (a Client ID Metadata
//! Document), guarded against server-side request forgery: `https` only,
//! every address the name resolves to must be a public one (checked, then
//! connected to, so a second lookup cannot change it), no redirects
//! followed, a size limit, one deadline for the whole exchange.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use url::{Host, Url};

/// Why a document could not be had, in words fit for the client's error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchRefused(pub String);

impl std::fmt::Display for FetchRefused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn refused(why: impl Into<String>) -> FetchRefused {
    FetchRefused(why.into())
}

/// A document as served: its body, and how long it may be kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    pub body: Vec<u8>,
    /// Seconds it may be reused, from `Cache-Control` (`None`: not said).
    pub max_age: Option<u64>,
}

/// The limits of one fetch.
#[derive(Debug, Clone)]
pub struct FetchPolicy {
    /// The most bytes of body read.
    pub max_bytes: usize,
    /// The whole exchange, resolution to last byte.
    pub timeout: Duration,
    /// Whether loopback addresses may be connected to (tests only).
    pub allow_loopback: bool,
}

/// Whether `ip` is an address on the public internet: not loopback,
/// private, link-local, shared (CGNAT), multicast, documentation,
/// benchmarking, reserved or unspecified, in IPv4 or IPv6 (IPv4-mapped and
/// NAT64 addresses judged by the IPv4 address they carry).
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public_v4(v4);
            }
            let segments = v6.segments();
            // 64:ff9b::/96, NAT64: the IPv4 address in its last 32 bits.
            if segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
                let octets = v6.octets();
                return is_public_v4(Ipv4Addr::new(octets[12], octets[13], octets[14], octets[15]));
            }
            is_public_v6(v6)
        }
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // 100.64.0.0/10, shared address space
        || (a == 192 && b == 0 && c == 0) // 192.0.0.0/24, protocol assignments
        || (a == 198 && (18..20).contains(&b)) // 198.18.0.0/15, benchmarking
        || a >= 240) // 240.0.0.0/4, reserved
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || (first & 0xfe00) == 0xfc00 // fc00::/7, unique local
        || (first & 0xffc0) == 0xfe80 // fe80::/10, link-local
        || (first & 0xffc0) == 0xfec0 // fec0::/10, site-local (deprecated)
        || first == 0x2001 && ip.segments()[1] == 0x0db8 // 2001:db8::/32, documentation
        || ip.segments()[..6] == [0, 0, 0, 0, 0, 0]) // ::/96, IPv4-compatible (deprecated)
}

/// Whether `ip` may be connected to under `policy`.
fn admitted(ip: IpAddr, policy: &FetchPolicy) -> bool {
    is_public(ip) || (policy.allow_loopback && ip.is_loopback())
}

/// Ends a spawned task when dropped.
struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The system's trust anchors (`SSL_CERT_FILE` honoured), read once.
fn tls_config() -> Result<Arc<rustls::ClientConfig>, FetchRefused> {
    static CONFIG: OnceLock<Option<Arc<rustls::ClientConfig>>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let mut roots = rustls::RootCertStore::empty();
            let found = rustls_native_certs::load_native_certs();
            for cert in found.certs {
                let _ = roots.add(cert);
            }
            if roots.is_empty() {
                tracing::error!("no trusted root certificates: metadata documents cannot be fetched");
                return None;
            }
            let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
            let mut config = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .ok()?
                .with_root_certificates(roots)
                .with_no_client_auth();
            config.alpn_protocols = vec![b"http/1.1".to_vec()];
            Some(Arc::new(config))
        })
        .clone()
        .ok_or_else(|| refused("this service cannot verify TLS certificates"))
}

/// `GET url` under `policy`: the body of a `200`, or why not.
pub async fn fetch(url: &Url, policy: &FetchPolicy) -> Result<Fetched, FetchRefused> {
    tokio::time::timeout(policy.timeout, fetch_unbounded(url, policy))
        .await
        .unwrap_or_else(|_| {
            Err(refused(format!(
                "it did not answer within {} s",
                policy.timeout.as_secs_f32()
            )))
        })
}

async fn fetch_unbounded(url: &Url, policy: &FetchPolicy) -> Result<Fetched, FetchRefused> {
    if url.scheme() != "https" {
        return Err(refused("only https URLs are fetched"));
    }
    let port = url.port_or_known_default().unwrap_or(443);
    let (addresses, server_name): (Vec<SocketAddr>, ServerName<'static>) = match url.host() {
        Some(Host::Domain(name)) => {
            let found: Vec<SocketAddr> = tokio::net::lookup_host((name, port))
                .await
                .map_err(|_| refused(format!("{name} does not resolve")))?
                .collect();
            let name = ServerName::try_from(name.to_owned()).map_err(|_| refused("not a valid host name"))?;
            (found, name)
        }
        Some(Host::Ipv4(ip)) => (
            vec![SocketAddr::new(ip.into(), port)],
            ServerName::IpAddress(IpAddr::from(ip).into()),
        ),
        Some(Host::Ipv6(ip)) => (
            vec![SocketAddr::new(ip.into(), port)],
            ServerName::IpAddress(IpAddr::from(ip).into()),
        ),
        None => return Err(refused("the URL has no host")),
    };
    // Every address, not the first: a name that also resolves to a private
    // address is refused whichever one a connection would pick.
    if addresses.is_empty() {
        return Err(refused("its host has no address"));
    }
    if let Some(private) = addresses.iter().find(|a| !admitted(a.ip(), policy)) {
        return Err(refused(format!(
            "its host resolves to {}, which is not a public address",
            private.ip()
        )));
    }
    let mut tcp = None;
    for address in &addresses {
        if let Ok(stream) = TcpStream::connect(address).await {
            tcp = Some(stream);
            break;
        }
    }
    let tcp = tcp.ok_or_else(|| refused("its host refused the connection"))?;
    let connector = tokio_rustls::TlsConnector::from(tls_config()?);
    let tls = connector
        .connect(server_name, tcp)
        .await
        .map_err(|e| refused(format!("TLS failed ({e})")))?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .map_err(|_| refused("it did not speak HTTP/1.1"))?;
    // The connection is driven beside the request, and dropped with it
    // (a server that never closes it is not kept past the deadline).
    let _connection = AbortOnDrop(tokio::spawn(connection).abort_handle());
    let authority = match url.port() {
        Some(port) => format!("{}:{port}", url.host_str().unwrap_or_default()),
        None => url.host_str().unwrap_or_default().to_owned(),
    };
    let target = match url.query() {
        Some(query) => format!("{}?{query}", url.path()),
        None => url.path().to_owned(),
    };
    let request = http::Request::get(target)
        .header(http::header::HOST, authority)
        .header(http::header::ACCEPT, "application/json")
        .header(http::header::USER_AGENT, "oauth-lambda (client metadata)")
        .body(Empty::<Bytes>::new())
        .map_err(|_| refused("the URL cannot be requested"))?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|_| refused("it closed the connection without an answer"))?;
    let status = response.status();
    if status.is_redirection() {
        return Err(refused(format!(
            "it answered {status}: redirects are not followed"
        )));
    }
    if status != http::StatusCode::OK {
        return Err(refused(format!("it answered {status}")));
    }
    if let Some(length) = response
        .headers()
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
    {
        if length > policy.max_bytes as u64 {
            return Err(refused(format!("it is over {} bytes", policy.max_bytes)));
        }
    }
    let max_age = max_age(response.headers());
    let mut body = response.into_body();
    let mut bytes = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|_| refused("its body was cut short"))?;
        if let Some(data) = frame.data_ref() {
            if bytes.len() + data.len() > policy.max_bytes {
                return Err(refused(format!("it is over {} bytes", policy.max_bytes)));
            }
            bytes.extend_from_slice(data);
        }
    }
    Ok(Fetched { body: bytes, max_age })
}

/// How long `Cache-Control` lets the answer be reused: `no-store` and
/// `no-cache` are 0, `max-age` its seconds, otherwise not said.
fn max_age(headers: &http::HeaderMap) -> Option<u64> {
    let mut said = None;
    for value in headers.get_all(http::header::CACHE_CONTROL) {
        let Ok(value) = value.to_str() else { continue };
        for directive in value.split(',').map(str::trim) {
            let lower = directive.to_ascii_lowercase();
            if lower == "no-store" || lower == "no-cache" || lower == "private" {
                return Some(0);
            }
            if let Some(seconds) = lower.strip_prefix("max-age=") {
                said = seconds.trim_matches('"').parse::<u64>().ok().or(Some(0));
            }
        }
    }
    said
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_public_addresses_are_public() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "192.0.0.8",
            "198.18.0.1",
            "224.0.0.1",
            "255.255.255.255",
            "240.0.0.1",
            "192.0.2.1",
            "::1",
            "::",
            "fc00::1",
            "fd12::1",
            "fe80::1",
            "ff02::1",
            "2001:db8::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a00:1",
            "::127.0.0.1",
        ] {
            assert!(!is_public(private.parse().unwrap()), "{private} is not public");
        }
        for public in [
            "93.184.215.14",
            "8.8.8.8",
            "2606:4700::6810:84e5",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
        ] {
            assert!(is_public(public.parse().unwrap()), "{public} is public");
        }
    }

    #[test]
    fn loopback_only_when_allowed() {
        let mut policy = FetchPolicy {
            max_bytes: 5,
            timeout: Duration::from_secs(1),
            allow_loopback: false,
        };
        assert!(!admitted("127.0.0.1".parse().unwrap(), &policy));
        policy.allow_loopback = true;
        assert!(admitted("127.0.0.1".parse().unwrap(), &policy) && admitted("::1".parse().unwrap(), &policy));
        assert!(!admitted("10.0.0.1".parse().unwrap(), &policy));
    }

    #[test]
    fn cache_control_is_read() {
        let headers = |values: &[&str]| {
            let mut map = http::HeaderMap::new();
            for v in values {
                map.append(http::header::CACHE_CONTROL, v.parse().unwrap());
            }
            map
        };
        assert_eq!(max_age(&headers(&[])), None);
        assert_eq!(max_age(&headers(&["public, max-age=600"])), Some(600));
        assert_eq!(max_age(&headers(&["max-age=600", "no-store"])), Some(0));
        assert_eq!(max_age(&headers(&["no-cache"])), Some(0));
        assert_eq!(max_age(&headers(&["max-age=soon"])), Some(0));
    }
}
