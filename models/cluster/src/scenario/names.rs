//! Kubernetes name and label syntax, as the API server checks it (apimachinery validation).
//! The rules are cnsim-manifests' (`cnsim_manifests::names`); the messages here say which
//! part of a scenario's name is wrong.

use cnsim_manifests::names as rules;

/// RFC 1123 label: namespace and most object names. At most 63 characters.
pub fn dns1123_label(s: &str) -> Result<(), String> {
    if s.is_empty() || s.len() > 63 {
        return Err(format!("{s:?} must be 1 to 63 characters"));
    }
    rules::dns1123_label(s).map_err(|_| {
        format!("{s:?} must be lowercase letters, digits and '-', starting and ending with a letter or digit")
    })
}

/// RFC 1123 subdomain: label key prefixes. At most 253 characters of dot-separated labels.
pub fn dns1123_subdomain(s: &str) -> Result<(), String> {
    if s.is_empty() || s.len() > 253 {
        return Err(format!("{s:?} must be 1 to 253 characters"));
    }
    s.split('.').try_for_each(dns1123_label)
}

/// The name part of a label key or a label value: alphanumerics, '-', '_', '.', alphanumeric
/// at both ends, at most 63 characters (values may also be empty).
fn qualified_name_part(s: &str) -> Result<(), String> {
    if s.is_empty() || s.len() > 63 {
        return Err(format!("{s:?} must be 1 to 63 characters"));
    }
    // A non-empty label value has exactly this syntax.
    rules::label_value(s)
        .map_err(|_| format!("{s:?} must be alphanumerics, '-', '_' or '.', starting and ending with an alphanumeric"))
}

/// A label key: `[prefix/]name`, prefix a DNS subdomain.
pub fn label_key(s: &str) -> Result<(), String> {
    match s.split_once('/') {
        Some((prefix, name)) => {
            dns1123_subdomain(prefix).map_err(|e| format!("label key prefix: {e}"))?;
            qualified_name_part(name)
        }
        None => qualified_name_part(s),
    }
}

pub fn label_value(s: &str) -> Result<(), String> {
    if s.is_empty() {
        Ok(())
    } else {
        qualified_name_part(s)
    }
}

/// IANA_SVC_NAME: container port names. At most 15 characters, lowercase alphanumerics and
/// '-', at least one letter, no leading, trailing or double '-'.
pub fn port_name(s: &str) -> Result<(), String> {
    rules::port_name(s).map_err(|_| {
        format!("{s:?} is not a valid port name (IANA_SVC_NAME: at most 15 lowercase letters, digits and single '-', at least one letter)")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_apimachinery() {
        assert!(dns1123_label("shop-1").is_ok());
        assert!(dns1123_label("Shop").is_err());
        assert!(dns1123_label("-a").is_err());
        assert!(dns1123_label(&"a".repeat(64)).is_err());
        assert!(label_key("app.kubernetes.io/name").is_ok());
        assert!(label_key("kubernetes.io/metadata.name").is_ok());
        assert!(label_key("a/b/c").is_err());
        assert!(label_key("_x").is_err());
        assert!(label_value("").is_ok());
        assert!(label_value("v1.2_x").is_ok());
        assert!(label_value("bad value").is_err());
        assert!(port_name("http").is_ok());
        assert!(port_name("8080").is_err());
        assert!(port_name("a--b").is_err());
        assert!(port_name("abcdefghijklmnop").is_err());
    }
}
