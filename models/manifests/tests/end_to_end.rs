//! The NetworkPolicy example of the Kubernetes documentation ("The NetworkPolicy resource"),
//! with the Deployments, Service and namespaces around it, through the compiled engine.

mod common;
use cnsim_policy::{Compiled, Connection, Endpoint, EvalOptions, PolicyEngine, Protocol};
use common::*;

const MANIFESTS: &str = r#"
apiVersion: v1
kind: Namespace
metadata:
  name: myproject
  labels:
    project: myproject
---
apiVersion: v1
kind: Namespace
metadata:
  name: other
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: redis
  namespace: default
spec:
  replicas: 2
  selector:
    matchLabels: {role: db}
  template:
    metadata:
      labels: {role: db}
    spec:
      containers:
      - name: redis
        image: redis:7
        ports:
        - {name: redis, containerPort: 6379}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: frontend
  namespace: default
spec:
  selector:
    matchLabels: {role: frontend}
  template:
    metadata:
      labels: {role: frontend}
    spec:
      containers: [{name: web, image: nginx}]
---
apiVersion: v1
kind: Service
metadata:
  name: redis
  namespace: default
spec:
  selector: {role: db}
  ports:
  - {port: 6379, targetPort: redis}
---
apiVersion: v1
kind: Pod
metadata: {name: tool, namespace: myproject}
spec: {containers: [{name: t, image: busybox}]}
---
apiVersion: v1
kind: Pod
metadata: {name: stranger, namespace: other}
spec: {containers: [{name: t, image: busybox}]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: test-network-policy
  namespace: default
spec:
  podSelector:
    matchLabels:
      role: db
  policyTypes:
  - Ingress
  - Egress
  ingress:
  - from:
    - ipBlock:
        cidr: 172.17.0.0/16
        except:
        - 172.17.1.0/24
    - namespaceSelector:
        matchLabels:
          project: myproject
    - podSelector:
        matchLabels:
          role: frontend
    ports:
    - protocol: TCP
      port: 6379
  egress:
  - to:
    - ipBlock:
        cidr: 10.0.0.0/24
    ports:
    - protocol: TCP
      port: 5978
"#;

#[test]
fn the_documentation_example_allows_and_denies_as_documented() {
    let m = import(MANIFESTS);
    assert!(m.warnings.is_empty(), "{}", list(&m.warnings));
    let engine = Compiled::build(&m.cluster, &m.policies, EvalOptions::default());
    let pod =
        |ns: &str, name: &str| Endpoint::Pod(m.cluster.pod_by_name(ns, name).unwrap_or_else(|| panic!("{ns}/{name}")));
    let conn = |src, dst, port| Connection {
        src,
        dst,
        protocol: Protocol::Tcp,
        port,
    };

    // The Service's endpoints are the two redis pods on the named port.
    let eps = m.endpoints(m.service("default", "redis").unwrap());
    assert_eq!(eps.len(), 2);
    assert!(eps.iter().all(|e| e.port == 6379));
    let db = Endpoint::Pod(eps[0].pod.unwrap());

    assert!(
        engine.is_allowed(&conn(pod("default", "frontend-0"), db, 6379)),
        "role=frontend may reach the db on 6379"
    );
    assert!(
        engine.is_allowed(&conn(pod("myproject", "tool"), db, 6379)),
        "namespace project=myproject may too"
    );
    assert!(
        !engine.is_allowed(&conn(pod("default", "frontend-0"), db, 80)),
        "only 6379 is open"
    );
    assert!(
        !engine.is_allowed(&conn(pod("other", "stranger"), db, 6379)),
        "other namespaces are not allowed"
    );
    assert!(
        engine.is_allowed(&conn(Endpoint::Ip("172.17.0.5".parse().unwrap()), db, 6379)),
        "the ipBlock allows"
    );
    assert!(
        !engine.is_allowed(&conn(Endpoint::Ip("172.17.1.5".parse().unwrap()), db, 6379)),
        "except the excepted /24"
    );
    assert!(
        !engine.is_allowed(&conn(db, pod("default", "frontend-0"), 80)),
        "db egress is only to 10.0.0.0/24:5978"
    );
    assert!(engine.is_allowed(&conn(db, Endpoint::Ip("10.0.0.9".parse().unwrap()), 5978)));
}
