//! Located diagnostics: every problem names the file, the line of its document, the object,
//! the field path and, for errors, what would be valid. Errors and warnings are collected,
//! never stopped at the first.

use std::fmt;

/// Where an object came from: the file, the first line of its YAML document (1-based), and its
/// index among the objects of that file (documents and `List` items, in order).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Origin {
    pub file: String,
    pub line: usize,
    pub index: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Error,
    Warning,
}

/// One problem. `Display` gives
/// `file.yaml:12: NetworkPolicy x/deny: spec.ingress[0].ports[0].endPort: 70 is below port 80 (valid: endPort >= port)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    pub file: String,
    /// 1-based; 0 when the problem is not tied to a line (a file that cannot be read).
    pub line: usize,
    /// 1-based; only for YAML syntax errors.
    pub column: Option<usize>,
    /// `Kind namespace/name` or `Kind name`, when the problem belongs to one object.
    pub object: Option<String>,
    /// The field path inside the object, as `kubectl explain` spells it.
    pub field: Option<String>,
    pub message: String,
    /// What would have been accepted.
    pub valid: Option<String>,
}

impl Diagnostic {
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if self.line > 0 {
            write!(f, ":{}", self.line)?;
            if let Some(c) = self.column {
                write!(f, ":{c}")?;
            }
        }
        f.write_str(": ")?;
        if self.severity == Severity::Warning {
            f.write_str("warning: ")?;
        }
        if let Some(o) = &self.object {
            write!(f, "{o}: ")?;
        }
        if let Some(p) = &self.field {
            write!(f, "{p}: ")?;
        }
        f.write_str(&self.message)?;
        if let Some(v) = &self.valid {
            write!(f, " (valid: {v})")?;
        }
        Ok(())
    }
}

/// Everything found while loading, errors and warnings apart.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Diagnostics {
    pub errors: Vec<Diagnostic>,
    pub warnings: Vec<Diagnostic>,
}

impl Diagnostics {
    pub fn has_errors(&self) -> bool {
        !self.errors.is_empty()
    }

    pub fn push(&mut self, d: Diagnostic) {
        match d.severity {
            Severity::Error => self.errors.push(d),
            Severity::Warning => self.warnings.push(d),
        }
    }

    /// A problem with a whole file (unreadable, not UTF-8).
    pub(crate) fn file_error(&mut self, file: &str, message: String) {
        self.push(Diagnostic {
            severity: Severity::Error,
            file: file.to_string(),
            line: 0,
            column: None,
            object: None,
            field: None,
            message,
            valid: None,
        });
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for d in self.errors.iter().chain(&self.warnings) {
            writeln!(f, "{d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}

/// A field path under construction: `spec.ingress[0].ports[1].endPort`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FieldPath(String);

impl FieldPath {
    pub fn root(name: &str) -> FieldPath {
        FieldPath(name.to_string())
    }

    pub fn child(&self, name: &str) -> FieldPath {
        if self.0.is_empty() {
            FieldPath(name.to_string())
        } else {
            FieldPath(format!("{}.{name}", self.0))
        }
    }

    pub fn index(&self, i: usize) -> FieldPath {
        FieldPath(format!("{}[{i}]", self.0))
    }

    /// A map entry, as in `metadata.labels[app]`.
    pub fn key(&self, k: &str) -> FieldPath {
        FieldPath(format!("{}[{k}]", self.0))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The object being checked: where it came from and how to name it. Collects its problems.
pub(crate) struct ObjectCtx<'a> {
    pub origin: &'a Origin,
    pub object: String,
    pub diags: &'a mut Diagnostics,
    errors_before: usize,
}

impl<'a> ObjectCtx<'a> {
    pub fn new(origin: &'a Origin, object: String, diags: &'a mut Diagnostics) -> ObjectCtx<'a> {
        let errors_before = diags.errors.len();
        ObjectCtx {
            origin,
            object,
            diags,
            errors_before,
        }
    }

    fn diag(&mut self, severity: Severity, field: &FieldPath, message: String, valid: Option<String>) {
        self.diags.push(Diagnostic {
            severity,
            file: self.origin.file.clone(),
            line: self.origin.line,
            column: None,
            object: Some(self.object.clone()),
            field: (!field.as_str().is_empty()).then(|| field.to_string()),
            message,
            valid,
        });
    }

    pub fn error(&mut self, field: &FieldPath, message: impl Into<String>, valid: impl Into<String>) {
        let valid = valid.into();
        self.diag(
            Severity::Error,
            field,
            message.into(),
            (!valid.is_empty()).then_some(valid),
        );
    }

    pub fn warn(&mut self, field: &FieldPath, message: impl Into<String>) {
        self.diag(Severity::Warning, field, message.into(), None);
    }

    /// Whether this object produced any error so far.
    pub fn failed(&self) -> bool {
        self.diags.errors.len() > self.errors_before
    }
}
