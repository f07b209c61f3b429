//! TCP connections as the simulator plays them: handshake, the request, the response.
//!
//! No congestion control, retransmission or teardown yet: segments leave back to back (the
//! ENI queue spaces them), and a connection that loses a packet never completes (counted).
//! Application think time is zero: a server answers the instant the last request byte lands.

use crate::world::PodId;
use sim_core::SimTime;

/// A SYN or SYN-ACK with the options Linux sends (MSS, SACK-permitted, timestamps, window
/// scale): 20 bytes IPv4 + 40 bytes TCP.
pub const SYN_LEN: u16 = 60;
/// A pure ACK with the timestamp option: 20 + 20 + 12.
pub const ACK_LEN: u16 = 52;

/// One TCP connection. The client side is known from the start; the server is whoever the
/// SYN reaches (a Service's endpoint is chosen by the datapath), so segments are told apart by
/// the client's address and port, which no translation on the way changes.
#[derive(Clone, Copy, Debug)]
pub struct Conn {
    pub flow: u32,
    pub client: PodId,
    pub client_ip: u32,
    pub client_port: u16,
    pub opened_at: SimTime,
    /// When the current request was sent (for per-request latency).
    pub request_sent_at: SimTime,
    /// Request bytes the server has yet to receive of the current request.
    pub request_left: u64,
    /// Response bytes the client has yet to receive of the current response.
    pub response_left: u64,
    /// Requests still to send on this connection after the current one (keep-alive).
    pub requests_after: u32,
    /// The source the node masqueraded the connection to, if it did (egress beyond the VPC).
    pub egress_source: Option<(u32, u16)>,
}

#[derive(Default)]
pub struct ConnSlab {
    items: Vec<Conn>,
    free: Vec<u32>,
    open: usize,
}

impl ConnSlab {
    pub fn insert(&mut self, c: Conn) -> u32 {
        self.open += 1;
        match self.free.pop() {
            Some(i) => {
                self.items[i as usize] = c;
                i
            }
            None => {
                self.items.push(c);
                u32::try_from(self.items.len() - 1).expect("fewer than 2^32 open connections")
            }
        }
    }

    #[inline]
    pub fn get_mut(&mut self, id: u32) -> &mut Conn {
        &mut self.items[id as usize]
    }

    pub fn close(&mut self, id: u32) {
        self.open -= 1;
        self.free.push(id);
    }

    pub fn open(&self) -> usize {
        self.open
    }
}

/// Splits `bytes` of payload into segment payload sizes of at most `mss`.
pub fn segments(bytes: u64, mss: u32) -> impl Iterator<Item = u32> {
    let mss = u64::from(mss);
    let full = bytes / mss;
    let rest = bytes % mss;
    (0..full)
        .map(move |_| mss as u32)
        .chain((rest > 0).then_some(rest as u32))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_cover_the_payload_exactly() {
        assert_eq!(segments(0, 1000).count(), 0);
        assert_eq!(segments(1000, 1000).collect::<Vec<_>>(), vec![1000]);
        assert_eq!(segments(2500, 1000).collect::<Vec<_>>(), vec![1000, 1000, 500]);
        for (b, m) in [(1u64, 1u32), (12345, 8949), (8949 * 3, 8949)] {
            assert_eq!(segments(b, m).map(u64::from).sum::<u64>(), b);
            assert!(segments(b, m).all(|s| s > 0 && s <= m));
        }
    }
}
