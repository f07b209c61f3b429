//! Diagnostics: errors and warnings about a scenario, each naming file, line, column and field.

use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Error,
    Warning,
}

/// One problem, located. `field` is the path as validation names it (`vpc.subnets[1].cidr`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub field: String,
    pub message: String,
    /// What would be valid, when that can be said.
    pub valid: Option<String>,
    /// The variant whose overrides led here, if it is not the base scenario.
    pub variant: Option<String>,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let word = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        if self.line == 0 {
            write!(f, "{word}: {}: ", self.file)?;
        } else {
            write!(f, "{word}: {}:{}:{}: ", self.file, self.line, self.column)?;
        }
        if !self.field.is_empty() {
            write!(f, "{}: ", self.field)?;
        }
        f.write_str(&self.message)?;
        if let Some(variant) = &self.variant {
            write!(f, " (in variant {variant:?})")?;
        }
        if let Some(valid) = &self.valid {
            write!(f, "\n    valid: {valid}")?;
        }
        Ok(())
    }
}

/// A problem found by validation before it is located in a file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    pub severity: Severity,
    pub field: String,
    pub message: String,
    pub valid: Option<String>,
}

impl Finding {
    pub fn error(field: impl Into<String>, message: impl Into<String>) -> Finding {
        Finding {
            severity: Severity::Error,
            field: field.into(),
            message: message.into(),
            valid: None,
        }
    }

    pub fn warning(field: impl Into<String>, message: impl Into<String>) -> Finding {
        Finding {
            severity: Severity::Warning,
            field: field.into(),
            message: message.into(),
            valid: None,
        }
    }

    pub fn valid(mut self, valid: impl Into<String>) -> Finding {
        self.valid = Some(valid.into());
        self
    }
}

/// Everything wrong with an input: every error at once, and the warnings beside them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Diagnostics {
    pub errors: Vec<Diagnostic>,
    pub warnings: Vec<Diagnostic>,
}

impl Diagnostics {
    pub fn push(&mut self, d: Diagnostic) {
        match d.severity {
            Severity::Error => self.errors.push(d),
            Severity::Warning => self.warnings.push(d),
        }
    }

    pub fn has_errors(&self) -> bool {
        !self.errors.is_empty()
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for d in self.errors.iter().chain(&self.warnings) {
            writeln!(f, "{d}")?;
        }
        if !self.errors.is_empty() {
            let n = self.errors.len();
            writeln!(f, "{n} error{}", if n == 1 { "" } else { "s" })?;
        }
        Ok(())
    }
}

/// Joins names for a "valid:" line: `a, b or c`; long lists are cut with a count.
pub fn one_of<S: AsRef<str>>(names: &[S]) -> String {
    const SHOWN: usize = 12;
    let quoted: Vec<String> = names.iter().take(SHOWN).map(|n| format!("{:?}", n.as_ref())).collect();
    let mut text = match quoted.len() {
        0 => "(none declared)".to_string(),
        1 => quoted[0].clone(),
        n => format!("{} or {}", quoted[..n - 1].join(", "), quoted[n - 1]),
    };
    if names.len() > SHOWN {
        text.push_str(&format!(" (and {} more)", names.len() - SHOWN));
    }
    text
}
