//! Who may tell the layer a client's certificate: the proxies' addresses (CIDRs), and the
//! connection's peer address as servers put it in the request's extensions.

use std::net::{IpAddr, SocketAddr};

use super::cert::ClientCertificate;

/// The address of the connection a request came on, for
/// [`CertificateBinding`](super::CertificateBinding)'s trusted proxies. Put it in the
/// request's extensions when your server is not axum's `serve` with
/// `into_make_service_with_connect_info::<SocketAddr>()` (whose `ConnectInfo` the layer also
/// reads) or permiso's TLS helper (which inserts it).
///
/// ```
/// use permiso::mtls::PeerAddr;
///
/// let mut req = http::Request::new(());
/// req.extensions_mut().insert(PeerAddr("127.0.0.1:50000".parse().unwrap()));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerAddr(pub SocketAddr);

/// The peer address the server recorded in `extensions`, if any.
pub(crate) fn peer(extensions: &http::Extensions) -> Option<IpAddr> {
    if let Some(PeerAddr(addr)) = extensions.get::<PeerAddr>() {
        return Some(addr.ip());
    }
    #[cfg(feature = "axum")]
    if let Some(axum::extract::ConnectInfo(addr)) = extensions.get::<axum::extract::ConnectInfo<SocketAddr>>()
    {
        return Some(addr.ip());
    }
    #[cfg(feature = "tonic-tls")]
    {
        use tonic::transport::server::{TcpConnectInfo, TlsConnectInfo};
        let tcp = extensions
            .get::<TcpConnectInfo>()
            .or_else(|| extensions.get::<TlsConnectInfo<TcpConnectInfo>>().map(TlsConnectInfo::get_ref));
        if let Some(addr) = tcp.and_then(TcpConnectInfo::remote_addr) {
            return Some(addr.ip());
        }
    }
    None
}

/// The SHA-256 thumbprint of the certificate the connection's own TLS received: permiso's
/// [`ClientCertificate`] in the extensions, else (feature
/// `tonic-tls`) the leaf of the peer certificates tonic's TLS server recorded.
pub(crate) fn own_certificate(extensions: &http::Extensions) -> Option<[u8; 32]> {
    if let Some(cert) = extensions.get::<ClientCertificate>() {
        return Some(*cert.sha256());
    }
    #[cfg(feature = "tonic-tls")]
    {
        use tonic::transport::server::{TcpConnectInfo, TlsConnectInfo};
        let certs = extensions.get::<TlsConnectInfo<TcpConnectInfo>>()?.peer_certs()?;
        certs.first().map(|leaf| *ClientCertificate::from_der(leaf.as_ref()).sha256())
    }
    #[cfg(not(feature = "tonic-tls"))]
    None
}

/// One network: an address and a prefix length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Cidr {
    net: IpAddr,
    bits: u8,
}

impl Cidr {
    /// `10.0.0.0/8`, `fd00::/8`, or one address (`127.0.0.2`, a /32 or /128).
    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let bad = || format!("{text:?} is not an IP address or CIDR (such as 10.0.0.0/8)");
        let (addr, bits) = match text.split_once('/') {
            Some((a, b)) => (a, Some(b.parse::<u8>().map_err(|_| bad())?)),
            None => (text, None),
        };
        let net: IpAddr = addr.parse().map_err(|_| bad())?;
        let max = if net.is_ipv4() { 32 } else { 128 };
        let bits = bits.unwrap_or(max);
        if bits > max {
            return Err(bad());
        }
        if mask(net, bits) != net {
            return Err(format!("{text:?} has host bits set (did you mean {}/{bits}?)", mask(net, bits)));
        }
        Ok(Self { net, bits })
    }

    pub(crate) fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        ip.is_ipv4() == self.net.is_ipv4() && mask(ip, self.bits) == self.net
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.net, self.bits)
    }
}

fn mask(ip: IpAddr, bits: u8) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => {
            let m = u32::MAX.checked_shl(32 - u32::from(bits)).unwrap_or(0);
            IpAddr::V4((u32::from(v4) & m).into())
        }
        IpAddr::V6(v6) => {
            let m = u128::MAX.checked_shl(128 - u32::from(bits)).unwrap_or(0);
            IpAddr::V6((u128::from(v6) & m).into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidrs_match_their_networks_only() {
        let c = |t: &str| Cidr::parse(t).unwrap();
        let ip = |t: &str| t.parse::<IpAddr>().unwrap();
        assert!(c("127.0.0.2").contains(ip("127.0.0.2")));
        assert!(!c("127.0.0.2").contains(ip("127.0.0.1")));
        assert!(c("10.0.0.0/8").contains(ip("10.200.3.4")));
        assert!(c("10.0.0.0/8").contains(ip("::ffff:10.1.1.1")), "IPv4-mapped IPv6 is IPv4");
        assert!(!c("10.0.0.0/8").contains(ip("11.0.0.1")));
        assert!(c("0.0.0.0/0").contains(ip("8.8.8.8")));
        assert!(!c("0.0.0.0/0").contains(ip("::1")));
        assert!(c("fd00::/8").contains(ip("fd12::1")));
        assert!(c("::1").contains(ip("::1")));
        for bad in ["10.0.0.1/8", "10.0.0.0/33", "::/129", "localhost", "10.0.0.0/x", ""] {
            assert!(Cidr::parse(bad).is_err(), "{bad}");
        }
    }
}
