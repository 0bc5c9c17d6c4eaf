//! Proofs: known answers from the Certificate Transparency test vectors, and every
//! mutation of a valid proof refused (in the style of transparency-dev's merkle tests).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use mcp_audit::merkle::{Hash, MerkleTree, ProofError, leaf_hash, verify_consistency, verify_inclusion};
use mcp_audit::{CheckpointSigner, ConsistencyProof, InclusionProof};

/// The eight leaves of the RFC 6962 reference tests.
fn reference_leaves() -> Vec<Vec<u8>> {
    vec![
        vec![],
        vec![0x00],
        vec![0x10],
        vec![0x20, 0x21],
        vec![0x30, 0x31],
        vec![0x40, 0x41, 0x42, 0x43],
        (0x50..0x58).collect(),
        (0x60..0x70).collect(),
    ]
}

#[test]
fn roots_match_the_certificate_transparency_vectors() {
    let expected = [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ];
    let tree = MerkleTree::from_leaves(reference_leaves().iter().map(|l| leaf_hash(l)).collect());
    for (size, root) in expected.iter().enumerate() {
        assert_eq!(hex::encode(tree.root(size as u64 + 1).unwrap()), *root, "size {}", size + 1);
    }
}

/// Every way of spoiling a valid inclusion proof.
fn inclusion_mutations(index: u64, size: u64, proof: &[Hash]) -> Vec<(String, u64, u64, Vec<Hash>)> {
    let mut out = Vec::new();
    for node in 0..proof.len() {
        for bit in [0usize, 77, 255] {
            let mut p = proof.to_vec();
            p[node][bit / 8] ^= 1 << (bit % 8);
            out.push((format!("bit {bit} of node {node} flipped"), index, size, p));
        }
    }
    if !proof.is_empty() {
        out.push(("truncated".into(), index, size, proof[..proof.len() - 1].to_vec()));
    }
    let mut extra = proof.to_vec();
    extra.push([0x5a; 32]);
    out.push(("extra node".into(), index, size, extra));
    let mut prefixed = vec![[0x5a; 32]];
    prefixed.extend_from_slice(proof);
    out.push(("node prepended".into(), index, size, prefixed));
    out.push(("tree size + 1".into(), index, size + 1, proof.to_vec()));
    if size > 1 && index < size - 1 {
        out.push(("tree size - 1".into(), index, size - 1, proof.to_vec()));
    }
    out.push(("index + 1".into(), index + 1, size, proof.to_vec()));
    if index > 0 {
        out.push(("index - 1".into(), index - 1, size, proof.to_vec()));
    }
    out
}

#[test]
fn spoiled_inclusion_proofs_are_refused() {
    let tree = MerkleTree::from_leaves((0..40u64).map(|i| leaf_hash(&i.to_le_bytes())).collect());
    let mut checked = 0;
    for size in [1u64, 2, 3, 7, 8, 9, 16, 31, 37] {
        let root = tree.root(size).unwrap();
        for index in 0..size {
            let proof = tree.inclusion_proof(index, size).unwrap();
            let leaf = tree.leaf(index).unwrap();
            assert_eq!(verify_inclusion(&leaf, index, size, &proof, &root), Ok(()));
            for (what, i, s, p) in inclusion_mutations(index, size, &proof) {
                // A changed size is checked against that size's true root: the signed
                // checkpoint binds size and root together, so that is all a forger has.
                let root = tree.root(s).unwrap_or(root);
                assert!(
                    verify_inclusion(&leaf, i, s, &p, &root).is_err(),
                    "size {size} index {index}: {what} accepted"
                );
                checked += 1;
            }
            let wrong_root = tree.root(size - 1).unwrap_or([0; 32]);
            assert!(verify_inclusion(&leaf, index, size, &proof, &wrong_root).is_err(), "another root");
        }
    }
    assert!(checked > 1_000);
}

#[test]
fn spoiled_consistency_proofs_are_refused() {
    let tree = MerkleTree::from_leaves((0..40u64).map(|i| leaf_hash(&i.to_le_bytes())).collect());
    for (first, second) in
        [(1u64, 2u64), (1, 8), (3, 7), (4, 7), (6, 8), (7, 37), (8, 16), (15, 37), (36, 37)]
    {
        let (r1, r2) = (tree.root(first).unwrap(), tree.root(second).unwrap());
        let proof = tree.consistency_proof(first, second).unwrap();
        assert_eq!(verify_consistency(first, second, &r1, &r2, &proof), Ok(()), "{first}→{second}");
        for node in 0..proof.len() {
            for bit in [0usize, 128, 255] {
                let mut p = proof.clone();
                p[node][bit / 8] ^= 1 << (bit % 8);
                assert!(
                    verify_consistency(first, second, &r1, &r2, &p).is_err(),
                    "{first}→{second}: bit {bit} of {node}"
                );
            }
        }
        assert!(verify_consistency(first, second, &r1, &r2, &proof[..proof.len() - 1]).is_err(), "truncated");
        let mut extra = proof.clone();
        extra.push([1; 32]);
        assert!(verify_consistency(first, second, &r1, &r2, &extra).is_err(), "extra node");
        assert!(verify_consistency(first, second, &r2, &r1, &proof).is_err(), "swapped roots");
        // Changed sizes, each with that size's true root (as a signed checkpoint would carry).
        let root = |n: u64| tree.root(n).unwrap();
        if first < second {
            assert!(
                verify_consistency(first + 1, second, &root(first + 1), &r2, &proof).is_err(),
                "first + 1"
            );
        }
        assert!(verify_consistency(first, second + 1, &r1, &root(second + 1), &proof).is_err(), "second + 1");
        if first > 1 {
            assert!(
                verify_consistency(first - 1, second, &root(first - 1), &r2, &proof).is_err(),
                "first - 1"
            );
        }
        if second - 1 > first {
            assert!(
                verify_consistency(first, second - 1, &r1, &root(second - 1), &proof).is_err(),
                "second - 1"
            );
        }
    }
    assert!(matches!(verify_consistency(0, 3, &[0; 32], &[0; 32], &[]), Err(ProofError::BadSizes { .. })));
    assert!(matches!(verify_consistency(4, 3, &[0; 32], &[0; 32], &[]), Err(ProofError::BadSizes { .. })));
    let r = tree.root(5).unwrap();
    assert_eq!(verify_consistency(5, 5, &r, &r, &[]), Ok(()));
    assert!(verify_consistency(5, 5, &r, &r, &[r]).is_err(), "same size takes an empty proof");
}

#[tokio::test]
async fn proofs_from_a_real_log_verify_with_only_the_public_key() {
    let signer = CheckpointSigner::generate().unwrap();
    let dir = tempfile::tempdir().unwrap();
    common::write_log(dir.path(), &signer, 23, 10).await;
    let contents = mcp_audit::read_dir(dir.path()).unwrap();
    let tree = mcp_audit::proof::tree_of(&contents).unwrap();
    let newest = contents.checkpoints.iter().max_by_key(|c| c.size).unwrap().clone();
    assert_eq!(newest.size, 23);
    let public = signer.public_key();

    for seq in [0u64, 9, 10, 22] {
        let record = String::from_utf8(contents.lines[seq as usize].clone()).unwrap();
        let proof = InclusionProof::build(&tree, record, seq, newest.clone()).unwrap();
        let json = serde_json::to_string(&proof).unwrap();
        let proof: InclusionProof = serde_json::from_str(&json).unwrap();
        assert_eq!(proof.verify(&public), Ok(()));

        let mut forged = proof.clone();
        forged.record = forged.record.replace("acme", "acmf");
        assert!(forged.verify(&public).is_err(), "an edited record");
        let mut forged = proof.clone();
        forged.seq = (seq + 1) % 23;
        assert!(forged.verify(&public).is_err(), "another seq");
        let mut forged = proof.clone();
        forged.checkpoint.size -= 1;
        assert!(forged.verify(&public).is_err(), "another size");
        assert!(proof.verify(&CheckpointSigner::generate().unwrap().public_key()).is_err(), "another key");
    }

    let first = contents.checkpoints.iter().find(|c| c.size == 10).unwrap().clone();
    let proof = ConsistencyProof::build(&tree, first.clone(), newest.clone()).unwrap();
    assert_eq!(proof.verify(&public), Ok(()));
    let mut forged = proof.clone();
    forged.path.pop();
    assert!(forged.verify(&public).is_err());
    let swapped = ConsistencyProof { from: newest, to: first, ..proof };
    assert!(swapped.verify(&public).is_err());
}
