//! The TCP state machine of netfilter conntrack: states, the per-direction transition table and
//! the state timeouts, as `net/netfilter/nf_conntrack_proto_tcp.c` defines them.
//!
//! Window tracking (sequence numbers, retransmission counting) is not modelled, so the
//! `max_retrans` and "unacknowledged data" timeout caps never apply; only the state table and
//! the "no reply seen yet" rules decide the timeout.

/// A conntrack TCP state (`enum tcp_conntrack`), without NONE (an entry always has a state).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TcpState {
    SynSent,
    SynRecv,
    Established,
    FinWait,
    CloseWait,
    LastAck,
    TimeWait,
    Close,
    /// SYN seen in the reply direction after one in the original (simultaneous open).
    SynSent2,
}

impl TcpState {
    /// The name `conntrack -L` prints.
    pub fn name(self) -> &'static str {
        match self {
            TcpState::SynSent => "SYN_SENT",
            TcpState::SynRecv => "SYN_RECV",
            TcpState::Established => "ESTABLISHED",
            TcpState::FinWait => "FIN_WAIT",
            TcpState::CloseWait => "CLOSE_WAIT",
            TcpState::LastAck => "LAST_ACK",
            TcpState::TimeWait => "TIME_WAIT",
            TcpState::Close => "CLOSE",
            TcpState::SynSent2 => "SYN_SENT2",
        }
    }

    /// Column in the kernel's table (sNO is column 0).
    fn column(self) -> usize {
        match self {
            TcpState::SynSent => 1,
            TcpState::SynRecv => 2,
            TcpState::Established => 3,
            TcpState::FinWait => 4,
            TcpState::CloseWait => 5,
            TcpState::LastAck => 6,
            TcpState::TimeWait => 7,
            TcpState::Close => 8,
            TcpState::SynSent2 => 9,
        }
    }

    /// The state a new entry takes from the first packet (the table's sNO column, original
    /// direction). None: the kernel refuses to create an entry (e.g. a lone FIN or SYN-ACK).
    /// A bare ACK gives ESTABLISHED: `nf_conntrack_tcp_loose` (default 1) picks up connections
    /// whose start it did not see.
    pub fn initial(flags: TcpFlags) -> Option<TcpState> {
        match next(None, flags, super::Direction::Original) {
            Next::To(s) => Some(s),
            Next::Ignore | Next::Invalid => None,
        }
    }
}

/// The flags of a segment, as far as conntrack's state table looks at them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct TcpFlags {
    pub syn: bool,
    pub ack: bool,
    pub fin: bool,
    pub rst: bool,
}

impl TcpFlags {
    pub const SYN: TcpFlags = TcpFlags {
        syn: true,
        ack: false,
        fin: false,
        rst: false,
    };
    pub const SYN_ACK: TcpFlags = TcpFlags {
        syn: true,
        ack: true,
        fin: false,
        rst: false,
    };
    pub const ACK: TcpFlags = TcpFlags {
        syn: false,
        ack: true,
        fin: false,
        rst: false,
    };
    pub const FIN_ACK: TcpFlags = TcpFlags {
        syn: false,
        ack: true,
        fin: true,
        rst: false,
    };
    pub const RST: TcpFlags = TcpFlags {
        syn: false,
        ack: false,
        fin: false,
        rst: true,
    };

    /// The table row, in the kernel's precedence (`get_conntrack_index`): RST, then SYN
    /// (with or without ACK), then FIN, then ACK.
    fn row(self) -> usize {
        if self.rst {
            4
        } else if self.syn {
            if self.ack {
                1
            } else {
                0
            }
        } else if self.fin {
            2
        } else if self.ack {
            3
        } else {
            5
        }
    }
}

/// A table cell: a new state, "ignore" (accepted, no state change, no timer refresh) or
/// "invalid" (marked INVALID, no state change).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Next {
    To(TcpState),
    Ignore,
    Invalid,
}

use Next::{Ignore as IG, Invalid as IV};
use TcpState::{
    Close as CL, CloseWait as CW, Established as ES, FinWait as FW, LastAck as LA, SynRecv as SR, SynSent as SS,
    SynSent2 as S2, TimeWait as TW,
};

const fn t(s: TcpState) -> Next {
    Next::To(s)
}

/// `tcp_conntracks[dir][row][column]`: columns sNO, sSS, sSR, sES, sFW, sCW, sLA, sTW, sCL, sS2;
/// rows syn, synack, fin, ack, rst, none. Transcribed cell by cell from the kernel's table.
const TABLE: [[[Next; 10]; 6]; 2] = [
    // ORIGINAL
    [
        [t(SS), t(SS), IG, IG, IG, IG, IG, t(SS), t(SS), t(S2)],
        [IV, IV, IG, IG, IG, IG, IG, IG, IG, t(SR)],
        [IV, IV, t(FW), t(FW), t(LA), t(LA), t(LA), t(TW), t(CL), IV],
        [t(ES), IV, t(ES), t(ES), t(CW), t(CW), t(TW), t(TW), t(CL), IV],
        [IV, t(CL), t(CL), t(CL), t(CL), t(CL), t(CL), t(CL), t(CL), t(CL)],
        [IV; 10],
    ],
    // REPLY
    [
        [IV, t(S2), IV, IV, IV, IV, IV, IV, IV, t(S2)],
        [IV, t(SR), IG, IG, IG, IG, IG, IG, IG, t(SR)],
        [IV, IV, t(FW), t(FW), t(LA), t(LA), t(LA), t(TW), t(CL), IV],
        [IV, IG, t(SR), t(ES), t(CW), t(CW), t(TW), t(TW), t(CL), IG],
        [IV, t(CL), t(CL), t(CL), t(CL), t(CL), t(CL), t(CL), t(CL), t(CL)],
        [IV; 10],
    ],
];

/// One lookup in the table; `from: None` is the sNO column (a new connection).
pub(crate) fn next(from: Option<TcpState>, flags: TcpFlags, dir: super::Direction) -> Next {
    let d = match dir {
        super::Direction::Original => 0,
        super::Direction::Reply => 1,
    };
    TABLE[d][flags.row()][from.map_or(0, TcpState::column)]
}

/// What `update_tcp` did with a segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TcpOutcome {
    /// The state (possibly unchanged) and the timer were updated.
    Updated { from: TcpState, to: TcpState },
    /// Accepted without a state change or timer refresh (the table's sIG, or a retransmitted
    /// SYN before any reply: newer kernels do not renew the timer for it).
    Ignored,
    /// Marked INVALID: no state change, no timer refresh (the table's sIV).
    Invalid,
    /// RST before any reply was seen: the kernel deletes the entry at once.
    Killed,
    /// A SYN on a TIME_WAIT/CLOSE entry: the kernel kills the old entry so the packet makes a
    /// new one (the caller inserts it). The kernel does this only when the close was initiated
    /// or aborted by RST; both are the normal ways into those states, so cnsim always reopens.
    Reopened,
}

/// Conntrack timeouts in nanoseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    pub syn_sent: u64,
    pub syn_recv: u64,
    pub established: u64,
    pub fin_wait: u64,
    pub close_wait: u64,
    pub last_ack: u64,
    pub time_wait: u64,
    pub close: u64,
    pub syn_sent2: u64,
    /// `nf_conntrack_tcp_timeout_unacknowledged`: caps ESTABLISHED while no reply was seen.
    pub unacknowledged: u64,
    /// `nf_conntrack_udp_timeout`: no reply yet, or a reply within 2 s of the first packet.
    pub udp: u64,
    /// `nf_conntrack_udp_timeout_stream`: a replied flow still active after 2 s.
    pub udp_stream: u64,
    /// `nf_conntrack_generic_timeout`, used here for SCTP (its own state machine is not modelled).
    pub generic: u64,
}

const SEC: u64 = 1_000_000_000;

impl Timeouts {
    /// The kernel defaults: `tcp_timeouts[]` in nf_conntrack_proto_tcp.c (2 min, 60 s, 5 days,
    /// 2 min, 60 s, 30 s, 2 min, 10 s, 2 min; unacknowledged 5 min) and the documented sysctl
    /// defaults (Documentation/networking/nf_conntrack-sysctl.rst: udp 30 s, udp_stream 120 s,
    /// generic 600 s).
    pub const fn kernel() -> Timeouts {
        Timeouts {
            syn_sent: 120 * SEC,
            syn_recv: 60 * SEC,
            established: 5 * 24 * 3600 * SEC,
            fin_wait: 120 * SEC,
            close_wait: 60 * SEC,
            last_ack: 30 * SEC,
            time_wait: 120 * SEC,
            close: 10 * SEC,
            syn_sent2: 120 * SEC,
            unacknowledged: 300 * SEC,
            udp: 30 * SEC,
            udp_stream: 120 * SEC,
            generic: 600 * SEC,
        }
    }

    /// The kernel defaults with kube-proxy's overrides (KubeProxyConntrackConfiguration
    /// defaults: tcpEstablishedTimeout 24h, tcpCloseWaitTimeout 1h; its UDP timeouts default to
    /// 0, which leaves the kernel's values).
    pub const fn kube_proxy() -> Timeouts {
        let mut t = Timeouts::kernel();
        t.established = 24 * 3600 * SEC;
        t.close_wait = 3600 * SEC;
        t
    }

    pub fn tcp(&self, s: TcpState) -> u64 {
        match s {
            TcpState::SynSent => self.syn_sent,
            TcpState::SynRecv => self.syn_recv,
            TcpState::Established => self.established,
            TcpState::FinWait => self.fin_wait,
            TcpState::CloseWait => self.close_wait,
            TcpState::LastAck => self.last_ack,
            TcpState::TimeWait => self.time_wait,
            TcpState::Close => self.close,
            TcpState::SynSent2 => self.syn_sent2,
        }
    }
}
