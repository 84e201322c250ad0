//! PROXY protocol from a trusted L4 load balancer: recovers the real client address so that
//! per-IP limits and logs see the client, not the balancer.
//!
//! Both versions are read: v2 (binary: AWS NLB, HAProxy, Envoy, most balancers) and v1 (text:
//! Google Cloud's TCP proxy only speaks v1). The spec is haproxy's `proxy-protocol.txt`.
//!
//! Invariants:
//! - only connections whose socket peer is in [`TrustedNetworks`] are read for a header, and
//!   those must send one; an untrusted peer's bytes are never looked at here, so a client
//!   cannot forge its address by sending a header of its own;
//! - [`read_header`] consumes exactly the header and not one byte of what follows (the TLS
//!   ClientHello or the HTTP request);
//! - headers are bounded ([`MAX_V2_HEADER`], 107 bytes for v1) and must arrive within the
//!   caller's timeout;
//! - `LOCAL` headers (balancer health checks) and address families other than TCP over IPv4 or
//!   IPv6 (UNIX sockets, UDP, `UNKNOWN`) keep the socket's own peer address.

use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::str::FromStr;
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

/// The 12 bytes every v2 header starts with.
pub const SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";

/// The largest v2 header accepted, TLVs included. The spec's 536 bytes cover the fixed part
/// and the largest address block (UNIX); the rest leaves room for the TLVs balancers add
/// (AWS VPC endpoint ids, Azure link ids, TLS details), which are skipped.
pub const MAX_V2_HEADER: usize = 4096;

/// The fixed part of a v2 header: signature, version/command, family, length.
const V2_FIXED: usize = 16;
/// The longest v1 line, CRLF included (spec §2.1).
const V1_MAX: usize = 107;
const V1_PREFIX: &[u8] = b"PROXY ";

/// A v2 header's command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// The balancer's own connection (a health check): use the socket's peer.
    Local,
    /// A relayed client connection.
    Proxy,
}

/// A parsed header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parsed {
    /// The header's command (v1 headers are always `Proxy`).
    pub command: Command,
    /// The client as the balancer saw it; `None` when the socket's peer stands (see the module
    /// invariants).
    pub source: Option<SocketAddr>,
    /// The address the client connected to, when given.
    pub destination: Option<SocketAddr>,
    /// The header's length in bytes, TLVs included: exactly what to consume.
    pub len: usize,
}

/// Why no client address could be read.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// The buffer holds only part of a header (pure parsers only).
    #[error("incomplete PROXY header: {needed} bytes needed")]
    Incomplete {
        /// How many bytes the whole header needs, or at least the next step of parsing.
        needed: usize,
    },
    /// A trusted source sent something other than a PROXY header.
    #[error("expected a PROXY protocol header from a trusted source")]
    Missing,
    /// The v2 signature was followed by an unknown version.
    #[error("unsupported PROXY protocol version {0}")]
    Version(u8),
    /// The v2 command was neither LOCAL nor PROXY.
    #[error("unknown PROXY protocol v2 command {0:#x}")]
    Command(u8),
    /// The v2 address block is shorter than its family requires.
    #[error("PROXY protocol v2 address block too short for its family")]
    ShortAddress,
    /// The header is longer than allowed.
    #[error("PROXY protocol header longer than {MAX_V2_HEADER} bytes")]
    TooLong,
    /// A v1 line is not `PROXY TCP4|TCP6|UNKNOWN ...\r\n` with valid addresses.
    #[error("malformed PROXY protocol v1 header")]
    MalformedV1,
    /// The header did not arrive in time.
    #[error("PROXY protocol header not received within {0:?}")]
    Timeout(Duration),
    /// The connection closed before the header was complete.
    #[error("connection closed before the PROXY protocol header was complete")]
    Closed,
    /// The socket failed.
    #[error("I/O error reading the PROXY protocol header: {0}")]
    Io(#[from] io::Error),
}

impl ProxyError {
    /// A metric label from a fixed set.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Incomplete { .. } | Self::Closed => "closed",
            Self::Missing => "missing",
            Self::Version(_) | Self::Command(_) | Self::ShortAddress | Self::MalformedV1 => {
                "malformed"
            }
            Self::TooLong => "too_long",
            Self::Timeout(_) => "timeout",
            Self::Io(_) => "io",
        }
    }
}

/// Parses a v2 header at the start of `buf` (which may hold more bytes after it).
pub fn parse_v2(buf: &[u8]) -> Result<Parsed, ProxyError> {
    let sig_len = buf.len().min(SIGNATURE.len());
    if buf[..sig_len] != SIGNATURE[..sig_len] {
        return Err(ProxyError::Missing);
    }
    if buf.len() < V2_FIXED {
        return Err(ProxyError::Incomplete { needed: V2_FIXED });
    }
    let version = buf[12] >> 4;
    if version != 2 {
        return Err(ProxyError::Version(version));
    }
    let len = V2_FIXED + usize::from(u16::from_be_bytes([buf[14], buf[15]]));
    if len > MAX_V2_HEADER {
        return Err(ProxyError::TooLong);
    }
    if buf.len() < len {
        return Err(ProxyError::Incomplete { needed: len });
    }
    let command = match buf[12] & 0x0f {
        0x0 => Command::Local,
        0x1 => Command::Proxy,
        other => return Err(ProxyError::Command(other)),
    };
    let block = &buf[V2_FIXED..len];
    // High nibble: address family; low nibble: transport. Only TCP (STREAM) is ours to use;
    // whatever follows the address block is TLVs, which are skipped.
    let (source, destination) = match (command, buf[13]) {
        // LOCAL: "the receiver must ignore the address information" (spec §2.2).
        (Command::Local, _) => (None, None),
        (Command::Proxy, 0x11) => {
            let a = block.get(..12).ok_or(ProxyError::ShortAddress)?;
            let ip = |i: usize| IpAddr::V4(Ipv4Addr::new(a[i], a[i + 1], a[i + 2], a[i + 3]));
            let port = |i: usize| u16::from_be_bytes([a[i], a[i + 1]]);
            (
                Some(SocketAddr::new(ip(0), port(8))),
                Some(SocketAddr::new(ip(4), port(10))),
            )
        }
        (Command::Proxy, 0x21) => {
            let a = block.get(..36).ok_or(ProxyError::ShortAddress)?;
            let ip = |i: usize| {
                let mut octets = [0u8; 16];
                octets.copy_from_slice(&a[i..i + 16]);
                IpAddr::V6(Ipv6Addr::from(octets))
            };
            let port = |i: usize| u16::from_be_bytes([a[i], a[i + 1]]);
            (
                Some(SocketAddr::new(ip(0), port(32))),
                Some(SocketAddr::new(ip(16), port(34))),
            )
        }
        // UNSPEC, UNIX, UDP: nothing a TCP client address can be made of.
        (Command::Proxy, _) => (None, None),
    };
    Ok(Parsed {
        command,
        source,
        destination,
        len,
    })
}

/// Parses a v1 line at the start of `buf`: `PROXY TCP4|TCP6 src dst sport dport\r\n`, or
/// `PROXY UNKNOWN ...\r\n`.
pub fn parse_v1(buf: &[u8]) -> Result<Parsed, ProxyError> {
    let prefix_len = buf.len().min(V1_PREFIX.len());
    if buf[..prefix_len] != V1_PREFIX[..prefix_len] {
        return Err(ProxyError::Missing);
    }
    let window = &buf[..buf.len().min(V1_MAX)];
    let Some(end) = window.windows(2).position(|w| w == b"\r\n") else {
        return if buf.len() >= V1_MAX {
            Err(ProxyError::MalformedV1)
        } else {
            Err(ProxyError::Incomplete {
                needed: buf.len() + 1,
            })
        };
    };
    let line =
        std::str::from_utf8(&buf[V1_PREFIX.len()..end]).map_err(|_| ProxyError::MalformedV1)?;
    let fields: Vec<&str> = line.split(' ').collect();
    let (source, destination) = match fields.as_slice() {
        // "the receiver must ignore anything presented before the CRLF" (spec §2.1).
        ["UNKNOWN", ..] => (None, None),
        [family @ ("TCP4" | "TCP6"), src, dst, sport, dport] => {
            let ip = |s: &str| -> Result<IpAddr, ProxyError> {
                let ip: IpAddr = s.parse().map_err(|_| ProxyError::MalformedV1)?;
                match (*family, ip) {
                    ("TCP4", IpAddr::V4(_)) | ("TCP6", IpAddr::V6(_)) => Ok(ip),
                    _ => Err(ProxyError::MalformedV1),
                }
            };
            let port = |s: &str| -> Result<u16, ProxyError> {
                // Decimal without sign or leading zeros, as the spec writes them.
                if s.is_empty() || (s.len() > 1 && s.starts_with('0')) {
                    return Err(ProxyError::MalformedV1);
                }
                if !s.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(ProxyError::MalformedV1);
                }
                s.parse().map_err(|_| ProxyError::MalformedV1)
            };
            (
                Some(SocketAddr::new(ip(src)?, port(sport)?)),
                Some(SocketAddr::new(ip(dst)?, port(dport)?)),
            )
        }
        _ => return Err(ProxyError::MalformedV1),
    };
    Ok(Parsed {
        command: Command::Proxy,
        source,
        destination,
        len: end + 2,
    })
}

/// Reads the PROXY header (v1 or v2) a trusted balancer sends at the start of `stream`,
/// consuming exactly its bytes. `Ok(None)` means "use the socket's peer" (LOCAL, UNKNOWN, UNIX
/// or UDP). Call it only for peers in [`TrustedNetworks`].
pub async fn read_header(
    stream: &mut TcpStream,
    timeout: Duration,
) -> Result<Option<SocketAddr>, ProxyError> {
    tokio::time::timeout(timeout, read_header_now(stream))
        .await
        .map_err(|_| ProxyError::Timeout(timeout))?
        .map(|parsed| parsed.source)
}

async fn read_header_now(stream: &mut TcpStream) -> Result<Parsed, ProxyError> {
    // Six bytes tell the versions apart and fit inside the shortest header of either (the
    // shortest v1 line, "PROXY UNKNOWN\r\n", is 15 bytes), so nothing beyond it is consumed.
    let mut head = [0u8; 6];
    read_exact(stream, &mut head).await?;
    if head == V1_PREFIX {
        return read_v1(stream).await;
    }
    if head != SIGNATURE[..6] {
        return Err(ProxyError::Missing);
    }
    let mut header = Vec::with_capacity(V2_FIXED);
    header.extend_from_slice(&head);
    header.resize(V2_FIXED, 0);
    read_exact(stream, &mut header[6..]).await?;
    match parse_v2(&header) {
        // The fixed part gives the exact length of the rest.
        Err(ProxyError::Incomplete { needed }) => {
            header.resize(needed, 0);
            read_exact(stream, &mut header[V2_FIXED..]).await?;
            parse_v2(&header)
        }
        other => other,
    }
}

/// Reads the rest of a v1 line after its `PROXY ` prefix. A v1 line has no length field, so it
/// is found by peeking (balancers send it in one segment); only if the peek holds part of it
/// are the remaining bytes read one at a time.
async fn read_v1(stream: &mut TcpStream) -> Result<Parsed, ProxyError> {
    let mut line = V1_PREFIX.to_vec();
    let mut peeked = [0u8; V1_MAX - V1_PREFIX.len()];
    let n = stream.peek(&mut peeked).await?;
    if n == 0 {
        return Err(ProxyError::Closed);
    }
    if let Some(end) = peeked[..n].windows(2).position(|w| w == b"\r\n") {
        line.resize(V1_PREFIX.len() + end + 2, 0);
        read_exact(stream, &mut line[V1_PREFIX.len()..]).await?;
        return parse_v1(&line);
    }
    while !line.ends_with(b"\r\n") {
        if line.len() >= V1_MAX {
            return Err(ProxyError::MalformedV1);
        }
        let mut byte = [0u8; 1];
        read_exact(stream, &mut byte).await?;
        line.push(byte[0]);
    }
    parse_v1(&line)
}

async fn read_exact(stream: &mut TcpStream, buf: &mut [u8]) -> Result<(), ProxyError> {
    match stream.read_exact(buf).await {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Err(ProxyError::Closed),
        Err(e) => Err(ProxyError::Io(e)),
    }
}

/// The networks whose connections carry a PROXY header (`--proxy-protocol-from`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedNetworks {
    networks: Vec<Network>,
}

/// One CIDR block, its address already masked to the prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Network {
    addr: IpAddr,
    prefix: u8,
}

/// Why `--proxy-protocol-from` could not be parsed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum NetworkError {
    /// The list has no entries.
    #[error("no networks given (expected e.g. 10.0.0.0/8,fd00::/8)")]
    Empty,
    /// An entry is not an address or CIDR block.
    #[error("{entry:?} is not an IP address or CIDR block (e.g. 10.0.0.0/8)")]
    Invalid {
        /// The entry.
        entry: String,
    },
    /// The prefix length is too long for the address family.
    #[error("{entry:?}: prefix length must be at most {max}")]
    Prefix {
        /// The entry.
        entry: String,
        /// 32 or 128.
        max: u8,
    },
    /// Bits are set beyond the prefix: almost always a typo for a different network.
    #[error("{entry:?} has bits set beyond its prefix; did you mean {suggestion}?")]
    HostBits {
        /// The entry.
        entry: String,
        /// The network with those bits cleared.
        suggestion: String,
    },
}

impl TrustedNetworks {
    /// Parses a comma-separated list of addresses and CIDR blocks
    /// (`10.0.0.0/8,fd00::/8,127.0.0.1`); a bare address is a single host.
    pub fn parse(list: &str) -> Result<Self, NetworkError> {
        let networks = list
            .split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .map(Network::parse)
            .collect::<Result<Vec<_>, _>>()?;
        if networks.is_empty() {
            return Err(NetworkError::Empty);
        }
        Ok(Self { networks })
    }

    /// Whether `ip` is in one of the networks. IPv4 peers seen on a dual-stack socket
    /// (`::ffff:10.1.2.3`) match IPv4 networks.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.networks.iter().any(|n| n.contains(ip))
    }

    /// Whether no network is trusted (PROXY protocol off).
    pub fn is_empty(&self) -> bool {
        self.networks.is_empty()
    }
}

impl FromStr for TrustedNetworks {
    type Err = NetworkError;

    fn from_str(list: &str) -> Result<Self, Self::Err> {
        Self::parse(list)
    }
}

impl fmt::Display for TrustedNetworks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, n) in self.networks.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{}/{}", n.addr, n.prefix)?;
        }
        Ok(())
    }
}

impl Network {
    fn parse(entry: &str) -> Result<Self, NetworkError> {
        let invalid = || NetworkError::Invalid {
            entry: entry.to_owned(),
        };
        let (addr, prefix) = match entry.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (entry, None),
        };
        let addr: IpAddr = addr.parse().map_err(|_| invalid())?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => {
                p.parse::<u8>().map_err(|_| NetworkError::Prefix {
                    entry: entry.to_owned(),
                    max,
                })?
            }
            Some(_) => return Err(invalid()),
        };
        if prefix > max {
            return Err(NetworkError::Prefix {
                entry: entry.to_owned(),
                max,
            });
        }
        let masked = mask(addr, prefix);
        if masked != addr {
            return Err(NetworkError::HostBits {
                entry: entry.to_owned(),
                suggestion: format!("{masked}/{prefix}"),
            });
        }
        Ok(Self { addr, prefix })
    }

    fn contains(&self, ip: IpAddr) -> bool {
        ip.is_ipv4() == self.addr.is_ipv4() && mask(ip, self.prefix) == self.addr
    }
}

fn mask(addr: IpAddr, prefix: u8) -> IpAddr {
    match addr {
        IpAddr::V4(a) => {
            let bits = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V4(Ipv4Addr::from(u32::from(a) & bits))
        }
        IpAddr::V6(a) => {
            let bits = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V6(Ipv6Addr::from(u128::from(a) & bits))
        }
    }
}

#[cfg(test)]
mod tests;
