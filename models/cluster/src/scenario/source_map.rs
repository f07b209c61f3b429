//! Where each field of a RON text sits: field path → line and column.
//!
//! serde forgets positions once a value is parsed, but validation errors must name the line of
//! the field they are about. This scans the text's structure (not its values) and records the
//! position of every field and list element under the same path syntax validation uses:
//! `vpc.subnets[1].cidr`, `workloads[0].labels.app`. Enum variant names add no path segment,
//! matching how the typed scenario is addressed.

use std::collections::BTreeMap;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Position {
    pub line: usize,
    pub column: usize,
}

#[derive(Clone, Debug, Default)]
pub struct SourceMap {
    positions: BTreeMap<String, Position>,
}

/// A path segment for a map key: plain after a dot if it reads as an identifier.
pub fn key_segment(key: &str) -> String {
    if !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
        format!(".{key}")
    } else {
        format!("[{key:?}]")
    }
}

/// Joins a parent path and a field or key segment.
pub fn join(parent: &str, segment: &str) -> String {
    let seg = segment.strip_prefix('.').unwrap_or(segment);
    if parent.is_empty() {
        seg.to_string()
    } else if segment.starts_with('[') {
        format!("{parent}{segment}")
    } else {
        format!("{parent}.{seg}")
    }
}

enum Frame {
    /// `( ... )`: a struct, an enum variant's fields, or a tuple.
    Paren { path: String },
    /// `[ ... ]`: list elements are `path[i]`.
    List { path: String, index: usize, started: bool },
    /// `{ ... }`: keys are strings or identifiers.
    Map { path: String },
}

impl SourceMap {
    /// Scans `text`. Malformed text yields a partial map; the parser reports the syntax error.
    pub fn scan(text: &str) -> SourceMap {
        let mut map = SourceMap::default();
        let tokens = tokenize(text);
        let mut stack: Vec<Frame> = Vec::new();
        // The path the next value will have, and whether it is already recorded.
        let mut pending: Option<String> = Some(String::new());
        let mut i = 0;
        while i < tokens.len() {
            let (tok, pos) = &tokens[i];
            let next_is_colon = matches!(tokens.get(i + 1), Some((Tok::Colon, _)));
            match tok {
                Tok::Ident(name) if next_is_colon && matches!(stack.last(), Some(Frame::Paren { .. })) => {
                    let Some(Frame::Paren { path }) = stack.last() else {
                        unreachable!()
                    };
                    let field = join(path, name);
                    map.record(&field, *pos);
                    pending = Some(field);
                    i += 2;
                    continue;
                }
                Tok::Str(key) | Tok::Ident(key) if next_is_colon && matches!(stack.last(), Some(Frame::Map { .. })) => {
                    let Some(Frame::Map { path }) = stack.last() else {
                        unreachable!()
                    };
                    let field = join(path, &key_segment(key));
                    map.record(&field, *pos);
                    pending = Some(field);
                    i += 2;
                    continue;
                }
                _ => {}
            }
            // A value starts here: inside a list, it is the next element.
            if !matches!(tok, Tok::Close | Tok::Comma) {
                if let Some(Frame::List { path, index, started }) = stack.last_mut() {
                    if !*started {
                        *started = true;
                        let elem = format!("{path}[{index}]");
                        map.record(&elem, *pos);
                        pending = Some(elem);
                    }
                }
            }
            match tok {
                Tok::Open('(') => {
                    let path = pending.take().unwrap_or_else(|| current_path(&stack));
                    stack.push(Frame::Paren { path });
                }
                Tok::Open('[') => {
                    let path = pending.take().unwrap_or_else(|| current_path(&stack));
                    stack.push(Frame::List {
                        path,
                        index: 0,
                        started: false,
                    });
                }
                Tok::Open(_) => {
                    let path = pending.take().unwrap_or_else(|| current_path(&stack));
                    stack.push(Frame::Map { path });
                }
                Tok::Close => {
                    stack.pop();
                    pending = None;
                }
                Tok::Comma => {
                    if let Some(Frame::List { index, started, .. }) = stack.last_mut() {
                        if *started {
                            *index += 1;
                            *started = false;
                        }
                    }
                    pending = None;
                }
                // An enum variant name before its `(`: the value keeps the pending path.
                Tok::Ident(_) if matches!(tokens.get(i + 1), Some((Tok::Open('('), _))) => {}
                _ => pending = None,
            }
            i += 1;
        }
        map
    }

    fn record(&mut self, path: &str, pos: Position) {
        self.positions.entry(path.to_string()).or_insert(pos);
    }

    /// The position of `path`, or of its nearest recorded ancestor (a defaulted field that is
    /// not written in the file is reported at the struct that would hold it).
    pub fn locate(&self, path: &str) -> Position {
        let mut p = path.to_string();
        loop {
            if let Some(pos) = self.positions.get(&p) {
                return *pos;
            }
            match parent_path(&p) {
                Some(parent) => p = parent,
                None => return Position { line: 1, column: 1 },
            }
        }
    }

    /// The path of the last field written at or before `pos`: what a syntax error at `pos`
    /// is most likely about.
    pub fn field_before(&self, pos: Position) -> Option<&str> {
        self.positions
            .iter()
            .filter(|(_, p)| **p < pos)
            .max_by_key(|(_, p)| **p)
            .map(|(k, _)| k.as_str())
    }

    /// Exact lookup, for tests and for callers that must know a field is written.
    pub fn get(&self, path: &str) -> Option<Position> {
        self.positions.get(path).copied()
    }
}

fn current_path(stack: &[Frame]) -> String {
    match stack.last() {
        Some(Frame::Paren { path }) | Some(Frame::Map { path }) => path.clone(),
        Some(Frame::List { path, index, .. }) => format!("{path}[{index}]"),
        None => String::new(),
    }
}

/// `a.b[2].c` → `a.b[2]` → `a.b` → `a` → `` (None after the root).
pub fn parent_path(path: &str) -> Option<String> {
    if path.is_empty() {
        return None;
    }
    let bytes = path.as_bytes();
    let mut depth = 0i32;
    let mut in_str = false;
    for idx in (0..bytes.len()).rev() {
        let c = bytes[idx];
        if c == b'"' && (idx == 0 || bytes[idx - 1] != b'\\') {
            in_str = !in_str;
        }
        if in_str {
            continue;
        }
        match c {
            b']' => depth += 1,
            b'[' => {
                depth -= 1;
                if depth == 0 {
                    return Some(path[..idx].to_string());
                }
            }
            b'.' if depth == 0 => return Some(path[..idx].to_string()),
            _ => {}
        }
    }
    Some(String::new())
}

#[derive(Debug, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    Open(char),
    Close,
    Colon,
    Comma,
    /// Numbers, chars, anything else that is a value.
    Other,
}

fn tokenize(text: &str) -> Vec<(Tok, Position)> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let (mut i, mut line, mut col) = (0usize, 1usize, 1usize);
    // Advance one char, tracking line and column.
    // Advancing past the end is a no-op: unterminated comments and strings end the scan.
    let step = |i: &mut usize, line: &mut usize, col: &mut usize, chars: &[char]| {
        if *i >= chars.len() {
            return;
        }
        if chars[*i] == '\n' {
            *line += 1;
            *col = 1;
        } else {
            *col += 1;
        }
        *i += 1;
    };
    while i < chars.len() {
        let c = chars[i];
        let pos = Position { line, column: col };
        if c.is_whitespace() {
            step(&mut i, &mut line, &mut col, &chars);
        } else if c == '/' && chars.get(i + 1) == Some(&'/') {
            while i < chars.len() && chars[i] != '\n' {
                step(&mut i, &mut line, &mut col, &chars);
            }
        } else if c == '/' && chars.get(i + 1) == Some(&'*') {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    step(&mut i, &mut line, &mut col, &chars);
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    step(&mut i, &mut line, &mut col, &chars);
                    if depth == 0 {
                        step(&mut i, &mut line, &mut col, &chars);
                        break;
                    }
                }
                step(&mut i, &mut line, &mut col, &chars);
            }
        } else if c == '"' || (c == 'r' && matches!(chars.get(i + 1), Some('"') | Some('#'))) {
            let raw_hashes = if c == 'r' {
                step(&mut i, &mut line, &mut col, &chars);
                let mut n = 0;
                while i < chars.len() && chars[i] == '#' {
                    n += 1;
                    step(&mut i, &mut line, &mut col, &chars);
                }
                Some(n)
            } else {
                None
            };
            step(&mut i, &mut line, &mut col, &chars); // opening quote
            let mut s = String::new();
            while i < chars.len() {
                let ch = chars[i];
                if raw_hashes.is_none() && ch == '\\' && i + 1 < chars.len() {
                    s.push(chars[i + 1]);
                    step(&mut i, &mut line, &mut col, &chars);
                    step(&mut i, &mut line, &mut col, &chars);
                    continue;
                }
                if ch == '"' {
                    let hashes = raw_hashes.unwrap_or(0);
                    if (1..=hashes).all(|k| chars.get(i + k) == Some(&'#')) {
                        for _ in 0..=hashes {
                            step(&mut i, &mut line, &mut col, &chars);
                        }
                        break;
                    }
                }
                s.push(ch);
                step(&mut i, &mut line, &mut col, &chars);
            }
            out.push((Tok::Str(s), pos));
        } else if c == '\'' {
            step(&mut i, &mut line, &mut col, &chars);
            while i < chars.len() && chars[i] != '\'' {
                if chars[i] == '\\' {
                    step(&mut i, &mut line, &mut col, &chars);
                }
                if i < chars.len() {
                    step(&mut i, &mut line, &mut col, &chars);
                }
            }
            if i < chars.len() {
                step(&mut i, &mut line, &mut col, &chars);
            }
            out.push((Tok::Other, pos));
        } else if c.is_alphabetic() || c == '_' {
            let mut s = String::new();
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                s.push(chars[i]);
                step(&mut i, &mut line, &mut col, &chars);
            }
            out.push((Tok::Ident(s), pos));
        } else {
            let tok = match c {
                '(' | '[' | '{' => Tok::Open(c),
                ')' | ']' | '}' => Tok::Close,
                ':' => Tok::Colon,
                ',' => Tok::Comma,
                _ => Tok::Other,
            };
            let is_value = tok == Tok::Other;
            step(&mut i, &mut line, &mut col, &chars);
            // A number or other bare value runs until a delimiter.
            if is_value {
                while i < chars.len() && !chars[i].is_whitespace() && !"()[]{}:,".contains(chars[i]) {
                    step(&mut i, &mut line, &mut col, &chars);
                }
            }
            out.push((tok, pos));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = r#"// a comment (with parens)
Scenario(
    version: 1,
    vpc: Vpc(
        cidr: "10.0.0.0/16",
        subnets: [
            (name: "a", cidr: "10.0.0.0/24"),
            Subnet(name: "b, c", cidr: "10.0.1.0/24"),
        ],
    ),
    network: (ipam: HostLocal(node_cidr_mask: 24)),
    workloads: [(labels: {"app": "web", "team.io/x": "y"}, ports: [])],
)
"#;

    #[test]
    fn records_fields_elements_and_map_keys() {
        let map = SourceMap::scan(TEXT);
        assert_eq!(map.get("version"), Some(Position { line: 3, column: 5 }));
        assert_eq!(map.get("vpc.cidr"), Some(Position { line: 5, column: 9 }));
        assert_eq!(map.get("vpc.subnets[0]"), Some(Position { line: 7, column: 13 }));
        assert_eq!(map.get("vpc.subnets[1].cidr"), Some(Position { line: 8, column: 34 }));
        assert_eq!(
            map.get("network.ipam.node_cidr_mask"),
            Some(Position { line: 11, column: 31 })
        );
        assert_eq!(
            map.get("workloads[0].labels.app"),
            Some(Position { line: 12, column: 27 })
        );
        assert!(map.get("workloads[0].labels[\"team.io/x\"]").is_some());
        assert!(map.get("vpc.subnets[2]").is_none());
    }

    #[test]
    fn locate_falls_back_to_the_nearest_written_ancestor() {
        let map = SourceMap::scan(TEXT);
        assert_eq!(map.locate("vpc.subnets[1].kind"), map.get("vpc.subnets[1]").unwrap());
        assert_eq!(map.locate("fabric.same_az_latency"), Position { line: 1, column: 1 });
    }

    #[test]
    fn field_before_names_the_preceding_field() {
        let map = SourceMap::scan(TEXT);
        assert_eq!(map.field_before(Position { line: 5, column: 30 }), Some("vpc.cidr"));
        assert_eq!(map.field_before(Position { line: 5, column: 9 }), Some("vpc"));
        assert_eq!(map.field_before(Position { line: 1, column: 1 }), None);
    }

    /// Found by fuzzing: unterminated comments, strings and chars end the scan quietly.
    #[test]
    fn unterminated_text_does_not_panic() {
        for text in [
            "/*",
            "(a: 1 /* x *",
            "\"abc",
            "r#\"abc\"",
            "'",
            "'\\",
            "(a: [1, {\"k\": ",
        ] {
            let _ = SourceMap::scan(text);
        }
    }

    #[test]
    fn parent_paths() {
        assert_eq!(parent_path("a.b[2].c").as_deref(), Some("a.b[2]"));
        assert_eq!(parent_path("a.b[2]").as_deref(), Some("a.b"));
        assert_eq!(parent_path("a[\"x.y\"]").as_deref(), Some("a"));
        assert_eq!(parent_path("a").as_deref(), Some(""));
        assert_eq!(parent_path(""), None);
    }
}
