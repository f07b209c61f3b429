//! Kubernetes name and label syntax (apimachinery `util/validation`): object names, label keys
//! and values, port names. Each check returns, on failure, the rule that would be valid.

/// `[a-z0-9]([-a-z0-9]*[a-z0-9])?`: the alphabet of DNS-1123 labels.
fn is_dns_label_body(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

/// A DNS-1123 label (namespace names): at most 63 characters.
pub fn dns1123_label(s: &str) -> Result<(), &'static str> {
    if s.len() <= 63 && is_dns_label_body(s) {
        Ok(())
    } else {
        Err("a DNS-1123 label: at most 63 characters, lowercase letters, digits and '-', starting and ending with a letter or digit")
    }
}

/// A DNS-1123 subdomain (most object names): dot-separated labels, at most 253 characters.
pub fn dns1123_subdomain(s: &str) -> Result<(), &'static str> {
    if s.len() <= 253 && s.split('.').all(is_dns_label_body) {
        Ok(())
    } else {
        Err("a DNS-1123 subdomain: at most 253 characters, lowercase letters, digits, '-' and '.', each dot-separated part starting and ending with a letter or digit")
    }
}

/// A DNS-1035 label (Service names): a DNS-1123 label that starts with a letter.
pub fn dns1035_label(s: &str) -> Result<(), &'static str> {
    if s.len() <= 63 && is_dns_label_body(s) && s.as_bytes()[0].is_ascii_lowercase() {
        Ok(())
    } else {
        Err("a DNS-1035 label: at most 63 characters, lowercase letters, digits and '-', starting with a letter and ending with a letter or digit")
    }
}

/// `([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]`, at most 63 characters: label values (may also be
/// empty) and the name part of label keys.
fn is_label_token(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
}

/// A label key: `[prefix/]name`, the prefix a DNS-1123 subdomain.
pub fn label_key(s: &str) -> Result<(), &'static str> {
    const VALID: &str = "a qualified name: an optional DNS-1123 subdomain prefix and '/', then at most 63 characters of letters, digits, '-', '_' and '.', starting and ending with a letter or digit";
    let (prefix, name) = match s.split_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, s),
    };
    let prefix_ok = prefix.is_none_or(|p| !p.is_empty() && dns1123_subdomain(p).is_ok());
    if prefix_ok && is_label_token(name) {
        Ok(())
    } else {
        Err(VALID)
    }
}

/// A label value: empty, or at most 63 characters of letters, digits, '-', '_' and '.'.
pub fn label_value(s: &str) -> Result<(), &'static str> {
    if s.is_empty() || is_label_token(s) {
        Ok(())
    } else {
        Err("empty, or at most 63 characters of letters, digits, '-', '_' and '.', starting and ending with a letter or digit")
    }
}

/// IANA_SVC_NAME (RFC 6335), the syntax of container port names and named ports.
pub fn port_name(s: &str) -> Result<(), &'static str> {
    let b = s.as_bytes();
    let ok = !b.is_empty()
        && b.len() <= 15
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b.iter().any(|c| c.is_ascii_lowercase())
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
        && !s.contains("--");
    if ok {
        Ok(())
    } else {
        Err("a port name (IANA_SVC_NAME): at most 15 characters, lowercase letters, digits and '-', at least one letter, no leading, trailing or double '-'")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_accept_and_reject_per_apimachinery() {
        assert!(dns1123_label("kube-system").is_ok());
        assert!(dns1123_label("Kube").is_err());
        assert!(dns1123_label(&"a".repeat(64)).is_err());
        assert!(dns1123_subdomain("a.b-c.d").is_ok());
        assert!(dns1123_subdomain("a..b").is_err());
        assert!(dns1123_subdomain("-a").is_err());
        assert!(dns1035_label("web").is_ok());
        assert!(dns1035_label("1web").is_err());
        assert!(label_key("app.kubernetes.io/name").is_ok());
        assert!(label_key("app").is_ok());
        assert!(label_key("/app").is_err());
        assert!(label_key("a/b/c").is_err());
        assert!(label_key("Bad_Prefix/x").is_err());
        assert!(label_value("").is_ok());
        assert!(label_value("v1.2_x").is_ok());
        assert!(label_value("-x").is_err());
        assert!(port_name("http").is_ok());
        assert!(port_name("h2c-80").is_ok());
        assert!(port_name("8080").is_err());
        assert!(port_name("a--b").is_err());
        assert!(port_name("sixteen-chars-xx").is_err());
        assert!(port_name("HTTP").is_err());
    }
}
