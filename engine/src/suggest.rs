//! "Did you mean" suggestions for misspelled names.

/// The closest candidate to `given`, if it is close enough to be a likely typo.
pub fn did_you_mean<'a>(
    given: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(given, c), c))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names_only() {
        assert_eq!(
            did_you_mean("neds", ["needs", "when", "name"]),
            Some("needs")
        );
        assert_eq!(
            did_you_mean("stop-ap", ["stop-apps", "restore"]),
            Some("stop-apps")
        );
        assert_eq!(did_you_mean("zzz", ["needs", "when"]), None);
    }
}
