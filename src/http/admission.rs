//! Open connections per client address (`PERMA_MAX_CONNECTIONS_PER_CLIENT`): one address
//! cannot hold every socket and task of the server. Past the cap a new connection gets a
//! 503 with `Retry-After` and is closed. Trusted proxies (`PERMA_TRUSTED_PROXIES`) carry
//! many clients and are not capped.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::io::AsyncWriteExt as _;
use tokio::net::TcpStream;

use crate::ids::Network;

/// Counts of open connections by client address.
#[derive(Debug)]
pub struct Admission {
    cap: u32,
    exempt: Vec<Network>,
    open: Mutex<HashMap<IpAddr, u32>>,
}

/// One admitted connection; dropping it gives its place back.
#[derive(Debug)]
pub struct Place {
    admission: Arc<Admission>,
    ip: Option<IpAddr>,
}

impl Drop for Place {
    fn drop(&mut self) {
        let Some(ip) = self.ip else {
            return;
        };
        let mut open = self
            .admission
            .open
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(n) = open.get_mut(&ip) {
            *n -= 1;
            if *n == 0 {
                open.remove(&ip);
            }
        }
    }
}

impl Admission {
    /// A cap of `cap` connections per address (0: none), `exempt` networks not counted.
    pub fn new(cap: u64, exempt: Vec<Network>) -> Arc<Self> {
        Arc::new(Admission {
            cap: u32::try_from(cap).unwrap_or(u32::MAX),
            exempt,
            open: Mutex::new(HashMap::new()),
        })
    }

    /// A place for a connection from `ip`, or `None` when that address has its cap.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Option<Place> {
        if self.cap == 0 || self.exempt.iter().any(|n| n.contains(ip)) {
            return Some(Place {
                admission: self.clone(),
                ip: None,
            });
        }
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let n = open.entry(ip).or_insert(0);
        if *n >= self.cap {
            return None;
        }
        *n += 1;
        Some(Place {
            admission: self.clone(),
            ip: Some(ip),
        })
    }
}

/// The answer to a connection over the cap.
fn refusal() -> Vec<u8> {
    let body = serde_json::json!({
        "error_message": "Too many open connections from this address. Close some and try again.",
        "error_code": 503,
        "errors": {},
    })
    .to_string();
    format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\
         retry-after: 5\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Answers a refused connection with a 503 and closes it (within a second, whatever the
/// client does).
pub async fn refuse(mut stream: TcpStream) {
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        let _ = stream.write_all(&refusal()).await;
        let _ = stream.shutdown().await;
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_refusal_is_one_well_formed_answer() {
        let bytes = refusal();
        let text = std::str::from_utf8(&bytes).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        let len: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length: "))
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(body.len(), len);
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(v["error_code"], 503);
    }

    #[test]
    fn places_are_counted_per_address_and_given_back() {
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let proxy: IpAddr = "10.0.0.5".parse().unwrap();
        let adm = Admission::new(2, vec![Network::parse("10.0.0.0/24").unwrap()]);
        let one = adm.admit(a).unwrap();
        let _two = adm.admit(a).unwrap();
        assert!(adm.admit(a).is_none());
        assert!(adm.admit(b).is_some());
        let proxied: Vec<_> = (0..5).map(|_| adm.admit(proxy).unwrap()).collect();
        assert_eq!(proxied.len(), 5);
        drop(one);
        assert!(adm.admit(a).is_some());
    }
}
