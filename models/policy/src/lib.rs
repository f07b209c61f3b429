//! NetworkPolicy semantics (work in progress, issue 5).
