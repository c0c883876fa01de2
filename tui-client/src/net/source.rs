//! Source addresses for outgoing connections (`load --source-addrs`).
//!
//! A connection is named by its four addresses and ports, so one source
//! address reaches one server `host:port` from at most the ~28,000 ports of
//! the kernel's ephemeral range. A load past that binds its clients, round
//! robin, to several source addresses: on Linux every `127.x.y.z` is the
//! loopback, so `127.0.0.2-127.0.0.20` needs no setup.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use tokio::net::{TcpSocket, TcpStream};

/// The most addresses a range may name.
const MOST: u32 = 65_536;

/// The source addresses to bind to, taken in turn.
#[derive(Debug, Clone)]
pub struct SourceAddrs(Arc<Pool>);

#[derive(Debug)]
struct Pool {
    addrs: Vec<IpAddr>,
    next: AtomicUsize,
}

impl PartialEq for SourceAddrs {
    fn eq(&self, other: &Self) -> bool {
        self.0.addrs == other.0.addrs
    }
}

impl Eq for SourceAddrs {}

impl SourceAddrs {
    /// `A-B` (an IPv4 range, both ends included) or `A,B,C` (any addresses).
    pub fn parse(text: &str) -> Result<Self, String> {
        let addrs = match text.split_once('-') {
            Some((first, last)) => range(first.trim(), last.trim())?,
            None => text
                .split(',')
                .map(|a| {
                    a.trim()
                        .parse::<IpAddr>()
                        .map_err(|_| format!("{a:?} is not an IP address"))
                })
                .collect::<Result<_, _>>()?,
        };
        Ok(Self(Arc::new(Pool {
            addrs,
            next: AtomicUsize::new(0),
        })))
    }

    /// The next address in turn.
    fn next(&self) -> IpAddr {
        let i = self.0.next.fetch_add(1, Relaxed);
        self.0.addrs[i % self.0.addrs.len()]
    }

    /// How many addresses the pool has.
    pub fn len(&self) -> usize {
        self.0.addrs.len()
    }

    /// Never true: parsing refuses an empty pool.
    pub fn is_empty(&self) -> bool {
        self.0.addrs.is_empty()
    }
}

fn range(first: &str, last: &str) -> Result<Vec<IpAddr>, String> {
    let parse = |a: &str| {
        a.parse::<Ipv4Addr>()
            .map(u32::from)
            .map_err(|_| format!("{a:?} is not an IPv4 address (a range is A-B, IPv4)"))
    };
    let (first, last) = (parse(first)?, parse(last)?);
    if last < first {
        return Err("the range ends before it starts".to_owned());
    }
    if last - first >= MOST {
        return Err(format!("a range of at most {MOST} addresses"));
    }
    Ok((first..=last)
        .map(|a| IpAddr::V4(Ipv4Addr::from(a)))
        .collect())
}

/// A TCP connection to `host:port`, from the pool's next address when there
/// is a pool.
pub async fn connect(
    host: &str,
    port: u16,
    source: Option<&SourceAddrs>,
) -> std::io::Result<TcpStream> {
    let Some(source) = source else {
        return TcpStream::connect((host, port)).await;
    };
    let ip = source.next();
    let mut last = None;
    for addr in tokio::net::lookup_host((host, port)).await? {
        if addr.is_ipv4() != ip.is_ipv4() {
            continue;
        }
        let socket = if ip.is_ipv4() {
            TcpSocket::new_v4()?
        } else {
            TcpSocket::new_v6()?
        };
        socket.bind(SocketAddr::new(ip, 0))?;
        match socket.connect(addr).await {
            Ok(tcp) => return Ok(tcp),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::AddrNotAvailable,
            format!("{host} has no address of the family of source address {ip}"),
        )
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_range_names_every_address_in_it() {
        let pool = SourceAddrs::parse("127.0.0.2-127.0.1.1").expect("a range");
        assert_eq!(pool.len(), 256);
        assert_eq!(pool.next(), "127.0.0.2".parse::<IpAddr>().unwrap());
        let list = SourceAddrs::parse("127.0.0.5, ::1").expect("a list");
        assert_eq!(list.len(), 2);
        assert!(SourceAddrs::parse("127.0.0.9-127.0.0.2").is_err());
        assert!(SourceAddrs::parse("127.0.0.1-::1").is_err());
        assert!(SourceAddrs::parse("10.0.0.0-10.1.0.0").is_err());
        assert!(SourceAddrs::parse("localhost").is_err());
    }

    #[tokio::test]
    async fn connections_take_the_source_addresses_in_turn() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let pool = SourceAddrs::parse("127.0.0.2-127.0.0.3").unwrap();
        let mut seen = Vec::new();
        for _ in 0..3 {
            let _tcp = connect("127.0.0.1", port, Some(&pool)).await.unwrap();
            let (_, peer) = listener.accept().await.unwrap();
            seen.push(peer.ip().to_string());
        }
        assert_eq!(seen, ["127.0.0.2", "127.0.0.3", "127.0.0.2"]);
        // Without a pool, the kernel picks (127.0.0.1 towards 127.0.0.1).
        let _tcp = connect("127.0.0.1", port, None).await.unwrap();
        let (_, peer) = listener.accept().await.unwrap();
        assert_eq!(peer.ip().to_string(), "127.0.0.1");
    }
}
