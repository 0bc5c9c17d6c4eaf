//! The Merkle tree of RFC 9162 (Certificate Transparency 2.0), §2.1.
//!
//! Leaves and interior nodes are hashed with distinct one-byte prefixes so a leaf can
//! never be passed off as a node (the second-preimage attack on naive Merkle trees):
//!
//! ```text
//! leaf hash = SHA-256(0x00 ‖ entry bytes)
//! node hash = SHA-256(0x01 ‖ left ‖ right)
//! MTH({})   = SHA-256()          the empty tree
//! ```
//!
//! A tree of `n` leaves splits at `k`, the largest power of two below `n`; the left
//! subtree is always complete, which is what lets [`CompactRange`] keep only `O(log n)`
//! hashes while appending, and what lets [`MerkleTree`] answer proofs from stored
//! complete subtrees.
//!
//! ```
//! use mcp_audit::merkle::{leaf_hash, verify_inclusion, MerkleTree};
//!
//! let mut tree = MerkleTree::new();
//! for entry in [&b"a"[..], b"b", b"c"] {
//!     tree.push(leaf_hash(entry));
//! }
//! let root = tree.root(3).unwrap();
//! let proof = tree.inclusion_proof(1, 3).unwrap();
//! assert!(verify_inclusion(&leaf_hash(b"b"), 1, 3, &proof, &root).is_ok());
//! assert!(verify_inclusion(&leaf_hash(b"x"), 1, 3, &proof, &root).is_err());
//! ```

use ring::digest::{Context, SHA256, digest};

/// A SHA-256 output.
pub type Hash = [u8; 32];

/// Why a proof did not verify, or could not be made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    /// The leaf index is not inside the tree.
    #[error("leaf index {index} is outside a tree of size {size}")]
    IndexOutOfRange {
        /// The index asked for.
        index: u64,
        /// The tree size.
        size: u64,
    },
    /// The tree sizes do not describe a tree and one of its extensions.
    #[error("sizes {first} → {second} do not describe a tree and its extension")]
    BadSizes {
        /// The older size.
        first: u64,
        /// The newer size.
        second: u64,
    },
    /// The proof has the wrong number of nodes for the sizes given.
    #[error("the proof has the wrong number of nodes")]
    WrongLength,
    /// The proof's nodes do not lead to the expected root.
    #[error("the proof does not lead to the expected root")]
    RootMismatch,
}

/// The hash of the empty tree.
#[must_use]
pub fn empty_root() -> Hash {
    to_hash(digest(&SHA256, b"").as_ref())
}

/// The leaf hash of one entry's bytes.
#[must_use]
pub fn leaf_hash(entry: &[u8]) -> Hash {
    let mut ctx = Context::new(&SHA256);
    ctx.update(&[0x00]);
    ctx.update(entry);
    to_hash(ctx.finish().as_ref())
}

/// The hash of an interior node.
#[must_use]
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut buf = [0u8; 65];
    buf[0] = 0x01;
    buf[1..33].copy_from_slice(left);
    buf[33..].copy_from_slice(right);
    to_hash(digest(&SHA256, &buf).as_ref())
}

fn to_hash(bytes: &[u8]) -> Hash {
    let mut out = [0u8; 32];
    out.copy_from_slice(bytes);
    out
}

/// The largest power of two strictly below `n` (`n >= 2`).
fn split_point(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1 << (63 - (n - 1).leading_zeros())
}

/// The right edge of a growing tree: one hash per complete subtree, `O(log n)` in all.
///
/// This is all a writer needs to append leaves and compute the root for a checkpoint.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CompactRange {
    size: u64,
    /// Roots of the complete subtrees, largest (leftmost) first.
    peaks: Vec<Hash>,
}

impl CompactRange {
    /// An empty tree.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// The number of leaves.
    #[must_use]
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Appends one leaf hash.
    pub fn push(&mut self, leaf: Hash) {
        let mut node = leaf;
        // Each trailing one bit of the old size is a complete subtree that merges with
        // the new one, exactly as a binary counter carries.
        let mut carries = self.size.trailing_ones();
        while carries > 0 {
            let Some(left) = self.peaks.pop() else { break };
            node = node_hash(&left, &node);
            carries -= 1;
        }
        self.peaks.push(node);
        self.size += 1;
    }

    /// The root hash of the tree so far.
    #[must_use]
    pub fn root(&self) -> Hash {
        let mut peaks = self.peaks.iter().rev();
        let Some(first) = peaks.next() else {
            return empty_root();
        };
        // Fold right to left: the smallest subtrees are the deepest right children.
        peaks.fold(*first, |acc, left| node_hash(left, &acc))
    }
}

/// A whole tree kept in memory, for producing proofs.
///
/// Stores every complete subtree hash (about `2n` hashes, 64 bytes per leaf), so an
/// inclusion proof costs `O(log n)` lookups plus at most `O(log n)` hashes for the
/// incomplete right edge.
#[derive(Debug, Clone, Default)]
pub struct MerkleTree {
    /// `levels[h][i]` is the root of the complete subtree over leaves
    /// `i·2^h .. (i+1)·2^h`.
    levels: Vec<Vec<Hash>>,
}

impl MerkleTree {
    /// An empty tree.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// A tree over the given leaf hashes.
    #[must_use]
    pub fn from_leaves(leaves: Vec<Hash>) -> Self {
        let mut levels = vec![leaves];
        while let Some(below) = levels.last().filter(|level| level.len() >= 2) {
            let above: Vec<Hash> = below.chunks_exact(2).map(|pair| node_hash(&pair[0], &pair[1])).collect();
            levels.push(above);
        }
        Self { levels }
    }

    /// Appends one leaf hash.
    pub fn push(&mut self, leaf: Hash) {
        if self.levels.is_empty() {
            self.levels.push(Vec::new());
        }
        self.levels[0].push(leaf);
        let mut height = 0;
        // A new complete subtree appears at each level where the count became even.
        while self.levels[height].len().is_multiple_of(2) {
            let level = &self.levels[height];
            let n = level.len();
            let parent = node_hash(&level[n - 2], &level[n - 1]);
            if self.levels.len() == height + 1 {
                self.levels.push(Vec::new());
            }
            self.levels[height + 1].push(parent);
            height += 1;
        }
    }

    /// The number of leaves.
    #[must_use]
    pub fn size(&self) -> u64 {
        self.levels.first().map_or(0, |l| l.len() as u64)
    }

    /// The leaf hash at `index`.
    #[must_use]
    pub fn leaf(&self, index: u64) -> Option<Hash> {
        self.levels.first()?.get(usize::try_from(index).ok()?).copied()
    }

    /// The root of the tree's first `size` leaves.
    ///
    /// # Errors
    /// [`ProofError::BadSizes`] when `size` exceeds the tree.
    pub fn root(&self, size: u64) -> Result<Hash, ProofError> {
        if size > self.size() {
            return Err(ProofError::BadSizes { first: size, second: self.size() });
        }
        Ok(if size == 0 { empty_root() } else { self.subtree(0, size) })
    }

    /// The audit path for leaf `index` in the tree of the first `size` leaves
    /// (RFC 9162 §2.1.3.1), nearest the leaf first.
    ///
    /// # Errors
    /// [`ProofError::IndexOutOfRange`] or [`ProofError::BadSizes`].
    pub fn inclusion_proof(&self, index: u64, size: u64) -> Result<Vec<Hash>, ProofError> {
        if size > self.size() {
            return Err(ProofError::BadSizes { first: size, second: self.size() });
        }
        if index >= size {
            return Err(ProofError::IndexOutOfRange { index, size });
        }
        let mut proof = Vec::with_capacity(64);
        self.path(index, 0, size, &mut proof);
        Ok(proof)
    }

    /// The consistency proof between the trees of the first `first` and `second`
    /// leaves (RFC 9162 §2.1.4.1).
    ///
    /// # Errors
    /// [`ProofError::BadSizes`] unless `0 < first <= second <= size`.
    pub fn consistency_proof(&self, first: u64, second: u64) -> Result<Vec<Hash>, ProofError> {
        if first == 0 || first > second || second > self.size() {
            return Err(ProofError::BadSizes { first, second });
        }
        let mut proof = Vec::with_capacity(64);
        self.subproof(first, 0, second, true, &mut proof);
        Ok(proof)
    }

    /// MTH of leaves `start .. start + n` (`n >= 1`).
    fn subtree(&self, start: u64, n: u64) -> Hash {
        if n.is_power_of_two() && start.is_multiple_of(n) {
            let height = n.trailing_zeros() as usize;
            // Stored: complete and aligned. Indices fit because the tree holds them.
            return self.levels[height][(start / n) as usize];
        }
        let k = split_point(n);
        node_hash(&self.subtree(start, k), &self.subtree(start + k, n - k))
    }

    /// PATH(m, D[start .. start + n]), appended deepest first.
    fn path(&self, m: u64, start: u64, n: u64, out: &mut Vec<Hash>) {
        if n <= 1 {
            return;
        }
        let k = split_point(n);
        if m < k {
            self.path(m, start, k, out);
            out.push(self.subtree(start + k, n - k));
        } else {
            self.path(m - k, start + k, n - k, out);
            out.push(self.subtree(start, k));
        }
    }

    /// SUBPROOF(m, D[start .. start + n], b).
    fn subproof(&self, m: u64, start: u64, n: u64, complete: bool, out: &mut Vec<Hash>) {
        if m == n {
            if !complete {
                out.push(self.subtree(start, n));
            }
            return;
        }
        let k = split_point(n);
        if m <= k {
            self.subproof(m, start, k, complete, out);
            out.push(self.subtree(start + k, n - k));
        } else {
            self.subproof(m - k, start + k, n - k, false, out);
            out.push(self.subtree(start, k));
        }
    }
}

/// Checks an inclusion proof (RFC 9162 §2.1.3.2).
///
/// # Errors
/// Why the proof does not show `leaf` at `index` in the tree of `size` leaves with
/// root `root`.
pub fn verify_inclusion(
    leaf: &Hash,
    index: u64,
    size: u64,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), ProofError> {
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    let (mut fnode, mut snode) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if snode == 0 {
            return Err(ProofError::WrongLength);
        }
        if fnode & 1 == 1 || fnode == snode {
            r = node_hash(p, &r);
            if fnode & 1 == 0 {
                while fnode & 1 == 0 && fnode != 0 {
                    fnode >>= 1;
                    snode >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    if snode != 0 {
        return Err(ProofError::WrongLength);
    }
    if &r != root {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

/// Checks a consistency proof (RFC 9162 §2.1.4.2): the tree of `second` leaves with
/// root `second_root` extends the tree of `first` leaves with root `first_root`.
///
/// # Errors
/// Why the proof does not show that.
pub fn verify_consistency(
    first: u64,
    second: u64,
    first_root: &Hash,
    second_root: &Hash,
    proof: &[Hash],
) -> Result<(), ProofError> {
    if first == 0 || first > second {
        return Err(ProofError::BadSizes { first, second });
    }
    if first == second {
        if !proof.is_empty() {
            return Err(ProofError::WrongLength);
        }
        return if first_root == second_root { Ok(()) } else { Err(ProofError::RootMismatch) };
    }
    let mut path: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
    if first.is_power_of_two() {
        path.push(*first_root);
    }
    path.extend_from_slice(proof);
    let Some((seed, rest)) = path.split_first() else {
        return Err(ProofError::WrongLength);
    };
    let (mut fnode, mut snode) = (first - 1, second - 1);
    while fnode & 1 == 1 {
        fnode >>= 1;
        snode >>= 1;
    }
    let (mut fr, mut sr) = (*seed, *seed);
    for c in rest {
        if snode == 0 {
            return Err(ProofError::WrongLength);
        }
        if fnode & 1 == 1 || fnode == snode {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            if fnode & 1 == 0 {
                while fnode & 1 == 0 && fnode != 0 {
                    fnode >>= 1;
                    snode >>= 1;
                }
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    if snode != 0 {
        return Err(ProofError::WrongLength);
    }
    if &fr != first_root || &sr != second_root {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// MTH by the RFC's recursive definition, as an independent reference.
    fn reference_root(leaves: &[Hash]) -> Hash {
        match leaves.len() {
            0 => empty_root(),
            1 => leaves[0],
            n => {
                let k = split_point(n as u64) as usize;
                node_hash(&reference_root(&leaves[..k]), &reference_root(&leaves[k..]))
            }
        }
    }

    fn leaves(n: u64) -> Vec<Hash> {
        (0..n).map(|i| leaf_hash(&i.to_be_bytes())).collect()
    }

    #[test]
    fn empty_tree_root_is_the_hash_of_nothing() {
        // RFC 9162: MTH({}) = SHA-256().
        assert_eq!(
            hex::encode(empty_root()),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(CompactRange::new().root(), empty_root());
    }

    #[test]
    fn roots_agree_with_the_recursive_definition() {
        let all = leaves(70);
        let mut compact = CompactRange::new();
        let mut tree = MerkleTree::new();
        for (i, leaf) in all.iter().enumerate() {
            compact.push(*leaf);
            tree.push(*leaf);
            let expected = reference_root(&all[..=i]);
            assert_eq!(compact.root(), expected, "compact range at size {}", i + 1);
            assert_eq!(tree.root(i as u64 + 1).unwrap(), expected, "tree at size {}", i + 1);
        }
        let built = MerkleTree::from_leaves(all.clone());
        for n in 0..=70u64 {
            assert_eq!(built.root(n).unwrap(), reference_root(&all[..n as usize]));
        }
    }

    #[test]
    fn every_inclusion_proof_verifies_and_no_other_leaf_does() {
        let tree = MerkleTree::from_leaves(leaves(33));
        for size in 1..=33u64 {
            let root = tree.root(size).unwrap();
            for index in 0..size {
                let proof = tree.inclusion_proof(index, size).unwrap();
                let leaf = tree.leaf(index).unwrap();
                assert_eq!(verify_inclusion(&leaf, index, size, &proof, &root), Ok(()));
                let other = tree.leaf((index + 1) % 33).unwrap();
                if other != leaf {
                    assert!(verify_inclusion(&other, index, size, &proof, &root).is_err());
                }
            }
        }
    }

    #[test]
    fn every_consistency_proof_verifies() {
        let tree = MerkleTree::from_leaves(leaves(33));
        for second in 1..=33u64 {
            for first in 1..=second {
                let proof = tree.consistency_proof(first, second).unwrap();
                let (r1, r2) = (tree.root(first).unwrap(), tree.root(second).unwrap());
                assert_eq!(verify_consistency(first, second, &r1, &r2, &proof), Ok(()), "{first}→{second}");
                if first < second {
                    assert!(verify_consistency(first, second, &r2, &r1, &proof).is_err(), "swapped roots");
                }
            }
        }
    }

    #[test]
    fn rfc_example_proof_shapes() {
        // RFC 9162 §2.1.5: a tree of seven leaves a..g.
        let tree = MerkleTree::from_leaves(leaves(7));
        let l = |i: u64| tree.leaf(i).unwrap();
        // The audit path for d (index 3) is [c, g(a,b), h(e,f,g)].
        let proof = tree.inclusion_proof(3, 7).unwrap();
        assert_eq!(proof, vec![l(2), node_hash(&l(0), &l(1)), tree.subtree(4, 3)]);
        // Consistency between size 3 and 7: [c, d, g(a,b), h(e,f,g)] (k in the RFC's figure).
        let proof = tree.consistency_proof(3, 7).unwrap();
        assert_eq!(proof, vec![l(2), l(3), node_hash(&l(0), &l(1)), tree.subtree(4, 3)]);
        // Consistency between 4 and 7: [l(e,f,g)] with the old root implied.
        assert_eq!(tree.consistency_proof(4, 7).unwrap(), vec![tree.subtree(4, 3)]);
    }

    #[test]
    fn bad_sizes_are_refused() {
        let tree = MerkleTree::from_leaves(leaves(4));
        assert_eq!(tree.inclusion_proof(4, 4), Err(ProofError::IndexOutOfRange { index: 4, size: 4 }));
        assert!(tree.inclusion_proof(0, 5).is_err());
        assert!(tree.consistency_proof(0, 4).is_err());
        assert!(tree.consistency_proof(3, 2).is_err());
        assert!(tree.consistency_proof(1, 5).is_err());
        assert!(tree.root(5).is_err());
    }
}
