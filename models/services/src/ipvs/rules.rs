//! The iptables rules and ipsets kube-proxy's IPVS proxier keeps beside the virtual servers
//! (`writeIptablesRules`, `ipsetWithIptablesChain`, `iptablesJumpChain`, pkg/proxy/ipvs at the
//! 1.3x "Dismiss connects to localhost" version): their `iptables-restore` and `ipset save`
//! text, and a walk that counts every rule tested and every ipset lookup.
//!
//! The walk asks `-m set` questions through `Members`: the reference answers from the ipsets
//! themselves (`Sets`, scanning where the ipset type would need it), the fast evaluator from
//! its hash index (`super::index`), so the proptest holds one to the other.

use crate::model::*;
use ipnet::Ipv4Net;
use smallvec::SmallVec;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::Ipv4Addr;

pub use super::ipset::*;

/// Which packet fields an ipset match takes, in `--match-set` flag order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dirs {
    Dst,
    DstDst,
    DstDstSrc,
    SrcDst,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum M {
    Comment(&'static str),
    Src(Ipv4Net, bool),
    Proto(Protocol),
    Set(SetId, Dirs),
    DstLocal,
    SrcNotLocal,
    PhysdevNotIn,
    Mark(u32, bool),
    CtNew,
    CtRelatedEstablished,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum T {
    Jump(&'static str),
    Return,
    Accept,
    Drop,
    Reject,
    MarkOr(u32),
    MarkXor(u32),
    Masquerade,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct R {
    pub m: Vec<M>,
    pub t: T,
}

impl R {
    pub fn text(&self) -> String {
        let mut s = String::new();
        for m in &self.m {
            let _ = match m {
                M::Comment(c) => write!(s, "-m comment --comment \"{c}\" "),
                M::Src(n, neg) => write!(s, "{}-s {n} ", if *neg { "! " } else { "" }),
                M::Proto(p) => write!(s, "-p {} ", p.as_lower()),
                M::Set(set, d) => {
                    let name = set.name();
                    let d = match d {
                        Dirs::Dst => "dst",
                        Dirs::DstDst => "dst,dst",
                        Dirs::DstDstSrc => "dst,dst,src",
                        Dirs::SrcDst => "src,dst",
                    };
                    write!(s, "-m set --match-set {name} {d} ")
                }
                M::DstLocal => write!(s, "-m addrtype --dst-type LOCAL "),
                M::SrcNotLocal => write!(s, "-m addrtype ! --src-type LOCAL "),
                M::PhysdevNotIn => write!(s, "-m physdev ! --physdev-is-in "),
                M::Mark(v, neg) => {
                    write!(s, "-m mark {}--mark {v:#x}/{v:#x} ", if *neg { "! " } else { "" })
                }
                M::CtNew => write!(s, "-m conntrack --ctstate NEW "),
                M::CtRelatedEstablished => write!(s, "-m conntrack --ctstate RELATED,ESTABLISHED "),
            };
        }
        let _ = match &self.t {
            T::Jump(c) => write!(s, "-j {c}"),
            T::Return => write!(s, "-j RETURN"),
            T::Accept => write!(s, "-j ACCEPT"),
            T::Drop => write!(s, "-j DROP"),
            T::Reject => write!(s, "-j REJECT"),
            T::MarkOr(v) => write!(s, "-j MARK --or-mark {v:#x}"),
            T::MarkXor(v) => write!(s, "-j MARK --xor-mark {v:#x}"),
            T::Masquerade => write!(s, "-j MASQUERADE"),
        };
        s
    }
}

/// (table, chain) → rules, built-in chains included so the restore text loads on its own.
pub type Chains = BTreeMap<(&'static str, &'static str), Vec<R>>;

const NAT_CHAINS: [&str; 5] = [
    "KUBE-SERVICES",
    "KUBE-POSTROUTING",
    "KUBE-NODE-PORT",
    "KUBE-LOAD-BALANCER",
    "KUBE-MARK-MASQ",
];
const FILTER_CHAINS: [&str; 6] = [
    "KUBE-FORWARD",
    "KUBE-NODE-PORT",
    "KUBE-PROXY-FIREWALL",
    "KUBE-SOURCE-RANGES-FIREWALL",
    "KUBE-IPVS-FILTER",
    "KUBE-IPVS-OUT-FILTER",
];

/// One `ipsetWithIptablesChain` row: set, table, chain, target, match flags, `-p`.
type WithChain = (&'static str, &'static str, &'static str, T, Dirs, Option<Protocol>);

/// The rules `writeIptablesRules` writes for these sets (rules for empty sets are omitted, as
/// kube-proxy does), plus the jumps from the built-in chains (EnsureRule Prepend: the last
/// prepended is first).
pub fn build_chains(sets: &Sets, cluster_cidr: Option<Ipv4Net>, mark: u32) -> Chains {
    let mut c: Chains = BTreeMap::new();
    for ch in NAT_CHAINS {
        c.insert(("nat", ch), vec![]);
    }
    for ch in FILTER_CHAINS {
        c.insert(("filter", ch), vec![]);
    }
    let jump = |cm: &'static str, to: &'static str| R {
        m: vec![M::Comment(cm)],
        t: T::Jump(to),
    };
    let portals = "kubernetes service portals";
    c.insert(("nat", "PREROUTING"), vec![jump(portals, "KUBE-SERVICES")]);
    c.insert(("nat", "OUTPUT"), vec![jump(portals, "KUBE-SERVICES")]);
    let post = jump("kubernetes postrouting rules", "KUBE-POSTROUTING");
    c.insert(("nat", "POSTROUTING"), vec![post]);
    let fw = "kube-proxy firewall rules";
    c.insert(
        ("filter", "INPUT"),
        vec![
            jump("kubernetes ipvs access filter", "KUBE-IPVS-FILTER"),
            jump(fw, "KUBE-PROXY-FIREWALL"),
            jump("kubernetes health check rules", "KUBE-NODE-PORT"),
        ],
    );
    c.insert(
        ("filter", "FORWARD"),
        vec![
            jump(fw, "KUBE-PROXY-FIREWALL"),
            jump("kubernetes forwarding rules", "KUBE-FORWARD"),
        ],
    );
    let out_filter = jump("kubernetes ipvs access filter", "KUBE-IPVS-OUT-FILTER");
    c.insert(("filter", "OUTPUT"), vec![out_filter]);

    let mut add = |table: &'static str, chain: &'static str, r: R| {
        c.get_mut(&(table, chain)).expect("chain").push(r);
    };
    let nonempty = |s: &str| !sets[s].is_empty();
    add(
        "nat",
        "KUBE-SERVICES",
        R {
            m: vec![M::Src("127.0.0.0/8".parse().expect("net"), false)],
            t: T::Return,
        },
    );
    // ipsetWithIptablesChain, in its order.
    let with_chain: [WithChain; 12] = [
        (
            LOOP_BACK,
            "nat",
            "KUBE-POSTROUTING",
            T::Masquerade,
            Dirs::DstDstSrc,
            None,
        ),
        (
            LOAD_BALANCER,
            "nat",
            "KUBE-SERVICES",
            T::Jump("KUBE-LOAD-BALANCER"),
            Dirs::DstDst,
            None,
        ),
        (
            LOAD_BALANCER_LOCAL,
            "nat",
            "KUBE-LOAD-BALANCER",
            T::Return,
            Dirs::DstDst,
            None,
        ),
        (
            NODE_PORT_LOCAL_TCP,
            "nat",
            "KUBE-NODE-PORT",
            T::Return,
            Dirs::Dst,
            Some(Protocol::Tcp),
        ),
        (
            NODE_PORT_TCP,
            "nat",
            "KUBE-NODE-PORT",
            T::Jump("KUBE-MARK-MASQ"),
            Dirs::Dst,
            Some(Protocol::Tcp),
        ),
        (
            NODE_PORT_LOCAL_UDP,
            "nat",
            "KUBE-NODE-PORT",
            T::Return,
            Dirs::Dst,
            Some(Protocol::Udp),
        ),
        (
            NODE_PORT_UDP,
            "nat",
            "KUBE-NODE-PORT",
            T::Jump("KUBE-MARK-MASQ"),
            Dirs::Dst,
            Some(Protocol::Udp),
        ),
        (
            NODE_PORT_LOCAL_SCTP,
            "nat",
            "KUBE-NODE-PORT",
            T::Return,
            Dirs::DstDst,
            Some(Protocol::Sctp),
        ),
        (
            NODE_PORT_SCTP,
            "nat",
            "KUBE-NODE-PORT",
            T::Jump("KUBE-MARK-MASQ"),
            Dirs::DstDst,
            Some(Protocol::Sctp),
        ),
        (
            LOAD_BALANCER_FW,
            "filter",
            "KUBE-PROXY-FIREWALL",
            T::Jump("KUBE-SOURCE-RANGES-FIREWALL"),
            Dirs::DstDst,
            None,
        ),
        (
            LB_SOURCE_CIDR,
            "filter",
            "KUBE-SOURCE-RANGES-FIREWALL",
            T::Return,
            Dirs::DstDstSrc,
            None,
        ),
        (
            LB_SOURCE_IP,
            "filter",
            "KUBE-SOURCE-RANGES-FIREWALL",
            T::Return,
            Dirs::DstDstSrc,
            None,
        ),
    ];
    for (set, table, from, t, dirs, proto) in with_chain {
        if nonempty(set) {
            let mut m = vec![];
            if let Some(p) = proto {
                m.push(M::Proto(p));
            }
            m.extend([M::Comment(comment_of(set)), M::Set(SetId::of(set), dirs)]);
            add(table, from, R { m, t });
        }
    }
    let masq = || T::Jump("KUBE-MARK-MASQ");
    if nonempty(CLUSTER_IP) {
        let mut m = vec![M::Comment(comment_of(CLUSTER_IP))];
        match cluster_cidr {
            Some(cidr) => m.extend([M::Set(SetId::of(CLUSTER_IP), Dirs::DstDst), M::Src(cidr, true)]),
            None => m.push(M::Set(SetId::of(CLUSTER_IP), Dirs::SrcDst)),
        }
        add("nat", "KUBE-SERVICES", R { m, t: masq() });
    }
    for set in [EXTERNAL_IP, EXTERNAL_IP_LOCAL] {
        if nonempty(set) {
            let base = vec![M::Comment(comment_of(set)), M::Set(SetId::of(set), Dirs::DstDst)];
            if set == EXTERNAL_IP {
                add(
                    "nat",
                    "KUBE-SERVICES",
                    R {
                        m: base.clone(),
                        t: masq(),
                    },
                );
            }
            let mut from_off_node = base.clone();
            from_off_node.extend([M::PhysdevNotIn, M::SrcNotLocal]);
            add(
                "nat",
                "KUBE-SERVICES",
                R {
                    m: from_off_node,
                    t: T::Accept,
                },
            );
            let mut to_local = base;
            to_local.push(M::DstLocal);
            add(
                "nat",
                "KUBE-SERVICES",
                R {
                    m: to_local,
                    t: T::Accept,
                },
            );
        }
    }
    add(
        "nat",
        "KUBE-SERVICES",
        R {
            m: vec![M::DstLocal],
            t: T::Jump("KUBE-NODE-PORT"),
        },
    );
    add("nat", "KUBE-LOAD-BALANCER", R { m: vec![], t: masq() });
    add("filter", "KUBE-SOURCE-RANGES-FIREWALL", R { m: vec![], t: T::Drop });
    // acceptIPVSTraffic: these must end KUBE-SERVICES.
    for set in [CLUSTER_IP, LOAD_BALANCER] {
        if nonempty(set) {
            add(
                "nat",
                "KUBE-SERVICES",
                R {
                    m: vec![M::Set(SetId::of(set), Dirs::DstDst)],
                    t: T::Accept,
                },
            );
        }
    }
    add(
        "filter",
        "KUBE-FORWARD",
        R {
            m: vec![M::Comment("kubernetes forwarding rules"), M::Mark(mark, false)],
            t: T::Accept,
        },
    );
    add(
        "filter",
        "KUBE-FORWARD",
        R {
            m: vec![
                M::Comment("kubernetes forwarding conntrack rule"),
                M::CtRelatedEstablished,
            ],
            t: T::Accept,
        },
    );
    add(
        "filter",
        "KUBE-NODE-PORT",
        R {
            m: vec![
                M::Comment(comment_of(HEALTH_CHECK_NODE_PORT)),
                M::Set(SetId::of(HEALTH_CHECK_NODE_PORT), Dirs::Dst),
            ],
            t: T::Accept,
        },
    );
    for (set, d) in [
        (LOAD_BALANCER, Dirs::DstDst),
        (CLUSTER_IP, Dirs::DstDst),
        (EXTERNAL_IP, Dirs::DstDst),
        (EXTERNAL_IP_LOCAL, Dirs::DstDst),
        (HEALTH_CHECK_NODE_PORT, Dirs::Dst),
    ] {
        add(
            "filter",
            "KUBE-IPVS-FILTER",
            R {
                m: vec![M::Set(SetId::of(set), d)],
                t: T::Return,
            },
        );
    }
    add(
        "filter",
        "KUBE-IPVS-FILTER",
        R {
            m: vec![M::CtNew, M::Set(SetId::IPVS_IPS, Dirs::Dst)],
            t: T::Reject,
        },
    );
    add(
        "nat",
        "KUBE-POSTROUTING",
        R {
            m: vec![M::Mark(mark, true)],
            t: T::Return,
        },
    );
    add(
        "nat",
        "KUBE-POSTROUTING",
        R {
            m: vec![],
            t: T::MarkXor(mark),
        },
    );
    add(
        "nat",
        "KUBE-POSTROUTING",
        R {
            m: vec![M::Comment("kubernetes service traffic requiring SNAT")],
            t: T::Masquerade,
        },
    );
    add(
        "nat",
        "KUBE-MARK-MASQ",
        R {
            m: vec![],
            t: T::MarkOr(mark),
        },
    );
    c
}

/// `iptables-restore` text for both tables.
pub fn render_chains(c: &Chains) -> String {
    let mut out = String::new();
    for table in ["filter", "nat"] {
        let _ = writeln!(out, "*{table}");
        for ((_, ch), _) in c.iter().filter(|((t, _), _)| *t == table) {
            // Built-in chains keep their ACCEPT policy; kube-proxy's own chains have none.
            let policy = if ch.contains('-') { "-" } else { "ACCEPT" };
            let _ = writeln!(out, ":{ch} {policy} [0:0]");
        }
        for ((_, ch), rules) in c.iter().filter(|((t, _), _)| *t == table) {
            for r in rules {
                let _ = writeln!(out, "-A {ch} {}", r.text());
            }
        }
        let _ = writeln!(out, "COMMIT");
    }
    out
}

/// How a walk through one built-in chain ended.
pub enum Exit {
    Continue,
    Accept,
    Drop,
    Reject,
    Masquerade,
}

/// The packet as the rules see it.
pub struct Pkt<'a> {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub dport: u16,
    pub proto: Protocol,
    pub mark: u32,
    pub is_local: &'a dyn Fn(Ipv4Addr) -> bool,
}

/// What a walk asks of the ipsets.
pub trait Members {
    /// Whether `set` holds exactly `e`.
    fn has(&self, set: SetId, e: &Entry) -> bool;
    /// Whether `set` holds an `ip,proto:port,net` entry for (dst, proto, port) whose net
    /// contains `src` (a `hash:ip,port,net` match).
    fn net_has(&self, set: SetId, dst: Ipv4Addr, proto: Protocol, port: u16, src: Ipv4Addr) -> bool;
}

/// The reference answers: ordered-map lookups, and a scan of the whole set for nets.
impl Members for Sets {
    fn has(&self, set: SetId, e: &Entry) -> bool {
        self[set.name()].contains_key(e)
    }
    fn net_has(&self, set: SetId, dst: Ipv4Addr, proto: Protocol, port: u16, src: Ipv4Addr) -> bool {
        self[set.name()].keys().any(|e| {
            matches!(e, Entry::IpPortNet(a, pr, n, net)
                if *a == dst && *pr == proto && *n == port && net.contains(&src))
        })
    }
}

fn in_set(sets: &dyn Members, set: SetId, d: Dirs, p: &Pkt) -> bool {
    match d {
        Dirs::Dst => sets.has(set, &Entry::Port(p.dport)) || sets.has(set, &Entry::Ip(p.dst)),
        Dirs::DstDst => sets.has(set, &Entry::IpPort(p.dst, p.proto, p.dport)),
        Dirs::SrcDst => sets.has(set, &Entry::IpPort(p.src, p.proto, p.dport)),
        Dirs::DstDstSrc => {
            sets.has(set, &Entry::IpPortIp(p.dst, p.proto, p.dport, p.src))
                || sets.net_has(set, p.dst, p.proto, p.dport, p.src)
        }
    }
}

/// Walks built-in `chain` of `table` as the kernel does; counts rules and ipset lookups.
pub fn walk(
    c: &Chains,
    sets: &dyn Members,
    table: &'static str,
    chain: &'static str,
    p: &mut Pkt,
    work: &mut Work,
    mut trace: Option<&mut Vec<TraceStep>>,
) -> Exit {
    // Jumps nest at most two deep here; inline so a walk does not allocate. A chain is looked
    // up when the walk enters it, and its rules kept on the stack for the return.
    let mut stack: SmallVec<[(&'static str, &[R], usize); 4]> = SmallVec::new();
    let (mut cur, mut rules, mut next) = (chain, c[&(table, chain)].as_slice(), 0usize);
    loop {
        let Some(r) = rules.get(next) else {
            match stack.pop() {
                Some(caller) => (cur, rules, next) = caller,
                None => return Exit::Continue,
            }
            continue;
        };
        next += 1;
        work.rules_evaluated += 1;
        let hit = r.m.iter().all(|m| match m {
            M::Comment(_) | M::CtNew | M::PhysdevNotIn => true,
            M::CtRelatedEstablished => false,
            M::Src(n, neg) => n.contains(&p.src) != *neg,
            M::Proto(pr) => p.proto == *pr,
            M::Set(set, d) => {
                work.map_lookups += 1;
                in_set(sets, *set, *d, p)
            }
            M::DstLocal => (p.is_local)(p.dst),
            M::SrcNotLocal => !(p.is_local)(p.src),
            M::Mark(v, neg) => (p.mark & v == *v) != *neg,
        });
        if !hit {
            continue;
        }
        if let Some(t) = trace.as_deref_mut() {
            t.push(TraceStep {
                table: table.into(),
                chain: cur.into(),
                rule: next as u32,
                text: r.text(),
            });
        }
        match &r.t {
            T::Jump(to) => {
                stack.push((cur, rules, next));
                (cur, rules, next) = (*to, c[&(table, *to)].as_slice(), 0);
            }
            T::Return => match stack.pop() {
                Some(caller) => (cur, rules, next) = caller,
                None => return Exit::Continue,
            },
            T::Accept => return Exit::Accept,
            T::Drop => return Exit::Drop,
            T::Reject => return Exit::Reject,
            T::MarkOr(v) => p.mark |= v,
            T::MarkXor(v) => p.mark ^= v,
            T::Masquerade => return Exit::Masquerade,
        }
    }
}
