//! TCP conversations on the packet path: the handshake, each request and its response, and
//! keep-alive, between a pod client and its server (a pod, or a destination beyond the VPC).
//! Segments leave back to back (no windows or retransmission: CALIBRATION.md "Not modelled").

use super::{Host, Model, TCP_OVERHEAD};
use crate::sim::packet::{tcp_flags, Header, PROTO_TCP};
use crate::sim::tcp;

impl Model<'_> {
    /// A TCP segment arrived at `at` (client or server). Replies go back to where the segment
    /// came from, so the server answers whoever reached it, through whatever translation.
    /// `at` answers segment `h` of connection `id`: back to its source, from its destination.
    fn reply(&mut self, id: u32, at: Host, from_client: bool, h: &Header, flags: u8, len: u16) {
        let flow = self.conns.get_mut(id).flow;
        self.send(
            flow,
            id,
            at,
            from_client,
            h.src,
            h.dport,
            h.sport,
            PROTO_TCP,
            flags,
            len,
        );
    }

    pub(super) fn on_tcp_segment(&mut self, id: u32, at: Host, h: Header, from_client: bool) {
        let conn = *self.conns.get_mut(id);
        let payload = u64::from(h.len).saturating_sub(u64::from(TCP_OVERHEAD));
        if h.flags == tcp_flags::SYN {
            self.reply(id, at, false, &h, tcp_flags::SYN | tcp_flags::ACK, tcp::SYN_LEN);
        } else if h.flags == tcp_flags::SYN | tcp_flags::ACK {
            self.reply(id, at, true, &h, tcp_flags::ACK, tcp::ACK_LEN);
            self.send_request(id, h.src, h.sport);
        } else if payload > 0 && from_client {
            let c = self.conns.get_mut(id);
            c.request_left -= payload.min(c.request_left);
            if c.request_left == 0 {
                let left = c.response_left;
                if left == 0 {
                    // An empty response: the server's ACK is all the client waits for.
                    self.reply(id, at, false, &h, tcp_flags::ACK, tcp::ACK_LEN);
                } else {
                    self.send_payload(id, at, false, h.src, h.dport, h.sport, left);
                }
            }
        } else if !from_client && (payload > 0 || (h.flags == tcp_flags::ACK && conn.response_left == 0)) {
            let c = self.conns.get_mut(id);
            c.response_left -= payload.min(c.response_left);
            if c.response_left == 0 {
                self.request_done(id, h.src, h.sport);
            }
        }
    }

    /// The client sends the current request to the server's address as it sees it.
    fn send_request(&mut self, id: u32, server: u32, server_port: u16) {
        let c = *self.conns.get_mut(id);
        self.conns.get_mut(id).request_sent_at = self.engine.now();
        debug_assert!(
            c.request_left > 0,
            "validation requires TCP requests of at least 1 byte"
        );
        self.send_payload(
            id,
            Host::Pod(c.client),
            true,
            server,
            c.client_port,
            server_port,
            c.request_left,
        );
    }

    #[allow(clippy::too_many_arguments)]
    fn send_payload(&mut self, id: u32, from: Host, from_client: bool, dst: u32, sport: u16, dport: u16, bytes: u64) {
        let flow = self.conns.get_mut(id).flow;
        if bytes == 0 {
            return;
        }
        for seg in tcp::segments(bytes, self.flows[flow as usize].mss) {
            self.send(
                flow,
                id,
                from,
                from_client,
                dst,
                sport,
                dport,
                PROTO_TCP,
                tcp_flags::ACK | tcp_flags::PSH,
                (seg + TCP_OVERHEAD) as u16,
            );
        }
    }

    /// A response is complete: the next keep-alive request, or the connection is done.
    fn request_done(&mut self, id: u32, server: u32, server_port: u16) {
        let now = self.engine.now();
        let c = *self.conns.get_mut(id);
        let plan = &self.flows[c.flow as usize];
        let (request, response) = (plan.request.0, plan.response.0);
        self.metrics
            .request_latency
            .record((now - c.request_sent_at).as_nanos());
        if c.requests_after > 0 {
            let m = self.conns.get_mut(id);
            m.requests_after -= 1;
            m.request_left = request;
            m.response_left = response;
            return self.send_request(id, server, server_port);
        }
        let elapsed = (now - c.opened_at).as_nanos();
        self.metrics.conns_completed += 1;
        self.metrics.conn_latency.record(elapsed);
        let fm = &mut self.metrics.flows[c.flow as usize];
        fm.conns_completed += 1;
        fm.conn_latency.record(elapsed);
        if plan.external.is_some() {
            self.release_nat(&c, server, server_port);
        }
        self.conns.close(id);
    }
}
