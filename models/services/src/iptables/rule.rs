//! iptables rules as cnsim holds them: every rule keeps the exact line kube-proxy writes
//! (`-A CHAIN ...`) next to the matches and target the evaluators test, so the text that is
//! rendered and the behaviour that is evaluated cannot drift apart. Tables hold chains by
//! index and remember the order kube-proxy wrote declarations and rules in, for rendering.

use crate::model::{DropReason, Protocol};
use ipnet::Ipv4Net;
use rustc_hash::FxHashMap;
use smallvec::SmallVec;
use std::fmt::Write;
use std::net::Ipv4Addr;

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

#[derive(Clone, Debug, PartialEq, Eq)]
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

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    /// The line as written, starting with `-A CHAIN`.
    pub text: String,
    /// IP-header matches first, then extensions in written order.
    pub matches: SmallVec<[Match; 4]>,
    pub target: Target,
}

#[derive(Clone, Debug, Default)]
pub struct Chain {
    pub name: String,
    /// Built-in chains (INPUT, PREROUTING, ...) have policy ACCEPT and are not kube-proxy's.
    pub builtin: bool,
    pub rules: Vec<Rule>,
}

/// Which service a written line belongs to, for partial syncs: `None` = always written.
pub type Owner = Option<u32>;

/// One table (filter or nat) with chains by index.
#[derive(Clone, Debug, Default)]
pub struct Table {
    pub name: &'static str,
    pub chains: Vec<Chain>,
    ids: FxHashMap<String, u32>,
    /// Chain declarations (`:NAME - [0:0]`) in the order kube-proxy writes them.
    pub decl_order: Vec<(u32, Owner)>,
    /// kube-proxy's rules (not the built-in jumps) in written order: (chain, rule index, owner).
    pub write_order: Vec<(u32, u32, Owner)>,
}

impl Table {
    pub fn new(name: &'static str, builtins: &[&str]) -> Table {
        let mut t = Table {
            name,
            ..Table::default()
        };
        for b in builtins {
            let id = t.chain_id(b);
            t.chains[id as usize].builtin = true;
        }
        t
    }

    /// The chain's index, creating an (undeclared) chain on first reference.
    pub fn chain_id(&mut self, name: &str) -> u32 {
        if let Some(&id) = self.ids.get(name) {
            return id;
        }
        let id = u32::try_from(self.chains.len()).expect("fewer than 2^32 chains");
        self.chains.push(Chain {
            name: name.to_string(),
            builtin: false,
            rules: Vec::new(),
        });
        self.ids.insert(name.to_string(), id);
        id
    }

    pub fn find(&self, name: &str) -> Option<u32> {
        self.ids.get(name).copied()
    }

    /// Declares a chain as kube-proxy does with a `:NAME - [0:0]` line.
    pub fn declare(&mut self, name: &str, owner: Owner) -> u32 {
        let id = self.chain_id(name);
        self.decl_order.push((id, owner));
        id
    }

    /// Appends a kube-proxy rule (part of the restore text).
    pub fn push(&mut self, rule: Rule, owner: Owner) {
        let chain = self.chain_of(&rule);
        let idx = self.append(chain, rule);
        self.write_order.push((chain, idx, owner));
    }

    /// Appends a rule that kube-proxy ensures outside the restore text (built-in chain jumps).
    pub fn push_builtin(&mut self, rule: Rule) {
        let chain = self.chain_of(&rule);
        assert!(self.chains[chain as usize].builtin, "{}", rule.text);
        self.append(chain, rule);
    }

    fn chain_of(&mut self, rule: &Rule) -> u32 {
        let name = rule
            .text
            .strip_prefix("-A ")
            .and_then(|r| r.split(' ').next())
            .expect("rule text starts with -A CHAIN");
        self.chain_id(name)
    }

    fn append(&mut self, chain: u32, rule: Rule) -> u32 {
        let rules = &mut self.chains[chain as usize].rules;
        rules.push(rule);
        u32::try_from(rules.len() - 1).expect("fewer than 2^32 rules per chain")
    }

    /// Every jump must land on a declared or built-in chain, or iptables-restore refuses the
    /// whole transaction.
    pub fn assert_jumps_resolve(&self) {
        let mut declared = vec![false; self.chains.len()];
        for &(id, _) in &self.decl_order {
            declared[id as usize] = true;
        }
        for c in &self.chains {
            for r in &c.rules {
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
    }

    pub fn rule_count(&self) -> usize {
        self.write_order.len()
    }
}

/// Builds one rule's text and matches together, in kube-proxy's argument order.
pub struct RuleBuilder {
    text: String,
    ip: SmallVec<[Match; 4]>,
    ext: SmallVec<[Match; 4]>,
}

impl RuleBuilder {
    pub fn new(chain: &str) -> RuleBuilder {
        // Most kube-proxy rules are 60-200 bytes: one allocation instead of several regrowths.
        let mut text = String::with_capacity(192);
        text.push_str("-A ");
        text.push_str(chain);
        RuleBuilder {
            text,
            ip: SmallVec::new(),
            ext: SmallVec::new(),
        }
    }

    /// `comment` is written as given: kube-proxy quotes the ones with spaces itself.
    pub fn comment(mut self, comment: &str) -> Self {
        let _ = write!(self.text, " -m comment --comment {comment}");
        self
    }

    /// `-m tcp -p tcp`: the protocol match and the (option-less) protocol extension.
    pub fn proto(mut self, p: Protocol) -> Self {
        let l = p.as_lower();
        let _ = write!(self.text, " -m {l} -p {l}");
        self.ip.push(Match::Proto(p));
        self
    }

    pub fn dst(mut self, ip: Ipv4Addr) -> Self {
        let _ = write!(self.text, " -d {ip}");
        self.ip.push(Match::Dst {
            net: Ipv4Net::from(ip),
            negated: false,
        });
        self
    }

    pub fn dst_net(mut self, net: Ipv4Net, negated: bool) -> Self {
        let bang = if negated { " !" } else { "" };
        let _ = write!(self.text, "{bang} -d {net}");
        self.ip.push(Match::Dst { net, negated });
        self
    }

    pub fn dport(mut self, port: u16) -> Self {
        let _ = write!(self.text, " --dport {port}");
        self.ext.push(Match::Dport(port));
        self
    }

    /// `-s ADDR` for a single address (written without a prefix length, as kube-proxy does).
    pub fn src_ip(mut self, ip: Ipv4Addr) -> Self {
        let _ = write!(self.text, " -s {ip}");
        self.ip.push(Match::Src {
            net: Ipv4Net::from(ip),
            negated: false,
        });
        self
    }

    pub fn src_net(mut self, net: Ipv4Net, negated: bool) -> Self {
        let bang = if negated { " !" } else { "" };
        let _ = write!(self.text, "{bang} -s {net}");
        self.ip.push(Match::Src { net, negated });
        self
    }

    pub fn dst_type_local(mut self) -> Self {
        self.text.push_str(" -m addrtype --dst-type LOCAL");
        self.ext.push(Match::DstTypeLocal);
        self
    }

    pub fn src_type_local(mut self) -> Self {
        self.text.push_str(" -m addrtype --src-type LOCAL");
        self.ext.push(Match::SrcTypeLocal);
        self
    }

    pub fn mark(mut self, value: u32, mask: u32, negated: bool) -> Self {
        let bang = if negated { " !" } else { "" };
        let _ = write!(self.text, " -m mark{bang} --mark {value:#x}/{mask:#x}");
        self.ext.push(Match::Mark { value, mask, negated });
        self
    }

    /// `states_text` is the comma list as written (e.g. `RELATED,ESTABLISHED`).
    pub fn ctstate(mut self, states: u8, states_text: &str, negated: bool) -> Self {
        let bang = if negated { " !" } else { "" };
        let _ = write!(self.text, " -m conntrack{bang} --ctstate {states_text}");
        self.ext.push(Match::CtState { states, negated });
        self
    }

    pub fn statistic(mut self, probability_text: &str) -> Self {
        let _ = write!(
            self.text,
            " -m statistic --mode random --probability {probability_text}"
        );
        self.ext.push(Match::Statistic {
            probability: super::names::probability_kernel(probability_text),
        });
        self
    }

    pub fn recent_set(mut self, name: &str, chain: u32) -> Self {
        let _ = write!(self.text, " -m recent --name {name} --set");
        self.ext.push(Match::RecentSet { chain });
        self
    }

    pub fn recent_check(mut self, name: &str, chain: u32, seconds: u32) -> Self {
        let _ = write!(
            self.text,
            " -m recent --name {name} --rcheck --seconds {seconds} --reap"
        );
        self.ext.push(Match::RecentCheck { chain, seconds });
        self
    }

    pub fn nfacct(mut self, name: &str) -> Self {
        let _ = write!(self.text, " -m nfacct --nfacct-name {name}");
        self.ext.push(Match::Nfacct);
        self
    }

    fn finish(mut self, target: Target) -> Rule {
        let mut matches = self.ip;
        matches.append(&mut self.ext);
        self.text.shrink_to_fit();
        Rule {
            text: self.text,
            matches,
            target,
        }
    }

    pub fn jump(mut self, name: &str, id: u32) -> Rule {
        let _ = write!(self.text, " -j {name}");
        self.finish(Target::Jump(id))
    }

    pub fn no_target(self) -> Rule {
        self.finish(Target::None)
    }

    pub fn ret(mut self) -> Rule {
        self.text.push_str(" -j RETURN");
        self.finish(Target::Return)
    }

    pub fn accept(mut self) -> Rule {
        self.text.push_str(" -j ACCEPT");
        self.finish(Target::Accept)
    }

    pub fn drop(mut self, cause: Cause) -> Rule {
        self.text.push_str(" -j DROP");
        self.finish(Target::Drop(cause))
    }

    pub fn reject(mut self, cause: Cause) -> Rule {
        self.text.push_str(" -j REJECT");
        self.finish(Target::Reject(cause))
    }

    pub fn dnat(mut self, ip: Ipv4Addr, port: u16, ids: (u32, u32, u32)) -> Rule {
        let _ = write!(self.text, " -j DNAT --to-destination {ip}:{port}");
        self.finish(Target::Dnat {
            ip,
            port,
            service: ids.0,
            svc_port: ids.1,
            endpoint: ids.2,
        })
    }

    pub fn mark_or(mut self, mark: u32) -> Rule {
        let _ = write!(self.text, " -j MARK --or-mark {mark:#x}");
        self.finish(Target::MarkOr(mark))
    }

    pub fn mark_xor(mut self, mark: u32) -> Rule {
        let _ = write!(self.text, " -j MARK --xor-mark {mark:#x}");
        self.finish(Target::MarkXor(mark))
    }

    pub fn masquerade(mut self, random_fully: bool) -> Rule {
        self.text.push_str(" -j MASQUERADE");
        if random_fully {
            self.text.push_str(" --random-fully");
        }
        self.finish(Target::Masquerade)
    }
}
