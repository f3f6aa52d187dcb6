//! The one rule for requests this server makes to URLs that users chose (webhooks, Web Push
//! endpoints): internal addresses are refused unless the operator allow-listed them.
//!
//! A user who registers `http://169.254.169.254/` or a name that resolves to `10.0.0.1` would
//! otherwise make the server probe its own network (SSRF). The check runs where the address is
//! used: the guarded client resolves names through [`VettingResolver`], so the socket connects
//! to exactly the address that was vetted (no second lookup an attacker's DNS could answer
//! differently), literal IPs are vetted before the request, and redirects are never followed.
//! Registration runs the same check early so a user learns at once (HTTP 422).
//!
//! Requests to operator-configured addresses (other cluster nodes) use [`internal_client`].

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use ipnet::IpNet;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// How long a request to a user-chosen URL may take in all.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// How long registration waits for a name to resolve before accepting it unchecked (delivery
/// checks again).
const REGISTRATION_LOOKUP: Duration = Duration::from_secs(2);

/// The outbound policy and the client that enforces it; cheap to clone.
#[derive(Clone)]
pub struct Outbound {
    allow: Arc<[IpNet]>,
    client: reqwest::Client,
}

impl Outbound {
    /// A policy refusing internal addresses except those inside `allow`.
    pub fn new(allow: &[IpNet]) -> Outbound {
        let allow: Arc<[IpNet]> = allow.iter().map(|net| net.trunc()).collect();
        let client = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::none())
            // A proxy from the environment would be connected to instead of the vetted address.
            .no_proxy()
            .dns_resolver(Arc::new(VettingResolver { allow: allow.clone() }))
            .user_agent(concat!("convene/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_default();
        Outbound { allow, client }
    }

    /// Whether a connection to `ip` is refused.
    pub fn refuses(&self, ip: IpAddr) -> bool {
        refused(&self.allow, ip)
    }

    /// The guarded client. Call [`Outbound::check_literal`] on a URL before sending to it:
    /// names are vetted by the client's resolver, literal addresses never reach a resolver.
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// Refuses a URL whose host is a literal internal address; names pass (the resolver
    /// vets them when connecting).
    pub fn check_literal(&self, url: &url::Url) -> Result<(), Refused> {
        match url.host() {
            Some(url::Host::Ipv4(ip)) if self.refuses(IpAddr::V4(ip)) => Err(Refused(ip.to_string())),
            Some(url::Host::Ipv6(ip)) if self.refuses(IpAddr::V6(ip)) => Err(Refused(ip.to_string())),
            Some(_) => Ok(()),
            None => Err(Refused("(no host)".into())),
        }
    }

    /// The registration-time check: literal addresses, and names that resolve now to any
    /// refused address. A name that does not resolve (yet) is accepted; delivery re-checks.
    pub async fn check_url(&self, url: &url::Url) -> Result<(), Refused> {
        self.check_literal(url)?;
        let Some(url::Host::Domain(name)) = url.host() else { return Ok(()) };
        let port = url.port_or_known_default().unwrap_or(443);
        let lookup = tokio::time::timeout(REGISTRATION_LOOKUP, tokio::net::lookup_host((name, port))).await;
        if let Ok(Ok(addrs)) = lookup {
            for addr in addrs {
                if self.refuses(addr.ip()) {
                    return Err(Refused(format!("{name} ({})", addr.ip())));
                }
            }
        }
        Ok(())
    }
}

/// A destination the outbound rule refuses; the text names the host or address.
#[derive(Debug)]
pub struct Refused(pub String);

impl Refused {
    /// The reason as a phrase for API errors ("url points to …"), with the operator's remedy.
    pub fn explain(&self) -> String {
        format!(
            "points to an internal address this server does not reach ({}); an operator may allow-list its network with --outbound-allow",
            self.0
        )
    }
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "refused address: {} is internal and not allow-listed", self.0)
    }
}

impl std::error::Error for Refused {}

/// Resolves names and refuses the whole answer if any address in it is refused, so a name
/// cannot mix a public address with an internal one.
struct VettingResolver {
    allow: Arc<[IpNet]>,
}

impl Resolve for VettingResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow = self.allow.clone();
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if let Some(bad) = addrs.iter().find(|a| refused(&allow, a.ip())) {
                return Err(Box::new(Refused(format!("{host} ({})", bad.ip()))) as _);
            }
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

/// A short, body-free description of a failed request for delivery logs: "refused address",
/// "connection refused", "timeout", "host not found", … — never what the target answered.
pub fn classify(e: &reqwest::Error) -> String {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(cause) = source {
        if let Some(refused) = cause.downcast_ref::<Refused>() {
            return refused.to_string();
        }
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            match io.kind() {
                std::io::ErrorKind::ConnectionRefused => return "connection refused".into(),
                std::io::ErrorKind::TimedOut => return "timeout".into(),
                std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::ConnectionAborted => {
                    return "connection reset".into()
                }
                _ => {}
            }
        }
        source = cause.source();
    }
    if e.is_timeout() {
        "timeout".into()
    } else if e.is_connect() {
        // Resolution failures surface as connect errors without an io kind of their own.
        let text = format!("{e:?}");
        if text.contains("dns") || text.contains("lookup") || text.contains("resolve") {
            "host not found".into()
        } else {
            "connection failed".into()
        }
    } else if e.is_request() || e.is_body() {
        "request failed".into()
    } else {
        "connection failed".into()
    }
}

/// Whether `ip` is refused under `allow`. IPv4-mapped IPv6 addresses count as their IPv4 form
/// for both the allow-list and the rule.
fn refused(allow: &[IpNet], ip: IpAddr) -> bool {
    let ip = ip.to_canonical();
    !allow.iter().any(|net| net.contains(&ip)) && internal(ip)
}

/// Addresses that are not the public internet: loopback, private, link-local (cloud metadata
/// lives at 169.254.169.254), CGNAT, ULA, multicast, unspecified, reserved and documentation
/// ranges, and IPv6 forms that embed one of those IPv4 addresses.
pub fn internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => internal_v4(v4),
        IpAddr::V6(v6) => internal_v6(v6),
    }
}

fn internal_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    a == 0 // "this network", including 0.0.0.0
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || (a == 100 && (b & 0xc0) == 64) // CGNAT 100.64.0.0/10 (Alibaba metadata 100.100.100.200)
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments (e.g. Oracle metadata)
        || (a == 192 && b == 0 && c == 2) // TEST-NET-1
        || (a == 198 && (b & 0xfe) == 18) // benchmarking 198.18.0.0/15
        || (a == 198 && b == 51 && c == 100) // TEST-NET-2
        || (a == 203 && b == 0 && c == 113) // TEST-NET-3
        || ip.is_multicast()
        || a >= 240 // reserved and broadcast
}

fn internal_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    let embedded = |hi: u16, lo: u16| Ipv4Addr::new((hi >> 8) as u8, hi as u8, (lo >> 8) as u8, lo as u8);
    if let Some(v4) = ip.to_ipv4_mapped() {
        return internal_v4(v4);
    }
    if s[..6] == [0; 6] {
        // IPv4-compatible ::a.b.c.d (deprecated), which also covers :: and ::1.
        return true;
    }
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return internal_v4(embedded(s[6], s[7])); // NAT64
    }
    if s[0] == 0x2002 {
        return internal_v4(embedded(s[1], s[2])); // 6to4
    }
    (s[0] & 0xfe00) == 0xfc00 // ULA fc00::/7 (AWS metadata fd00:ec2::254)
        || (s[0] & 0xffc0) == 0xfe80 // link-local
        || (s[0] & 0xffc0) == 0xfec0 // site-local (deprecated)
        || ip.is_multicast()
        || (s[0] == 0x2001 && s[1] == 0) // Teredo hides an IPv4 address
        || (s[0] == 0x2001 && s[1] == 0xdb8) // documentation
        || s[..4] == [0x100, 0, 0, 0] // discard-only
}

/// The client for requests to addresses the operator configured (other cluster nodes), which
/// may well be internal: pooled connections, bounded time, no redirects.
pub(crate) fn internal_client() -> &'static reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT.get_or_init(|| {
        reqwest::Client::builder()
            .timeout(Duration::from_secs(15))
            .connect_timeout(Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("convene/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn internal_addresses_are_refused() {
        let none = Outbound::new(&[]);
        for bad in [
            "127.0.0.1",
            "10.0.0.1",
            "172.16.5.4",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "100.100.100.200",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "::ffff:169.254.169.254",
            "::ffff:10.0.0.1",
            "::127.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "2002:a9fe:a9fe::1",
            "fd00:ec2::254",
            "fe80::1",
            "ff02::1",
        ] {
            assert!(none.refuses(ip(bad)), "{bad} must be refused");
        }
        for good in ["93.184.216.34", "8.8.8.8", "2606:4700::1111", "::ffff:8.8.8.8", "100.128.0.1"] {
            assert!(!none.refuses(ip(good)), "{good} is public");
        }
    }

    #[test]
    fn the_allow_list_opens_exactly_its_networks() {
        let lo = Outbound::new(&["127.0.0.0/8".parse().unwrap()]);
        assert!(!lo.refuses(ip("127.0.0.1")));
        assert!(!lo.refuses(ip("::ffff:127.0.0.1")), "the mapped form of an allowed address");
        assert!(lo.refuses(ip("10.0.0.1")));
        assert!(lo.refuses(ip("169.254.169.254")));
    }

    #[tokio::test]
    async fn urls_are_checked_by_literal_and_by_name() {
        let none = Outbound::new(&[]);
        let url = |s: &str| url::Url::parse(s).unwrap();
        assert!(none.check_url(&url("http://169.254.169.254/latest/meta-data/")).await.is_err());
        assert!(none.check_url(&url("http://[::ffff:169.254.169.254]/")).await.is_err());
        assert!(none.check_url(&url("http://2852039166/")).await.is_err(), "decimal form of 169.254.169.254");
        assert!(none.check_url(&url("http://localhost:9/hook")).await.is_err(), "a name resolving to loopback");
        assert!(none.check_url(&url("https://93.184.216.34/hook")).await.is_ok());
    }
}
