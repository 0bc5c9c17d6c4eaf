//! [`VectorIndex`]: exact nearest-neighbour search, partitioned by principal.
//!
//! Each [`IsolationKey`] has its own partition; a search names the caller's key and can
//! only ever score that partition's vectors, so one principal's memories or cached answers
//! are never candidates for another's query. Vectors are stored normalised, row after row
//! in one `Vec<f32>`, and a search is a straight scan of dot products (cosine similarity
//! of unit vectors) with a top-k heap: exact, and with no index to build or tune. The
//! inner loop works on eight lanes at a time so the compiler vectorises it.
//!
//! ```
//! use embeddings::VectorIndex;
//! use identity_types::{ClientId, IsolationKey};
//!
//! let index = VectorIndex::new(3, 1_000);
//! let alice = IsolationKey::for_principal(None, &ClientId::new("alice")?);
//! let bob = IsolationKey::for_principal(None, &ClientId::new("bob")?);
//! index.upsert(&alice, "greeting", &[1.0, 0.0, 0.0])?;
//! index.upsert(&alice, "farewell", &[0.0, 1.0, 0.0])?;
//! let hits = index.search(&alice, &[0.9, 0.1, 0.0], 1, 0.5)?;
//! assert_eq!(hits[0].id, "greeting");
//! assert!(index.search(&bob, &[0.9, 0.1, 0.0], 1, 0.5)?.is_empty());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap};
use std::sync::{PoisonError, RwLock};

use identity_types::IsolationKey;

/// What the index refuses.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum IndexError {
    /// A vector of the wrong length.
    #[error("a vector of {got} entries, the index holds {expected}")]
    DimensionMismatch {
        /// The index's dimension.
        expected: usize,
        /// What was given.
        got: usize,
    },
    /// A vector with a NaN or infinite entry, or of length zero.
    #[error("a vector must be finite and non-zero")]
    BadVector,
    /// The partition holds its maximum number of vectors.
    #[error("the partition holds its maximum of {max} vectors")]
    PartitionFull {
        /// The limit.
        max: usize,
    },
}

/// One search result.
#[derive(Debug, Clone, PartialEq)]
pub struct Match {
    /// The id given at [`VectorIndex::upsert`].
    pub id: String,
    /// Cosine similarity to the query, in `[-1, 1]`.
    pub score: f32,
}

#[derive(Debug, Default)]
struct Partition {
    ids: Vec<String>,
    rows: HashMap<String, usize>,
    data: Vec<f32>,
}

/// Exact top-k search per principal. See the module docs.
#[derive(Debug)]
pub struct VectorIndex {
    dimension: usize,
    max_per_partition: usize,
    partitions: RwLock<HashMap<IsolationKey, Partition>>,
}

/// A candidate in the top-k heap, ordered so the heap's top is the worst kept.
struct Candidate<'a> {
    score: f32,
    id: &'a str,
}

impl PartialEq for Candidate<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Candidate<'_> {}
impl PartialOrd for Candidate<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Candidate<'_> {
    fn cmp(&self, other: &Self) -> Ordering {
        // Reversed: a lower score (then a greater id) is "greater", so it sits on top and
        // is the first to go. Ties are broken by id, so results do not depend on the
        // order of insertions and removals.
        other.score.total_cmp(&self.score).then_with(|| self.id.cmp(other.id))
    }
}

/// Dot product over eight independent lanes (vectorises; also keeps rounding stable).
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [0f32; 8];
    let (chunks_a, chunks_b) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = chunks_a.remainder().iter().zip(chunks_b.remainder()).map(|(x, y)| x * y).sum();
    for (x, y) in chunks_a.zip(chunks_b) {
        for lane in 0..8 {
            lanes[lane] += x[lane] * y[lane];
        }
    }
    lanes.iter().sum::<f32>() + tail
}

/// Partitions with at least this many rows are scanned on several threads.
const PARALLEL_ROWS: usize = 32_768;
/// At most this many scan threads per search.
const MAX_THREADS: usize = 4;

/// The best `k` of `rows` scoring at least `threshold` against `query`, as a heap whose
/// top is the worst kept.
fn top_k<'a>(
    query: &[f32],
    rows: impl Iterator<Item = (&'a [f32], &'a String)>,
    k: usize,
    threshold: f32,
) -> BinaryHeap<Candidate<'a>> {
    let mut heap = BinaryHeap::with_capacity(k + 1);
    for (vector, id) in rows {
        let score = dot(query, vector);
        if score < threshold {
            continue;
        }
        let candidate = Candidate { score, id: id.as_str() };
        if heap.len() < k {
            heap.push(candidate);
        } else if heap.peek().is_some_and(|worst| candidate < *worst) {
            heap.pop();
            heap.push(candidate);
        }
    }
    heap
}

fn unit(vector: &[f32], dimension: usize) -> Result<Vec<f32>, IndexError> {
    if vector.len() != dimension {
        return Err(IndexError::DimensionMismatch { expected: dimension, got: vector.len() });
    }
    if vector.iter().any(|x| !x.is_finite()) || vector.iter().all(|&x| x == 0.0) {
        return Err(IndexError::BadVector);
    }
    let mut copy = vector.to_vec();
    crate::normalise(&mut copy);
    Ok(copy)
}

impl VectorIndex {
    /// An empty index of `dimension`-long vectors, at most `max_per_partition` per
    /// principal.
    #[must_use]
    pub fn new(dimension: usize, max_per_partition: usize) -> Self {
        Self { dimension, max_per_partition, partitions: RwLock::new(HashMap::new()) }
    }

    /// Adds or replaces the vector `id` in `owner`'s partition (stored normalised).
    ///
    /// # Errors
    /// [`IndexError::DimensionMismatch`], [`IndexError::BadVector`],
    /// [`IndexError::PartitionFull`].
    pub fn upsert(
        &self,
        owner: &IsolationKey,
        id: impl Into<String>,
        vector: &[f32],
    ) -> Result<(), IndexError> {
        let vector = unit(vector, self.dimension)?;
        let id = id.into();
        let mut partitions = self.partitions.write().unwrap_or_else(PoisonError::into_inner);
        let partition = partitions.entry(owner.clone()).or_default();
        if let Some(&row) = partition.rows.get(&id) {
            partition.data[row * self.dimension..(row + 1) * self.dimension].copy_from_slice(&vector);
            return Ok(());
        }
        if partition.ids.len() >= self.max_per_partition {
            return Err(IndexError::PartitionFull { max: self.max_per_partition });
        }
        partition.rows.insert(id.clone(), partition.ids.len());
        partition.ids.push(id);
        partition.data.extend_from_slice(&vector);
        Ok(())
    }

    /// Removes `id` from `owner`'s partition; false if it was not there.
    pub fn remove(&self, owner: &IsolationKey, id: &str) -> bool {
        let mut partitions = self.partitions.write().unwrap_or_else(PoisonError::into_inner);
        let Some(partition) = partitions.get_mut(owner) else { return false };
        let Some(row) = partition.rows.remove(id) else { return false };
        // Move the last row into the hole.
        let last = partition.ids.len() - 1;
        if row != last {
            let (head, tail) = partition.data.split_at_mut(last * self.dimension);
            head[row * self.dimension..(row + 1) * self.dimension].copy_from_slice(&tail[..self.dimension]);
            let moved = partition.ids[last].clone();
            partition.rows.insert(moved.clone(), row);
            partition.ids[row] = moved;
        }
        partition.ids.pop();
        partition.data.truncate(last * self.dimension);
        if partition.ids.is_empty() {
            partitions.remove(owner);
        }
        true
    }

    /// Drops `owner`'s whole partition (e.g. for an erasure request); returns how many
    /// vectors went.
    pub fn clear(&self, owner: &IsolationKey) -> usize {
        self.partitions
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(owner)
            .map_or(0, |p| p.ids.len())
    }

    /// Vectors in `owner`'s partition.
    #[must_use]
    pub fn len(&self, owner: &IsolationKey) -> usize {
        self.partitions.read().unwrap_or_else(PoisonError::into_inner).get(owner).map_or(0, |p| p.ids.len())
    }

    /// The `k` vectors of `owner`'s partition most similar to `query` with a score of at
    /// least `threshold`, best first (ties: by id).
    ///
    /// # Errors
    /// [`IndexError::DimensionMismatch`], [`IndexError::BadVector`] for the query.
    pub fn search(
        &self,
        owner: &IsolationKey,
        query: &[f32],
        k: usize,
        threshold: f32,
    ) -> Result<Vec<Match>, IndexError> {
        let query = unit(query, self.dimension)?;
        let partitions = self.partitions.read().unwrap_or_else(PoisonError::into_inner);
        let Some(partition) = partitions.get(owner) else { return Ok(Vec::new()) };
        if k == 0 {
            return Ok(Vec::new());
        }
        let rows = partition.ids.len();
        let threads = if rows >= PARALLEL_ROWS {
            std::thread::available_parallelism().map_or(1, usize::from).clamp(1, MAX_THREADS)
        } else {
            1
        };
        // Large partitions are scanned in slices on scoped threads: the scan is bound by
        // memory bandwidth, which one core does not saturate. Each slice keeps its own
        // top-k; the union's top-k is the answer.
        let slice_rows = rows.div_ceil(threads);
        let scan = |first: usize| {
            let last = (first + slice_rows).min(rows);
            let vectors = &partition.data[first * self.dimension..last * self.dimension];
            top_k(&query, vectors.chunks_exact(self.dimension).zip(&partition.ids[first..last]), k, threshold)
        };
        let mut heap = if threads == 1 {
            scan(0)
        } else {
            std::thread::scope(|scope| {
                let handles: Vec<_> =
                    (1..threads).map(|t| scope.spawn(move || scan(t * slice_rows))).collect();
                let mut heap = scan(0);
                for handle in handles {
                    // A scan cannot panic (its slices are in bounds by construction); if
                    // one did, propagate it rather than answer with part of the partition.
                    match handle.join() {
                        Ok(part) => heap.extend(part),
                        Err(panic) => std::panic::resume_unwind(panic),
                    }
                }
                heap
            })
        };
        while heap.len() > k {
            heap.pop();
        }
        Ok(heap
            .into_sorted_vec()
            .into_iter()
            .map(|c| Match { id: c.id.to_owned(), score: c.score })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use identity_types::ClientId;

    fn key(user: &str) -> IsolationKey {
        IsolationKey::for_principal(None, &ClientId::new(user).unwrap())
    }

    /// A deterministic pseudo-random unit vector.
    fn vector(seed: u64, dimension: usize) -> Vec<f32> {
        let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        let mut v: Vec<f32> = (0..dimension)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                (state % 2_000) as f32 / 1_000.0 - 1.0
            })
            .collect();
        crate::normalise(&mut v);
        v
    }

    #[test]
    fn search_agrees_with_a_full_sort() {
        let index = VectorIndex::new(384, 10_000);
        let alice = key("alice");
        for i in 0..2_000 {
            index.upsert(&alice, format!("v{i}"), &vector(i, 384)).unwrap();
        }
        for q in 0..20 {
            let query = vector(10_000 + q, 384);
            let mut all: Vec<(f32, String)> =
                (0..2_000u64).map(|i| (dot(&query, &vector(i, 384)), format!("v{i}"))).collect();
            all.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
            let got = index.search(&alice, &query, 10, -1.0).unwrap();
            let expected: Vec<String> = all[..10].iter().map(|(_, id)| id.clone()).collect();
            assert_eq!(got.iter().map(|m| m.id.clone()).collect::<Vec<_>>(), expected);
            assert!(got.windows(2).all(|w| w[0].score >= w[1].score));
            // The threshold keeps exactly those at or above it.
            let threshold = got[5].score;
            let above = index.search(&alice, &query, 10, threshold).unwrap();
            assert_eq!(above, got.iter().filter(|m| m.score >= threshold).cloned().collect::<Vec<_>>());
        }
    }

    #[test]
    fn the_parallel_scan_of_a_large_partition_agrees_with_a_full_sort() {
        let rows = PARALLEL_ROWS as u64 + 7_001;
        let index = VectorIndex::new(16, usize::MAX);
        let alice = key("alice");
        for i in 0..rows {
            index.upsert(&alice, format!("v{i}"), &vector(i, 16)).unwrap();
        }
        let query = vector(u64::MAX / 3, 16);
        let mut all: Vec<(f32, String)> =
            (0..rows).map(|i| (dot(&query, &vector(i, 16)), format!("v{i}"))).collect();
        all.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
        let got = index.search(&alice, &query, 25, -1.0).unwrap();
        let ids: Vec<&str> = got.iter().map(|m| m.id.as_str()).collect();
        let expected: Vec<&str> = all[..25].iter().map(|(_, id)| id.as_str()).collect();
        assert_eq!(ids, expected);
    }

    #[test]
    fn partitions_never_leak_and_removal_keeps_the_rest() {
        let index = VectorIndex::new(4, 3);
        let (alice, bob) = (key("alice"), key("bob"));
        index.upsert(&alice, "a", &[1.0, 0.0, 0.0, 0.0]).unwrap();
        index.upsert(&alice, "b", &[0.0, 1.0, 0.0, 0.0]).unwrap();
        index.upsert(&alice, "c", &[0.0, 0.0, 1.0, 0.0]).unwrap();
        assert_eq!(
            index.upsert(&alice, "d", &[1.0, 1.0, 0.0, 0.0]),
            Err(IndexError::PartitionFull { max: 3 })
        );
        index.upsert(&alice, "a", &[0.0, 0.0, 0.0, 2.0]).unwrap();
        assert!(index.search(&bob, &[0.0, 0.0, 0.0, 1.0], 5, -1.0).unwrap().is_empty());
        let hit = &index.search(&alice, &[0.0, 0.0, 0.0, 1.0], 1, 0.0).unwrap()[0];
        assert_eq!((hit.id.as_str(), hit.score), ("a", 1.0), "replaced and stored normalised");
        assert!(index.remove(&alice, "a"));
        assert!(!index.remove(&alice, "a"));
        assert!(!index.remove(&bob, "b"), "Bob cannot remove Alice's vectors");
        let ids: Vec<String> =
            index.search(&alice, &[0.0, 1.0, 1.0, 0.0], 5, -1.0).unwrap().into_iter().map(|m| m.id).collect();
        assert_eq!(ids, ["b", "c"]);
        assert_eq!(index.clear(&alice), 2);
        assert_eq!(index.len(&alice), 0);
    }

    #[test]
    fn hostile_vectors_are_refused() {
        let index = VectorIndex::new(3, 10);
        let alice = key("alice");
        let cases: [(&[f32], IndexError); 4] = [
            (&[1.0, 0.0], IndexError::DimensionMismatch { expected: 3, got: 2 }),
            (&[f32::NAN, 0.0, 0.0], IndexError::BadVector),
            (&[f32::INFINITY, 0.0, 0.0], IndexError::BadVector),
            (&[0.0, 0.0, 0.0], IndexError::BadVector),
        ];
        for (vector, expected) in cases {
            assert_eq!(index.upsert(&alice, "x", vector), Err(expected.clone()));
            assert_eq!(index.search(&alice, vector, 1, 0.0), Err(expected));
        }
        assert_eq!(index.len(&alice), 0);
    }
}
