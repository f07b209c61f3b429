//! iptables rules as cnsim holds them: every rule keeps the exact line kube-proxy writes
//! (`-A CHAIN ...`) next to the matches and target the evaluators test, so the text that is
//! rendered and the behaviour that is evaluated cannot drift apart. Tables hold chains by
//! index and remember the order kube-proxy wrote declarations and rules in, for rendering.
//!
//! A table is built once (`build::TableBuilder`) and then only read. It is laid out for size:
//! the rules of all chains in one vector (chain after chain), their matches in another, their
//! lines and the chain names in two shared text buffers (`arena`), so a million-rule table is
//! a handful of allocations.

use super::arena::{ArenaStr, NameIndex};
use crate::model::{DropReason, Protocol};
use ipnet::Ipv4Net;
use std::fmt;
use std::net::Ipv4Addr;
use std::ops::Deref;
use std::sync::Arc;

/// conntrack states (`-m conntrack --ctstate`), as bits.
pub const CT_NEW: u8 = 1;
pub const CT_INVALID: u8 = 2;
pub const CT_RELATED: u8 = 4;
pub const CT_ESTABLISHED: u8 = 8;
/// The connection's destination was translated (a conntrack status, matchable as a state).
pub const CT_DNAT: u8 = 16;

/// One match of a rule. `Proto`, `Src` and `Dst` are the rule's IP header part, which the
/// kernel (`ip_packet_match`) tests before any `-m` extension; the rest run in written order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Match {
    Proto(Protocol),
    Src {
        net: Ipv4Net,
        negated: bool,
    },
    Dst {
        net: Ipv4Net,
        negated: bool,
    },
    /// `--dport` of `-m tcp/udp/sctp`.
    Dport(u16),
    /// `-m addrtype --dst-type LOCAL`.
    DstTypeLocal,
    /// `-m addrtype --src-type LOCAL`.
    SrcTypeLocal,
    Mark {
        value: u32,
        mask: u32,
        negated: bool,
    },
    CtState {
        states: u8,
        negated: bool,
    },
    /// `-m statistic --mode random`: kernel value (see names::probability_kernel).
    Statistic {
        probability: u32,
    },
    /// `-m recent --name <chain> --set`; the table is named after a nat chain (by index).
    RecentSet {
        chain: u32,
    },
    /// `-m recent --name <chain> --rcheck --seconds N --reap`.
    RecentCheck {
        chain: u32,
        seconds: u32,
    },
    /// `-m nfacct`: counts, always matches.
    Nfacct,
}

impl Match {
    pub fn is_ip_part(&self) -> bool {
        matches!(self, Match::Proto(_) | Match::Src { .. } | Match::Dst { .. })
    }
}

/// Why a filter rule drops or rejects, so a verdict can name the service.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cause {
    NoEndpoints {
        service: u32,
        port: u32,
    },
    Dropped {
        service: u32,
        port: u32,
        reason: DropReason,
    },
    /// kubelet's KUBE-FIREWALL guard against martian localnet traffic: no service involved.
    Martian,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// A rule with no `-j` (kube-proxy's comment-only last rule of KUBE-FW-*): counts, no effect.
    None,
    Jump(u32),
    Return,
    Accept,
    Drop(Cause),
    Reject(Cause),
    Dnat {
        ip: Ipv4Addr,
        port: u16,
        service: u32,
        svc_port: u32,
        /// Index in the service port's endpoint list as the API gave it.
        endpoint: u32,
    },
    MarkOr(u32),
    MarkXor(u32),
    Masquerade,
}

#[derive(Clone, Debug)]
pub struct Rule {
    /// The line as written, starting with `-A CHAIN`.
    pub text: ArenaStr,
    /// Where the rule's matches are in its table's match list (`Table::matches`).
    pub(super) matches: (u32, u32),
    pub target: Target,
}

/// A chain's rules: a range of its table's rule vector, usable as a slice. Like `ArenaStr`,
/// attached to the vector when the table is finished.
#[derive(Clone)]
pub struct Rules {
    pub(super) all: Option<Arc<Vec<Rule>>>,
    pub(super) start: u32,
    pub(super) len: u32,
}

impl Default for Rules {
    fn default() -> Rules {
        Rules {
            all: Some(Arc::default()),
            start: 0,
            len: 0,
        }
    }
}

impl Deref for Rules {
    type Target = [Rule];
    fn deref(&self) -> &[Rule] {
        let all = self
            .all
            .as_deref()
            .expect("a table's rules are read once the table is finished");
        &all[self.start as usize..(self.start + self.len) as usize]
    }
}

impl fmt::Debug for Rules {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

#[derive(Clone, Debug, Default)]
pub struct Chain {
    pub name: ArenaStr,
    /// Built-in chains (INPUT, PREROUTING, ...) have policy ACCEPT and are not kube-proxy's.
    pub builtin: bool,
    pub rules: Rules,
}

/// Which service a written line belongs to, for partial syncs: `None` = always written.
pub type Owner = Option<u32>;

/// What one owner's lines add to the restore text: rules, and bytes of rules and chain
/// declarations (newlines included).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Written {
    pub rules: u64,
    pub bytes: u64,
}

/// One table (filter or nat) with chains by index.
#[derive(Clone, Debug)]
pub struct Table {
    pub name: &'static str,
    pub chains: Vec<Chain>,
    pub(super) ids: NameIndex,
    /// Every rule, each chain's contiguous (its `rules` is a range of this).
    pub(super) rules: Arc<Vec<Rule>>,
    pub(super) matches: Vec<Match>,
    /// Chain declarations (`:NAME - [0:0]`) in the order kube-proxy writes them.
    pub decl_order: Vec<(u32, Owner)>,
    /// kube-proxy's rules (not the built-in jumps) in written order: (position in `rules()`,
    /// owner).
    pub write_order: Vec<(u32, Owner)>,
    /// The buffers behind the rules' lines and the chains' names.
    pub(super) text: Arc<String>,
    pub(super) names: Arc<String>,
    /// Per owner (index 0: `None`, s + 1: service s): what its lines add to a restore.
    pub(super) written: Vec<Written>,
}

impl Table {
    pub fn find(&self, name: &str) -> Option<u32> {
        self.ids.get(name, |id| &self.chains[id as usize].name)
    }

    /// Every rule of the table, each chain's contiguous and in the chain's order.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// A rule by its position in `rules()` (as `write_order` names it).
    pub fn rule(&self, pos: u32) -> &Rule {
        &self.rules()[pos as usize]
    }

    /// The rule's matches: IP-header matches first, then extensions in written order.
    pub fn matches(&self, rule: &Rule) -> &[Match] {
        let (start, len) = rule.matches;
        &self.matches[start as usize..(start + len) as usize]
    }

    /// What the lines of `owner` add to a restore.
    pub fn written(&self, owner: Owner) -> Written {
        let i = owner.map_or(0, |s| s as usize + 1);
        self.written.get(i).copied().unwrap_or_default()
    }

    /// What all of kube-proxy's lines of the table add to a restore.
    pub fn written_total(&self) -> Written {
        self.written.iter().fold(Written::default(), |a, w| Written {
            rules: a.rules + w.rules,
            bytes: a.bytes + w.bytes,
        })
    }

    /// Bytes of every rule line and chain name (to size a dump).
    pub(super) fn text_bytes(&self) -> usize {
        self.text.len() + self.names.len()
    }

    /// Every jump must land on a declared or built-in chain, or iptables-restore refuses the
    /// whole transaction.
    pub fn assert_jumps_resolve(&self) {
        let mut declared = vec![false; self.chains.len()];
        for &(id, _) in &self.decl_order {
            declared[id as usize] = true;
        }
        for r in self.rules() {
            if let Target::Jump(t) = r.target {
                let t = t as usize;
                assert!(
                    declared[t] || self.chains[t].builtin,
                    "jump to undeclared chain {} in `{}`",
                    self.chains[t].name,
                    r.text
                );
            }
        }
    }

    pub fn rule_count(&self) -> usize {
        self.write_order.len()
    }
}
