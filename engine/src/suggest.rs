//! "Did you mean" suggestions for misspelled names.

use std::collections::HashMap;

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

/// Suggestions among many names (the step ids of a large playbook), indexed once, so that
/// each of thousands of typos is not compared with every id: above [`Suggester::LINEAR`]
/// names, only the names within one deletion of the typo (one letter extra, missing, wrong,
/// or two swapped) are scored.
pub struct Suggester<'a> {
    names: Vec<&'a str>,
    /// Each name, and each name with one character deleted, to the names it comes from.
    index: Option<HashMap<String, Vec<u32>>>,
}

impl<'a> Suggester<'a> {
    /// Below this many names, every name is scored (as [`did_you_mean`] does).
    const LINEAR: usize = 256;

    pub fn new(names: impl IntoIterator<Item = &'a str>) -> Self {
        let names: Vec<&'a str> = names.into_iter().collect();
        let index = (names.len() > Self::LINEAR).then(|| {
            let mut index: HashMap<String, Vec<u32>> = HashMap::new();
            for (i, name) in names.iter().enumerate() {
                for key in deletions(name) {
                    index.entry(key).or_default().push(i as u32);
                }
            }
            index
        });
        Self { names, index }
    }

    pub fn suggest(&self, given: &str) -> Option<&'a str> {
        let Some(index) = &self.index else {
            return did_you_mean(given, self.names.iter().copied());
        };
        let mut candidates: Vec<u32> = deletions(given)
            .filter_map(|key| index.get(&key))
            .flatten()
            .copied()
            .collect();
        candidates.sort_unstable();
        candidates.dedup();
        did_you_mean(given, candidates.iter().map(|&i| self.names[i as usize]))
    }
}

/// `name` itself and `name` with each one character removed.
fn deletions(name: &str) -> impl Iterator<Item = String> + '_ {
    std::iter::once(name.to_string()).chain(
        name.char_indices()
            .map(|(i, c)| format!("{}{}", &name[..i], &name[i + c.len_utf8()..])),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_index_of_many_names_finds_the_near_ones() {
        let ids: Vec<String> = (0..1000).map(|i| format!("restart-app-{i}")).collect();
        let suggester = Suggester::new(ids.iter().map(String::as_str));
        assert_eq!(suggester.suggest("restart-app-42x"), Some("restart-app-42"));
        assert_eq!(suggester.suggest("restart-ap-42"), Some("restart-app-42"));
        assert_eq!(suggester.suggest("restrat-app-7"), Some("restart-app-7"));
        assert_eq!(suggester.suggest("backup"), None);
    }

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
