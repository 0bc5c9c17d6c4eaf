//! Every row of the JWT attack table is refused with its own typed error.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use std::time::Duration;

use common::*;
use jsonwebtoken::{EncodingKey, Header};
use mcp_auth::{Algorithm, AsymmetricJwtAuth, AuthError, ConfigError, JwtAuth, JwtOptions};
use serde_json::{Value, json};

fn hs_provider() -> JwtAuth {
    JwtAuth::new(SECRET, Algorithm::HS256, JwtOptions::for_audience(AUDIENCE).issuer("https://idp.test"))
        .expect("provider")
}

fn with(mut claims: Value, key: &str, value: Value) -> Value {
    claims[key] = value;
    claims
}

fn without(mut claims: Value, key: &str) -> Value {
    claims.as_object_mut().unwrap().remove(key);
    claims
}

fn hdr() -> Value {
    json!({"alg": "HS256", "typ": "JWT"})
}

fn good() -> Value {
    with(good_claims(), "iss", json!("https://idp.test"))
}

/// Replaces the last character of the signature with the next symbol of the alphabet:
/// the decoded bytes stay the same, only the unused trailing bits change.
fn non_canonical(token: &str) -> String {
    const ALPHABET: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let last = token.chars().last().unwrap();
    let next = ALPHABET.chars().nth(ALPHABET.find(last).unwrap() + 1).unwrap();
    format!("{}{next}", &token[..token.len() - 1])
}

fn flip_char(s: &str, index: usize) -> String {
    let mut bytes = s.as_bytes().to_vec();
    bytes[index] = if bytes[index] == b'A' { b'B' } else { b'A' };
    String::from_utf8(bytes).unwrap()
}

#[tokio::test]
async fn hmac_attack_table() {
    let provider = hs_provider();
    let valid = hs256(SECRET, &hdr(), &good());
    let (signing_input, signature) = valid.rsplit_once('.').unwrap();
    let (header_part, _) = signing_input.split_once('.').unwrap();
    let other_payload = b64(with(good(), "sub", json!("mallory")).to_string().as_bytes());

    let cases: Vec<(&str, String, AuthError)> = vec![
        (
            "alg none",
            format!("{}.{}.", b64(br#"{"alg":"none","typ":"JWT"}"#), b64(good().to_string().as_bytes())),
            AuthError::UnsupportedAlgorithm { found: "none".into() },
        ),
        (
            "alg None spelled oddly",
            hs256(SECRET, &json!({"alg": "nOnE"}), &good()),
            AuthError::UnsupportedAlgorithm { found: "nOnE".into() },
        ),
        (
            "HS384 to an HS256 server",
            hs256(SECRET, &json!({"alg": "HS384"}), &good()),
            AuthError::UnsupportedAlgorithm { found: "HS384".into() },
        ),
        ("expired", hs256(SECRET, &hdr(), &with(good(), "exp", json!(now() - 3600))), AuthError::Expired),
        (
            "nbf in the future",
            hs256(SECRET, &hdr(), &with(good(), "nbf", json!(now() + 3600))),
            AuthError::NotYetValid,
        ),
        (
            "iat in the future",
            hs256(SECRET, &hdr(), &with(good(), "iat", json!(now() + 3600))),
            AuthError::IssuedInFuture,
        ),
        (
            "wrong iss",
            hs256(SECRET, &hdr(), &with(good(), "iss", json!("https://evil.test"))),
            AuthError::InvalidIssuer,
        ),
        (
            "wrong aud",
            hs256(SECRET, &hdr(), &with(good(), "aud", json!("https://other.test/mcp"))),
            AuthError::InvalidAudience,
        ),
        ("missing aud", hs256(SECRET, &hdr(), &without(good(), "aud")), AuthError::MissingClaim("aud")),
        ("missing exp", hs256(SECRET, &hdr(), &without(good(), "exp")), AuthError::MissingClaim("exp")),
        ("missing sub", hs256(SECRET, &hdr(), &without(good(), "sub")), AuthError::MissingClaim("sub")),
        (
            "tampered payload",
            format!("{header_part}.{other_payload}.{signature}"),
            AuthError::InvalidSignature,
        ),
        (
            "tampered signature",
            format!("{signing_input}.{}", flip_char(signature, 5)),
            AuthError::InvalidSignature,
        ),
        (
            "signature with padding",
            format!("{valid}="),
            AuthError::MalformedToken("a segment is not canonical unpadded base64url"),
        ),
        (
            "signature re-encoded with trailing bits",
            non_canonical(&valid),
            AuthError::MalformedToken("a segment is not canonical unpadded base64url"),
        ),
        (
            "trailing characters",
            format!("{valid}AA"),
            AuthError::MalformedToken("a segment is not canonical unpadded base64url"),
        ),
        (
            "extra segment",
            format!("{valid}.AAAA"),
            AuthError::MalformedToken("a JWT has exactly three segments"),
        ),
        (
            "oversized",
            hs256(SECRET, &hdr(), &with(good(), "pad", json!("x".repeat(9000)))),
            AuthError::TokenTooLarge {
                max: 8192,
                actual: 0, // checked below by variant only
            },
        ),
        (
            "roles as a string",
            hs256(SECRET, &hdr(), &with(good(), "roles", json!("admin"))),
            AuthError::InvalidClaim { claim: "roles".into(), reason: "must be an array of strings" },
        ),
        (
            "crit header",
            hs256(SECRET, &json!({"alg": "HS256", "crit": ["exp"]}), &good()),
            AuthError::UnsupportedCriticalHeader,
        ),
        (
            "wrong secret",
            hs256(b"another-secret-another-secret-another!", &hdr(), &good()),
            AuthError::InvalidSignature,
        ),
        // jsonwebtoken counts a non-numeric `exp` as absent: refused as missing.
        (
            "exp as a string",
            hs256(SECRET, &hdr(), &with(good(), "exp", json!("soon"))),
            AuthError::MissingClaim("exp"),
        ),
    ];

    assert!(check(&provider, &valid).await.is_ok(), "the unmodified token must pass");
    for (name, token, expected) in cases {
        let got = check(&provider, &token).await.expect_err(name);
        match (&got, &expected) {
            (AuthError::TokenTooLarge { max, .. }, AuthError::TokenTooLarge { max: want, .. }) => {
                assert_eq!(max, want, "{name}")
            }
            _ => assert_eq!(got, expected, "{name}"),
        }
    }
}

#[test]
fn short_secret_is_refused_at_construction() {
    let err = JwtAuth::new(&[1u8; 31], Algorithm::HS256, JwtOptions::for_audience(AUDIENCE)).unwrap_err();
    assert_eq!(err, ConfigError::WeakSecret { min: 32, actual: 31 });
}

#[test]
fn audience_is_required_unless_disabled_by_name() {
    let no_audience = JwtOptions::for_audience(AUDIENCE);
    assert!(JwtAuth::new(SECRET, Algorithm::HS256, no_audience).is_ok());
    assert!(JwtAuth::new(SECRET, Algorithm::RS256, JwtOptions::allow_any_audience()).is_err());
}

#[tokio::test]
async fn opting_out_of_the_audience_check_accepts_any_audience() {
    let provider = JwtAuth::new(SECRET, Algorithm::HS256, JwtOptions::allow_any_audience()).unwrap();
    let token = hs256(SECRET, &hdr(), &with(good(), "aud", json!("https://anything.test")));
    assert!(check(&provider, &token).await.is_ok());
}

fn rsa_signed(kid: &str, alg: Algorithm, claims: &Value) -> String {
    let mut header = Header::new(alg);
    header.kid = Some(kid.into());
    let key = EncodingKey::from_rsa_pem(&fixture("rsa1.key.pem")).unwrap();
    jsonwebtoken::encode(&header, claims, &key).unwrap()
}

async fn rsa_provider() -> AsymmetricJwtAuth {
    AsymmetricJwtAuth::builder(JwtOptions::for_audience(AUDIENCE))
        .pem_key(Some("test-rsa1"), Algorithm::RS256, fixture("rsa1.pub.pem"))
        .build()
        .await
        .unwrap()
}

#[tokio::test]
async fn asymmetric_attack_table() {
    let provider = rsa_provider().await;
    let claims = good_claims();
    // Algorithm confusion: HS256 "signed" with the server's RSA public key as the secret.
    let public_pem = fixture("rsa1.pub.pem");
    let confused = hs256(&public_pem, &json!({"alg": "HS256", "kid": "test-rsa1"}), &claims);
    let cases: Vec<(&str, String, AuthError)> = vec![
        (
            "HS256 signed with the RSA public key",
            confused,
            AuthError::UnsupportedAlgorithm { found: "HS256".into() },
        ),
        ("unknown kid", rsa_signed("nope", Algorithm::RS256, &claims), AuthError::UnknownKeyId),
        (
            "RS384 with an RS256-only key",
            rsa_signed("test-rsa1", Algorithm::RS384, &claims),
            AuthError::UnknownKeyId,
        ),
        (
            "expired",
            rsa_signed("test-rsa1", Algorithm::RS256, &with(claims.clone(), "exp", json!(now() - 3600))),
            AuthError::Expired,
        ),
        (
            "no exp",
            rsa_signed("test-rsa1", Algorithm::RS256, &without(claims.clone(), "exp")),
            AuthError::MissingClaim("exp"),
        ),
    ];
    assert!(check(&provider, &rsa_signed("test-rsa1", Algorithm::RS256, &claims)).await.is_ok());
    for (name, token, expected) in cases {
        assert_eq!(check(&provider, &token).await.expect_err(name), expected, "{name}");
    }
}

#[tokio::test]
async fn every_asymmetric_family_verifies_and_keys_stay_in_their_family() {
    let families = [
        ("rsa1", Algorithm::RS256),
        ("rsa1", Algorithm::PS256),
        ("ec256", Algorithm::ES256),
        ("ec384", Algorithm::ES384),
        ("ed25519", Algorithm::EdDSA),
    ];
    for (name, alg) in families {
        let provider = AsymmetricJwtAuth::builder(JwtOptions::for_audience(AUDIENCE))
            .pem_key(Some("k"), alg, fixture(&format!("{name}.pub.pem")))
            .build()
            .await
            .unwrap();
        let private = fixture(&format!("{name}.key.pem"));
        let key = match alg {
            Algorithm::ES256 | Algorithm::ES384 => EncodingKey::from_ec_pem(&private),
            Algorithm::EdDSA => EncodingKey::from_ed_pem(&private),
            _ => EncodingKey::from_rsa_pem(&private),
        }
        .unwrap();
        let mut header = Header::new(alg);
        header.kid = Some("k".into());
        let token = jsonwebtoken::encode(&header, &good_claims(), &key).unwrap();
        let ctx = check(&provider, &token).await.unwrap_or_else(|e| panic!("{alg:?}: {e}"));
        assert_eq!(ctx.client_id().as_str(), "alice");
        // The same key, presented under a header claiming HS256, is refused outright.
        let forged =
            hs256(&fixture(&format!("{name}.pub.pem")), &json!({"alg": "HS256", "kid": "k"}), &good_claims());
        assert!(
            matches!(check(&provider, &forged).await, Err(AuthError::UnsupportedAlgorithm { .. })),
            "{alg:?}"
        );
    }
}

#[tokio::test]
async fn hmac_algorithms_are_refused_for_asymmetric_providers() {
    let err = AsymmetricJwtAuth::builder(JwtOptions::for_audience(AUDIENCE))
        .algorithms([Algorithm::RS256, Algorithm::HS256])
        .pem_key(None, Algorithm::RS256, fixture("rsa1.pub.pem"))
        .build()
        .await
        .unwrap_err();
    assert!(matches!(err, ConfigError::UnsupportedAlgorithm(_)));
    let err = AsymmetricJwtAuth::builder(JwtOptions::for_audience(AUDIENCE))
        .pem_key(None, Algorithm::ES256, fixture("rsa1.pub.pem"))
        .build()
        .await
        .unwrap_err();
    assert!(matches!(err, ConfigError::InvalidKey(_)), "an RSA key is not an ES256 key: {err:?}");
}

#[tokio::test]
async fn leeway_is_honoured_and_configurable() {
    let strict =
        JwtAuth::new(SECRET, Algorithm::HS256, JwtOptions::for_audience(AUDIENCE).leeway(Duration::ZERO))
            .unwrap();
    let lenient = JwtAuth::new(SECRET, Algorithm::HS256, JwtOptions::for_audience(AUDIENCE)).unwrap();
    let token = hs256(SECRET, &hdr(), &with(good_claims(), "exp", json!(now() - 30)));
    assert_eq!(check(&strict, &token).await.unwrap_err(), AuthError::Expired);
    assert!(check(&lenient, &token).await.is_ok(), "30 s past exp is inside the default 60 s leeway");
}
