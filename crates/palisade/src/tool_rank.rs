//! Tool ranking for `palisade scan --task tools`: which of the given tools best serves a
//! query, best first, every tool ranked.
//!
//! - **Semantic** (when the model cache holds all-MiniLM-L6-v2, see `cargo xtask
//!   fetch-models`): the query and each tool's text (its name with `.`, `_`, `-` and
//!   camelCase read as words, then its description) are embedded, and tools rank by
//!   cosine similarity to the query; ties fall to the lexical score, then to the order
//!   given. Tool embeddings are cached across lines, since evaluations repeat tool lists.
//! - **Lexical** (otherwise, or with `--learned off`): BM25 (k1 = 1.2, b = 0.75) over
//!   lower-case word tokens, the name counted twice, a short English stop-word list
//!   dropped, and a light suffix strip (`-ing`, `-ed`, `-es`, `-s` on words of five
//!   letters or more) so "tracking" meets "track". The IDF comes from the tools of the
//!   line itself.

use std::cell::RefCell;
use std::collections::HashMap;

use crate::local_embedder::{Activations, LocalEmbedder};

/// Tools one line may rank, at most.
pub(crate) const MAX_TOOLS: usize = 1_000;
/// Tool embeddings kept between lines, at most (the cache is cleared when full).
const CACHE_LIMIT: usize = 50_000;

const STOP_WORDS: &[&str] = &[
    "a", "an", "and", "are", "as", "at", "be", "by", "for", "from", "in", "is", "it", "my", "of", "on", "or",
    "that", "the", "this", "to", "with", "your", "me", "i", "we", "our", "can", "you", "please",
];

/// Words of `text`, lower case: split at anything not a letter or digit and at camelCase
/// humps, stop words dropped, light suffixes stripped.
fn tokens(text: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut current = String::new();
    let mut previous_lower = false;
    for ch in text.chars() {
        if ch.is_alphanumeric() {
            if ch.is_uppercase() && previous_lower && !current.is_empty() {
                words.push(std::mem::take(&mut current));
            }
            previous_lower = ch.is_lowercase() || ch.is_numeric();
            current.extend(ch.to_lowercase());
        } else {
            previous_lower = false;
            if !current.is_empty() {
                words.push(std::mem::take(&mut current));
            }
        }
    }
    if !current.is_empty() {
        words.push(current);
    }
    words.into_iter().filter(|w| !STOP_WORDS.contains(&w.as_str())).map(|w| stem(&w)).collect()
}

fn stem(word: &str) -> String {
    if word.chars().count() < 5 {
        return word.to_owned();
    }
    for suffix in ["ing", "ed", "es", "s"] {
        if let Some(stripped) = word.strip_suffix(suffix) {
            return stripped.to_owned();
        }
    }
    word.to_owned()
}

/// The name read as words (`orders.track_shipment` → `orders track shipment`).
fn readable_name(name: &str) -> String {
    tokens(name).join(" ")
}

/// BM25 scores of each tool for `query`, in the tools' order.
pub(crate) fn lexical_scores(query: &str, tools: &[(String, String)]) -> Vec<f64> {
    const K1: f64 = 1.2;
    const B: f64 = 0.75;
    let documents: Vec<Vec<String>> = tools
        .iter()
        .map(|(name, description)| {
            let mut words = tokens(name);
            words.extend(tokens(name));
            words.extend(tokens(description));
            words
        })
        .collect();
    let count = documents.len().max(1) as f64;
    let average = documents.iter().map(Vec::len).sum::<usize>() as f64 / count;
    let mut query_terms = tokens(query);
    query_terms.sort();
    query_terms.dedup();
    documents
        .iter()
        .map(|document| {
            query_terms
                .iter()
                .map(|term| {
                    let frequency = document.iter().filter(|w| *w == term).count() as f64;
                    if frequency == 0.0 {
                        return 0.0;
                    }
                    let containing = documents.iter().filter(|d| d.contains(term)).count() as f64;
                    let idf = (1.0 + (count - containing + 0.5) / (containing + 0.5)).ln();
                    let length = document.len() as f64 / average.max(1.0);
                    idf * frequency * (K1 + 1.0) / (frequency + K1 * (1.0 - B + B * length))
                })
                .sum()
        })
        .collect()
}

/// The embedder and a cache of tool embeddings.
pub(crate) struct Semantic {
    embedder: LocalEmbedder,
    cache: RefCell<HashMap<String, Vec<f32>>>,
}

impl Semantic {
    /// Loads the embedder from the model cache.
    pub(crate) fn load() -> Result<Self, String> {
        let embedder = LocalEmbedder::load(embeddings::MAX_TOKENS, Activations::Float)?;
        Ok(Self { embedder, cache: RefCell::new(HashMap::new()) })
    }

    /// Cosine similarity of each tool to `query`, in the tools' order.
    fn scores(&self, query: &str, tools: &[(String, String)]) -> Result<Vec<f64>, String> {
        let texts: Vec<String> = tools
            .iter()
            .map(|(name, description)| format!("{}: {description}", readable_name(name)))
            .collect();
        let missing: Vec<String> = {
            let cache = self.cache.borrow();
            let mut missing: Vec<String> =
                texts.iter().filter(|t| !cache.contains_key(*t)).cloned().collect();
            missing.sort();
            missing.dedup();
            missing
        };
        let mut to_embed = vec![query.to_owned()];
        to_embed.extend(missing.iter().cloned());
        let vectors = self.embedder.embed(&to_embed)?;
        let (query_vector, tool_vectors) = vectors.split_first().ok_or("the embedder returned no vector")?;
        let mut cache = self.cache.borrow_mut();
        if cache.len() + missing.len() > CACHE_LIMIT {
            cache.clear();
        }
        for (text, vector) in missing.into_iter().zip(tool_vectors.iter().cloned()) {
            cache.insert(text, vector);
        }
        texts
            .iter()
            .map(|text| {
                let vector = cache.get(text).ok_or("a tool's embedding is missing")?;
                // Both are unit length: the dot product is the cosine.
                Ok(vector.iter().zip(query_vector).map(|(a, b)| f64::from(*a) * f64::from(*b)).sum())
            })
            .collect()
    }
}

/// The tool names best first, and the method used.
pub(crate) fn rank(
    query: &str,
    tools: &[(String, String)],
    semantic: Option<&Semantic>,
) -> Result<(Vec<String>, &'static str), String> {
    let lexical = lexical_scores(query, tools);
    let (primary, method) = match semantic {
        Some(semantic) => (semantic.scores(query, tools)?, "semantic"),
        None => (lexical.clone(), "lexical"),
    };
    let mut order: Vec<usize> = (0..tools.len()).collect();
    // Stable: equal scores keep the order the tools were given in.
    order.sort_by(|&a, &b| primary[b].total_cmp(&primary[a]).then(lexical[b].total_cmp(&lexical[a])));
    Ok((order.into_iter().map(|i| tools[i].0.clone()).collect(), method))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn tools() -> Vec<(String, String)> {
        [
            ("orders.get_order", "Get an order by its id"),
            ("orders.track_shipment", "Track a shipment by its tracking number"),
            ("billing.refund_payment", "Refund a payment to the customer's card"),
            ("support.openTicket", "Open a support ticket for a problem"),
        ]
        .iter()
        .map(|(n, d)| ((*n).to_owned(), (*d).to_owned()))
        .collect()
    }

    #[test]
    fn words_split_at_separators_and_humps_with_light_stemming() {
        assert_eq!(tokens("orders.track_shipment"), ["order", "track", "shipment"]);
        assert_eq!(tokens("support.openTicket"), ["support", "open", "ticket"]);
        assert_eq!(tokens("Where is my package tracking?"), ["where", "package", "track"]);
    }

    #[test]
    fn lexical_ranking_puts_the_matching_tool_first_and_keeps_every_tool() {
        for (query, best) in [
            ("where is my parcel? tracking number 1Z999", "orders.track_shipment"),
            ("I want my money back on the card", "billing.refund_payment"),
            ("open a ticket about a broken login", "support.openTicket"),
            ("show me order 4411", "orders.get_order"),
        ] {
            let (ranked, method) = rank(query, &tools(), None).unwrap();
            assert_eq!((ranked[0].as_str(), method), (best, "lexical"), "{query}: {ranked:?}");
            let mut sorted = ranked.clone();
            sorted.sort();
            let mut given: Vec<String> = tools().into_iter().map(|(n, _)| n).collect();
            given.sort();
            assert_eq!(sorted, given, "every tool ranked exactly once");
        }
        // No overlap at all: the given order stands.
        let (ranked, _) = rank("zzz", &tools(), None).unwrap();
        assert_eq!(ranked, tools().into_iter().map(|(n, _)| n).collect::<Vec<_>>());
    }
}
