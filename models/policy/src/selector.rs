//! Label selector matching as apimachinery defines it, on plain string labels. The reference
//! evaluator uses this; the compiled engine has its own interned version held equal to it.

use crate::types::{LabelSelector, LabelSelectorRequirement, Labels, SelectorOperator};

/// Whether `selector` selects an object with `labels`: every matchLabels pair and every
/// expression must hold. `{}` selects everything.
pub fn matches(selector: &LabelSelector, labels: &Labels) -> bool {
    selector.match_labels.iter().all(|(k, v)| labels.get(k) == Some(v))
        && selector
            .match_expressions
            .iter()
            .all(|r| requirement_matches(r, labels))
}

/// One matchExpressions entry. NotIn and DoesNotExist hold for an object without the key.
/// The API rejects In/NotIn with no values; if one gets here anyway, In matches nothing and
/// NotIn everything, which is what the set reading of the operators gives.
pub fn requirement_matches(r: &LabelSelectorRequirement, labels: &Labels) -> bool {
    let value = labels.get(&r.key);
    match r.operator {
        SelectorOperator::In => value.is_some_and(|v| r.values.contains(v)),
        SelectorOperator::NotIn => value.is_none_or(|v| !r.values.contains(v)),
        SelectorOperator::Exists => value.is_some(),
        SelectorOperator::DoesNotExist => value.is_none(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn expr(key: &str, operator: SelectorOperator, values: &[&str]) -> LabelSelector {
        LabelSelector {
            match_labels: Labels::new(),
            match_expressions: vec![LabelSelectorRequirement {
                key: key.into(),
                operator,
                values: values.iter().map(|v| v.to_string()).collect(),
            }],
        }
    }

    #[test]
    fn empty_selector_matches_everything_including_no_labels() {
        assert!(matches(&LabelSelector::everything(), &Labels::new()));
        assert!(matches(&LabelSelector::everything(), &labels(&[("a", "1")])));
    }

    #[test]
    fn match_labels_needs_every_pair() {
        let s = LabelSelector::labels(&[("a", "1"), ("b", "2")]);
        assert!(matches(&s, &labels(&[("a", "1"), ("b", "2"), ("c", "3")])));
        assert!(!matches(&s, &labels(&[("a", "1")])));
        assert!(!matches(&s, &labels(&[("a", "1"), ("b", "3")])));
    }

    #[test]
    fn operators_on_present_and_missing_keys() {
        let with = labels(&[("tier", "web")]);
        let without = labels(&[("other", "x")]);
        let cases = [
            (SelectorOperator::In, &["web"][..], true, false),
            (SelectorOperator::In, &["db"][..], false, false),
            (SelectorOperator::NotIn, &["web"][..], false, true),
            (SelectorOperator::NotIn, &["db"][..], true, true),
            (SelectorOperator::Exists, &[][..], true, false),
            (SelectorOperator::DoesNotExist, &[][..], false, true),
        ];
        for (op, values, on_with, on_without) in cases {
            let s = expr("tier", op, values);
            assert_eq!(matches(&s, &with), on_with, "{op:?} {values:?} on a pod with the key");
            assert_eq!(
                matches(&s, &without),
                on_without,
                "{op:?} {values:?} on a pod without the key"
            );
        }
    }

    #[test]
    fn in_and_not_in_with_no_values() {
        assert!(!matches(&expr("k", SelectorOperator::In, &[]), &labels(&[("k", "v")])));
        assert!(matches(
            &expr("k", SelectorOperator::NotIn, &[]),
            &labels(&[("k", "v")])
        ));
    }
}
