//! One rule, written as kube-proxy writes it: `RuleBuilder` appends each argument's text to
//! the table's buffer and collects its match (IP-header matches first, as the kernel tests
//! them, then the extensions in written order), and the target ends the rule. Addresses and
//! ports are written by hand rather than through `fmt`: a large sync writes millions.

use super::TableBuilder;
use crate::iptables::names::Probability;
use crate::iptables::rule::*;
use crate::model::Protocol;
use ipnet::Ipv4Net;
use smallvec::SmallVec;
use std::fmt::{self, Write};
use std::net::Ipv4Addr;

/// Builds one rule's text and matches together, in kube-proxy's argument order.
pub struct RuleBuilder<'t> {
    t: &'t mut TableBuilder,
    chain: u32,
    /// `None`: a built-in jump, not part of the restore text.
    owner: Option<Owner>,
    start: u32,
    ip: SmallVec<[Match; 4]>,
    ext: SmallVec<[Match; 4]>,
}

impl<'t> RuleBuilder<'t> {
    pub(super) fn new(t: &'t mut TableBuilder, chain: u32, owner: Option<Owner>) -> RuleBuilder<'t> {
        let start = t.text.offset();
        t.text.buf.push_str("-A ");
        t.text.buf.push_str(t.names.get(&t.chains[chain as usize].name));
        RuleBuilder {
            t,
            chain,
            owner,
            start,
            ip: SmallVec::new(),
            ext: SmallVec::new(),
        }
    }

    fn put(&mut self, args: fmt::Arguments<'_>) {
        self.t
            .text
            .buf
            .write_fmt(args)
            .expect("writing to a String cannot fail");
    }

    /// ` -m comment --comment C`: `comment` is written as given (kube-proxy quotes the ones
    /// with spaces itself).
    pub fn comment(mut self, comment: impl fmt::Display) -> Self {
        self.t.text.buf.push_str(" -m comment --comment ");
        self.put(format_args!("{comment}"));
        self
    }

    /// `comment` unless `skip` (large-cluster mode leaves per-endpoint comments out).
    pub fn comment_unless(self, skip: bool, comment: impl fmt::Display) -> Self {
        if skip {
            self
        } else {
            self.comment(comment)
        }
    }

    /// `-m tcp -p tcp`: the protocol match and the (option-less) protocol extension.
    pub fn proto(mut self, p: Protocol) -> Self {
        self.t.text.buf.push_str(match p {
            Protocol::Tcp => " -m tcp -p tcp",
            Protocol::Udp => " -m udp -p udp",
            Protocol::Sctp => " -m sctp -p sctp",
        });
        self.ip.push(Match::Proto(p));
        self
    }

    pub fn dst(mut self, ip: Ipv4Addr) -> Self {
        self.t.text.buf.push_str(" -d ");
        push_ip(&mut self.t.text.buf, ip);
        self.ip.push(Match::Dst {
            net: Ipv4Net::from(ip),
            negated: false,
        });
        self
    }

    pub fn dst_net(mut self, net: Ipv4Net, negated: bool) -> Self {
        let bang = if negated { " !" } else { "" };
        self.put(format_args!("{bang} -d {net}"));
        self.ip.push(Match::Dst { net, negated });
        self
    }

    pub fn dport(mut self, port: u16) -> Self {
        self.t.text.buf.push_str(" --dport ");
        push_u32(&mut self.t.text.buf, u32::from(port));
        self.ext.push(Match::Dport(port));
        self
    }

    /// `-s ADDR` for a single address (written without a prefix length, as kube-proxy does).
    pub fn src_ip(mut self, ip: Ipv4Addr) -> Self {
        self.t.text.buf.push_str(" -s ");
        push_ip(&mut self.t.text.buf, ip);
        self.ip.push(Match::Src {
            net: Ipv4Net::from(ip),
            negated: false,
        });
        self
    }

    pub fn src_net(mut self, net: Ipv4Net, negated: bool) -> Self {
        let bang = if negated { " !" } else { "" };
        self.put(format_args!("{bang} -s {net}"));
        self.ip.push(Match::Src { net, negated });
        self
    }

    pub fn dst_type_local(mut self) -> Self {
        self.t.text.buf.push_str(" -m addrtype --dst-type LOCAL");
        self.ext.push(Match::DstTypeLocal);
        self
    }

    pub fn src_type_local(mut self) -> Self {
        self.t.text.buf.push_str(" -m addrtype --src-type LOCAL");
        self.ext.push(Match::SrcTypeLocal);
        self
    }

    pub fn mark(mut self, value: u32, mask: u32, negated: bool) -> Self {
        let bang = if negated { " !" } else { "" };
        self.put(format_args!(" -m mark{bang} --mark {value:#x}/{mask:#x}"));
        self.ext.push(Match::Mark { value, mask, negated });
        self
    }

    /// `states_text` is the comma list as written (e.g. `RELATED,ESTABLISHED`).
    pub fn ctstate(mut self, states: u8, states_text: &str, negated: bool) -> Self {
        let bang = if negated { " !" } else { "" };
        self.put(format_args!(" -m conntrack{bang} --ctstate {states_text}"));
        self.ext.push(Match::CtState { states, negated });
        self
    }

    pub fn statistic(mut self, p: &Probability) -> Self {
        self.t.text.buf.push_str(" -m statistic --mode random --probability ");
        self.t.text.buf.push_str(&p.text);
        self.ext.push(Match::Statistic { probability: p.kernel });
        self
    }

    fn push_name(&mut self, chain: u32) {
        let t = &mut *self.t;
        t.text.buf.push_str(t.names.get(&t.chains[chain as usize].name));
    }

    /// `-m recent --name <chain> --set`.
    pub fn recent_set(mut self, chain: u32) -> Self {
        self.t.text.buf.push_str(" -m recent --name ");
        self.push_name(chain);
        self.t.text.buf.push_str(" --set");
        self.ext.push(Match::RecentSet { chain });
        self
    }

    /// `-m recent --name <chain> --rcheck --seconds N --reap`.
    pub fn recent_check(mut self, chain: u32, seconds: u32) -> Self {
        self.t.text.buf.push_str(" -m recent --name ");
        self.push_name(chain);
        self.put(format_args!(" --rcheck --seconds {seconds} --reap"));
        self.ext.push(Match::RecentCheck { chain, seconds });
        self
    }

    pub fn nfacct(mut self, name: &str) -> Self {
        self.put(format_args!(" -m nfacct --nfacct-name {name}"));
        self.ext.push(Match::Nfacct);
        self
    }

    fn finish(self, target: Target) {
        let t = self.t;
        let m0 = u32::try_from(t.matches.len()).expect("fewer than 2^32 matches");
        t.matches.extend(self.ip);
        t.matches.extend(self.ext);
        let text = t.text.since(self.start);
        let len = u64::from(text.range().1);
        let i = u32::try_from(t.rules.len()).expect("fewer than 2^32 rules");
        t.rules.push(Rule {
            text,
            matches: (m0, t.matches.len() as u32 - m0),
            target,
        });
        t.rule_chain.push(self.chain);
        // While written in one run, `rules.start` holds where the run began.
        let c = self.chain as usize;
        let run = &mut t.chains[c].rules;
        if run.len == 0 {
            run.start = i;
        } else if run.start + run.len != i {
            t.split[c] = true;
        }
        run.len += 1;
        if let Some(owner) = self.owner {
            t.write_order.push((i, owner));
            let w = t.written_mut(owner);
            w.rules += 1;
            w.bytes += len + 1;
        }
    }

    pub fn jump(mut self, chain: u32) {
        self.t.text.buf.push_str(" -j ");
        self.push_name(chain);
        self.finish(Target::Jump(chain))
    }

    /// A rule with no `-j` (kube-proxy's comment-only last rule of KUBE-FW-*).
    pub fn no_target(self) {
        self.finish(Target::None)
    }

    pub fn ret(self) {
        self.t.text.buf.push_str(" -j RETURN");
        self.finish(Target::Return)
    }

    pub fn accept(self) {
        self.t.text.buf.push_str(" -j ACCEPT");
        self.finish(Target::Accept)
    }

    pub fn drop(self, cause: Cause) {
        self.t.text.buf.push_str(" -j DROP");
        self.finish(Target::Drop(cause))
    }

    pub fn reject(self, cause: Cause) {
        self.t.text.buf.push_str(" -j REJECT");
        self.finish(Target::Reject(cause))
    }

    /// `ids`: (service, service port, endpoint index in the port's API list).
    pub fn dnat(self, ip: Ipv4Addr, port: u16, ids: (u32, u32, u32)) {
        let buf = &mut self.t.text.buf;
        buf.push_str(" -j DNAT --to-destination ");
        push_ip(buf, ip);
        buf.push(':');
        push_u32(buf, u32::from(port));
        self.finish(Target::Dnat {
            ip,
            port,
            service: ids.0,
            svc_port: ids.1,
            endpoint: ids.2,
        })
    }

    pub fn mark_or(mut self, mark: u32) {
        self.put(format_args!(" -j MARK --or-mark {mark:#x}"));
        self.finish(Target::MarkOr(mark))
    }

    pub fn mark_xor(mut self, mark: u32) {
        self.put(format_args!(" -j MARK --xor-mark {mark:#x}"));
        self.finish(Target::MarkXor(mark))
    }

    pub fn masquerade(self, random_fully: bool) {
        self.t.text.buf.push_str(" -j MASQUERADE");
        if random_fully {
            self.t.text.buf.push_str(" --random-fully");
        }
        self.finish(Target::Masquerade)
    }
}

/// `ip` in dotted decimal, without going through `fmt` (a million of them per large sync).
fn push_ip(buf: &mut String, ip: Ipv4Addr) {
    let mut out = [0u8; 15];
    let mut n = 0;
    for (k, o) in ip.octets().into_iter().enumerate() {
        if k > 0 {
            out[n] = b'.';
            n += 1;
        }
        if o >= 100 {
            out[n] = b'0' + o / 100;
            n += 1;
        }
        if o >= 10 {
            out[n] = b'0' + o / 10 % 10;
            n += 1;
        }
        out[n] = b'0' + o % 10;
        n += 1;
    }
    buf.push_str(std::str::from_utf8(&out[..n]).expect("digits and dots"));
}

/// `n` in decimal, without going through `fmt`.
fn push_u32(buf: &mut String, mut n: u32) {
    let mut out = [0u8; 10];
    let mut i = out.len();
    loop {
        i -= 1;
        out[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    buf.push_str(std::str::from_utf8(&out[i..]).expect("digits"));
}
