//! Raw objects to typed ones: dispatch on apiVersion + kind, deserialize with k8s-openapi (or
//! the CRD types in `tiers`), keep the field path of type errors, check names. Kinds cnsim
//! does not import are warnings, never dropped silently.

use crate::diag::{Diagnostic, Diagnostics, FieldPath, ObjectCtx, Origin, Severity};
use crate::names;
use crate::source::RawObject;
use crate::tiers::{AnpSpec, CnpSpec, TierSpec};
use k8s_openapi::api::{
    apps::v1 as apps, batch::v1 as batch, core::v1 as core, discovery::v1 as discovery, networking::v1 as net,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::de::{DeserializeOwned, IgnoredAny};
use serde::Deserialize;
use serde_json::Value;

/// The namespace of namespaced objects that name none (`kubectl apply` would use the current
/// context's; cnsim has no context).
pub const DEFAULT_NAMESPACE: &str = "default";

/// The imported kinds, as `apiVersion kind` pairs, for messages.
pub const IMPORTED_KINDS: &str = "v1 Namespace/Node/Pod/Service, apps/v1 Deployment/StatefulSet/DaemonSet/ReplicaSet, batch/v1 Job, discovery.k8s.io/v1 EndpointSlice, networking.k8s.io/v1 NetworkPolicy, policy.networking.k8s.io/v1alpha2 (and v1beta1) ClusterNetworkPolicy, policy.networking.k8s.io/v1alpha1 AdminNetworkPolicy/BaselineAdminNetworkPolicy";

#[derive(Clone, Debug)]
pub(crate) enum Kind {
    Namespace(Box<core::Namespace>),
    Node(Box<core::Node>),
    Pod(Box<core::Pod>),
    Deployment(Box<apps::Deployment>),
    StatefulSet(Box<apps::StatefulSet>),
    DaemonSet(Box<apps::DaemonSet>),
    ReplicaSet(Box<apps::ReplicaSet>),
    Job(Box<batch::Job>),
    Service(Box<core::Service>),
    EndpointSlice(Box<discovery::EndpointSlice>),
    NetworkPolicy(Box<net::NetworkPolicy>),
    Tier(Box<TierSpec>),
}

/// A typed object with its checked identity.
#[derive(Clone, Debug)]
pub(crate) struct Object {
    pub origin: Origin,
    pub kind_name: &'static str,
    /// Empty for cluster-scoped kinds.
    pub namespace: String,
    pub name: String,
    pub kind: Kind,
}

impl Object {
    /// `NetworkPolicy x/deny-all`, or `Node n1` for cluster-scoped kinds.
    pub fn display(&self) -> String {
        display(self.kind_name, &self.namespace, &self.name)
    }
}

pub(crate) fn display(kind: &str, namespace: &str, name: &str) -> String {
    if namespace.is_empty() {
        format!("{kind} {name}")
    } else {
        format!("{kind} {namespace}/{name}")
    }
}

/// A CRD object: TypeMeta, metadata, spec; status ignored.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct CrdObject<S> {
    #[allow(dead_code)]
    api_version: String,
    #[allow(dead_code)]
    kind: String,
    #[serde(default)]
    #[allow(dead_code)]
    metadata: ObjectMeta,
    spec: S,
    #[serde(default)]
    #[allow(dead_code)]
    status: Option<IgnoredAny>,
}

/// How the object's name is checked (apimachinery's name validators by kind).
#[derive(Clone, Copy)]
enum NameRule {
    Subdomain,
    Label,
    Dns1035,
}

/// Types one raw object. Problems go to `diags`; `None` when the object is not imported (an
/// unknown kind, a warning) or invalid (an error).
pub(crate) fn type_object(raw: RawObject, diags: &mut Diagnostics) -> Option<Object> {
    let RawObject { origin, value } = raw;
    let api_version = value
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let kind = value.get("kind").and_then(Value::as_str).unwrap_or("").to_string();
    let meta_str = |k: &str| {
        value
            .get("metadata")
            .and_then(|m| m.get(k))
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let (raw_ns, raw_name) = (meta_str("namespace"), meta_str("name"));
    if !value.is_object() || api_version.is_empty() || kind.is_empty() {
        diags.push(Diagnostic {
            severity: Severity::Error,
            file: origin.file.clone(),
            line: origin.line,
            column: None,
            object: None,
            field: Some(if value.is_object() {
                "apiVersion/kind".into()
            } else {
                "(document)".into()
            }),
            message: "not a Kubernetes object: apiVersion and kind are required".into(),
            valid: Some("a mapping with apiVersion, kind and metadata".into()),
        });
        return None;
    }
    use NameRule::*;
    let group_v1alpha2 = matches!(
        api_version.as_str(),
        "policy.networking.k8s.io/v1alpha2" | "policy.networking.k8s.io/v1beta1"
    );
    let (kind_name, namespaced, rule): (&'static str, bool, NameRule) = match (api_version.as_str(), kind.as_str()) {
        ("v1", "Namespace") => ("Namespace", false, Label),
        ("v1", "Node") => ("Node", false, Subdomain),
        ("v1", "Pod") => ("Pod", true, Subdomain),
        ("v1", "Service") => ("Service", true, Dns1035),
        ("apps/v1", "Deployment") => ("Deployment", true, Subdomain),
        ("apps/v1", "StatefulSet") => ("StatefulSet", true, Subdomain),
        ("apps/v1", "DaemonSet") => ("DaemonSet", true, Subdomain),
        ("apps/v1", "ReplicaSet") => ("ReplicaSet", true, Subdomain),
        ("batch/v1", "Job") => ("Job", true, Subdomain),
        ("discovery.k8s.io/v1", "EndpointSlice") => ("EndpointSlice", true, Subdomain),
        ("networking.k8s.io/v1", "NetworkPolicy") => ("NetworkPolicy", true, Subdomain),
        (_, "ClusterNetworkPolicy") if group_v1alpha2 => ("ClusterNetworkPolicy", false, Subdomain),
        ("policy.networking.k8s.io/v1alpha1", "AdminNetworkPolicy") => ("AdminNetworkPolicy", false, Subdomain),
        ("policy.networking.k8s.io/v1alpha1", "BaselineAdminNetworkPolicy") => {
            ("BaselineAdminNetworkPolicy", false, Subdomain)
        }
        _ => {
            let name = if raw_ns.is_empty() {
                raw_name.clone()
            } else {
                format!("{raw_ns}/{raw_name}")
            };
            diags.push(Diagnostic {
                severity: Severity::Warning,
                file: origin.file.clone(),
                line: origin.line,
                column: None,
                object: Some(format!("{api_version} {kind} {name}").trim_end().to_string()),
                field: None,
                message: "kind not imported; the object is skipped".into(),
                valid: Some(IMPORTED_KINDS.into()),
            });
            return None;
        }
    };
    let namespace = match (namespaced, raw_ns.is_empty()) {
        (true, true) => DEFAULT_NAMESPACE.to_string(),
        (true, false) => raw_ns,
        (false, _) => String::new(),
    };
    let mut ctx = ObjectCtx::new(&origin, display(kind_name, &namespace, &raw_name), diags);
    let name_path = FieldPath::root("metadata").child("name");
    if raw_name.is_empty() {
        ctx.error(&name_path, "required", "a name");
    } else {
        let checked = match rule {
            Subdomain => names::dns1123_subdomain(&raw_name),
            Label => names::dns1123_label(&raw_name),
            Dns1035 => names::dns1035_label(&raw_name),
        };
        if let Err(valid) = checked {
            ctx.error(&name_path, format!("invalid name {raw_name:?}"), valid);
        }
    }
    if namespaced {
        if let Err(valid) = names::dns1123_label(&namespace) {
            ctx.error(
                &FieldPath::root("metadata").child("namespace"),
                format!("invalid namespace {namespace:?}"),
                valid,
            );
        }
    }
    let typed = match kind_name {
        "Namespace" => de(&mut ctx, value).map(Kind::Namespace),
        "Node" => de(&mut ctx, value).map(Kind::Node),
        "Pod" => de(&mut ctx, value).map(Kind::Pod),
        "Service" => de(&mut ctx, value).map(Kind::Service),
        "Deployment" => de(&mut ctx, value).map(Kind::Deployment),
        "StatefulSet" => de(&mut ctx, value).map(Kind::StatefulSet),
        "DaemonSet" => de(&mut ctx, value).map(Kind::DaemonSet),
        "ReplicaSet" => de(&mut ctx, value).map(Kind::ReplicaSet),
        "Job" => de(&mut ctx, value).map(Kind::Job),
        "EndpointSlice" => de(&mut ctx, value).map(Kind::EndpointSlice),
        "NetworkPolicy" => de(&mut ctx, value).map(Kind::NetworkPolicy),
        "ClusterNetworkPolicy" => {
            de::<CrdObject<CnpSpec>>(&mut ctx, value).map(|o| Kind::Tier(Box::new(TierSpec::Cnp(o.spec))))
        }
        "AdminNetworkPolicy" => {
            de::<CrdObject<AnpSpec>>(&mut ctx, value).map(|o| Kind::Tier(Box::new(TierSpec::Anp(o.spec))))
        }
        _ => de::<CrdObject<AnpSpec>>(&mut ctx, value).map(|o| Kind::Tier(Box::new(TierSpec::Banp(o.spec)))),
    };
    if ctx.failed() {
        return None;
    }
    Some(Object {
        origin: origin.clone(),
        kind_name,
        namespace,
        name: raw_name,
        kind: typed?,
    })
}

/// Deserializes with the path of the failing field, so that `replicas: "3"` is reported at
/// `spec.replicas`.
fn de<T: DeserializeOwned>(ctx: &mut ObjectCtx, value: Value) -> Option<T> {
    match serde_path_to_error::deserialize::<_, T>(value) {
        Ok(v) => Some(v),
        Err(e) => {
            let path = e.path().to_string();
            let field = if path == "." {
                FieldPath::default()
            } else {
                FieldPath::root(&path)
            };
            let message = e.into_inner().to_string();
            ctx.error(&field, message, "");
            None
        }
    }
}
