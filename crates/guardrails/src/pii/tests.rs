#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use base64::Engine as _;
use proptest::prelude::*;

use super::*;

/// Deterministic, varied base62 text (placeholders such as `aaaa…` are refused).
fn varied(len: usize, seed: u64) -> String {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            char::from(ALPHABET[(state % 62) as usize])
        })
        .collect()
}

fn jwt_token() -> String {
    let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    format!(
        "{}.{}.{}",
        engine.encode(r#"{"alg":"HS256","typ":"JWT"}"#),
        engine.encode(r#"{"sub":"alice","tenant_id":"acme"}"#),
        engine.encode(b"not-a-real-signature-0123456789")
    )
}

fn found(text: &str) -> Vec<(Entity, String)> {
    PiiScanner::new().scan(text).iter().map(|f| (f.entity, text[f.start..f.end].to_owned())).collect()
}

#[test]
fn every_built_in_pattern_compiles() {
    let scanner = PiiScanner::new();
    assert_eq!(scanner.detectors().count(), PATTERNS.len());
}

#[test]
fn positives_by_family() {
    // Checksums computed independently (Python's binascii.crc32 and a base62 encoder).
    let github = "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".to_owned();
    let fine_grained = format!("github_pat_{}_{}", varied(22, 2), varied(59, 3));
    let anthropic = format!("sk-ant-api03-{}", varied(95, 4));
    let openai_project = format!("sk-proj-{}", varied(64, 5));
    let openai_legacy = format!("sk-{}T3BlbkFJ{}", varied(20, 6), varied(20, 7));
    let google = format!("AIza{}-{}", varied(20, 8), varied(14, 9));
    let stripe = format!("sk_live_{}", varied(24, 10));
    let slack = format!("xoxb-123456789012-1234567890123-{}", varied(24, 11));
    let webhook = format!("https://hooks.slack.com/services/T0123ABCD/B0456EFGH/{}", varied(24, 12));
    let aws_secret = "Tq9v/3xL+8mZr0Wk2PbN7cYh5JdS1fGe4UaXiQo6";
    let jwt = jwt_token();
    let pem = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo\n-----END RSA PRIVATE KEY-----";
    let yaml_key = "  -----BEGIN OPENSSH PRIVATE KEY-----\n  b3BlbnNzaC1rZXktdjEAAAAABG5vbmU\n  -----END OPENSSH PRIVATE KEY-----";
    let cases: Vec<(String, Entity, String)> = vec![
        (format!("token {github} here"), Entity::GithubToken, github.clone()),
        (format!("GITHUB_TOKEN={fine_grained}"), Entity::GithubToken, fine_grained.clone()),
        (format!("key: {anthropic}"), Entity::AnthropicApiKey, anthropic.clone()),
        (format!("OPENAI_API_KEY=\"{openai_project}\""), Entity::OpenaiApiKey, openai_project.clone()),
        (format!("old {openai_legacy}."), Entity::OpenaiApiKey, openai_legacy.clone()),
        (format!("maps?key={google}&x=1"), Entity::GoogleApiKey, google.clone()),
        (format!("stripe {stripe}"), Entity::StripeKey, stripe.clone()),
        (format!("slack {slack}"), Entity::SlackToken, slack.clone()),
        (format!("post to {webhook} now"), Entity::SlackWebhookUrl, webhook.clone()),
        ("id AKIAZ7SKPC2LQFOVIWEB".into(), Entity::AwsAccessKeyId, "AKIAZ7SKPC2LQFOVIWEB".into()),
        (format!("aws_secret_access_key = \"{aws_secret}\""), Entity::AwsSecretAccessKey, aws_secret.into()),
        (format!("AWS_SECRET_ACCESS_KEY: {aws_secret}"), Entity::AwsSecretAccessKey, aws_secret.into()),
        (format!("Authorization: Bearer {jwt}"), Entity::Jwt, jwt.clone()),
        (format!("x\n{pem}\ny"), Entity::PrivateKey, pem.into()),
        (format!("deploy_key: |\n{yaml_key}\n"), Entity::PrivateKey, yaml_key.trim_start().into()),
        (
            "DATABASE_URL=postgres://app:s3cr3t-Pa55@db.internal:5432/prod ok".into(),
            Entity::DbConnectionString,
            "postgres://app:s3cr3t-Pa55@db.internal:5432/prod".into(),
        ),
        (
            "mongodb+srv://svc:Zx9%40pw@cluster0.example.net/app".into(),
            Entity::DbConnectionString,
            "mongodb+srv://svc:Zx9%40pw@cluster0.example.net/app".into(),
        ),
        (
            "mail alice.smith+tag@example.co.uk, thanks".into(),
            Entity::EmailAddress,
            "alice.smith+tag@example.co.uk".into(),
        ),
        ("card 4111 1111 1111 1111 exp".into(), Entity::CreditCard, "4111 1111 1111 1111".into()),
        ("mc 5555-5555-5555-4444".into(), Entity::CreditCard, "5555-5555-5555-4444".into()),
        ("amex:378282246310005;".into(), Entity::CreditCard, "378282246310005".into()),
        ("SSN 536-22-1412.".into(), Entity::UsSsn, "536-22-1412".into()),
        (
            "IBAN DE89 3704 0044 0532 0130 00 please".into(),
            Entity::IbanCode,
            "DE89 3704 0044 0532 0130 00".into(),
        ),
        ("from 10.0.12.7 at".into(), Entity::IpAddress, "10.0.12.7".into()),
        ("v6 2001:db8::8a2e:370:7334 seen".into(), Entity::IpAddress, "2001:db8::8a2e:370:7334".into()),
        ("link-local fe80::1 only".into(), Entity::IpAddress, "fe80::1".into()),
        ("write to bob@example.org.".into(), Entity::EmailAddress, "bob@example.org".into()),
        ("from 10.0.12.7. Then".into(), Entity::IpAddress, "10.0.12.7".into()),
        ("listen 10.0.0.1:8080 now".into(), Entity::IpAddress, "10.0.0.1".into()),
        ("client:10.1.2.3".into(), Entity::IpAddress, "10.1.2.3".into()),
        ("mapped ::ffff:192.168.1.1 here".into(), Entity::IpAddress, "::ffff:192.168.1.1".into()),
        ("cvv 4111 1111 1111 1111 123".into(), Entity::CreditCard, "4111 1111 1111 1111".into()),
        ("qty 2 4111 1111 1111 1111".into(), Entity::CreditCard, "4111 1111 1111 1111".into()),
        ("5555 5555 5555 4444 100 EUR".into(), Entity::CreditCard, "5555 5555 5555 4444".into()),
        ("exp 4111 1111 1111 1111 12/25".into(), Entity::CreditCard, "4111 1111 1111 1111".into()),
        ("to jürgen.müller@example.de!".into(), Entity::EmailAddress, "jürgen.müller@example.de".into()),
        (format!("\"SecretAccessKey\": \"{aws_secret}\""), Entity::AwsSecretAccessKey, aws_secret.into()),
        (format!("--aws-secret-access-key {aws_secret}"), Entity::AwsSecretAccessKey, aws_secret.into()),
        ("redis://:pw-123@cache:6379/0".into(), Entity::DbConnectionString, "redis://:pw-123@cache:6379/0".into()),
        (
            "postgresql+psycopg2://u:p4ss@db/x".into(),
            Entity::DbConnectionString,
            "postgresql+psycopg2://u:p4ss@db/x".into(),
        ),
        (format!("k sk_live_{}", varied(120, 30)), Entity::StripeKey, format!("sk_live_{}", varied(120, 30))),
        (format!("k sk-None-{}", varied(48, 31)), Entity::OpenaiApiKey, format!("sk-None-{}", varied(48, 31))),
        (
            format!("t xoxe.xoxp-1-{}", varied(140, 32)),
            Entity::SlackToken,
            format!("xoxe.xoxp-1-{}", varied(140, 32)),
        ),
        (
            "app xapp-1-A0123ABCD-1234567890123-0123456789abcdef0123456789abcdef".into(),
            Entity::SlackToken,
            "xapp-1-A0123ABCD-1234567890123-0123456789abcdef0123456789abcdef".into(),
        ),
        (format!("o sk-ant-oat01-{}", varied(95, 33)), Entity::AnthropicApiKey, format!("sk-ant-oat01-{}", varied(95, 33))),
        (
            "-----BEGIN PGP PRIVATE KEY BLOCK-----\nlQOYBF0\n-----END PGP PRIVATE KEY BLOCK-----".into(),
            Entity::PrivateKey,
            "-----BEGIN PGP PRIVATE KEY BLOCK-----\nlQOYBF0\n-----END PGP PRIVATE KEY BLOCK-----".into(),
        ),
        (
            "truncated:\n-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0B\nAQEFAASCBKcwggSjAgEAAoIB\n\nafter".into(),
            Entity::PrivateKey,
            "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0B\nAQEFAASCBKcwggSjAgEAAoIB".into(),
        ),
    ];
    for (text, entity, expected) in cases {
        assert_eq!(found(&text), [(entity, expected.clone())], "in {text:?}");
    }
}

#[test]
fn look_alikes_are_not_findings() {
    let negatives = [
        "request 123e4567-e89b-12d3-a456-426614174000 failed",
        "commit 3f786850e387550fdab836ed7e6dc881de23001b",
        "sha256 e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "upgrade to v1.2.3 or 10.0.19041.1",
        "OID 1.3.6.1.4.1.311.21.7",
        "at 2026-11-25 21:07:58 UTC, meeting 10:30",
        "order 1234-5678-9012-3456, tracking 1Z999AA10123456784",
        "card 4111 1111 1111 1112",
        "key AKIAIOSFODNN7EXAMPLE from the AWS docs",
        "sk_live_xxxxxxxxxxxxxxxxxxxxxxxx",
        "OPENAI_API_KEY=${{ secrets.OPENAI_KEY }}",
        "api_key: <your-api-key>",
        "postgres://user:${DB_PASSWORD}@db/app",
        "see https://example.com/path?x=1 and postgres://db.internal:5432/app",
        "publishable pk_live_51HcXw2LkdIwHu7ix0123456789",
        "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n-----END PUBLIC KEY-----",
        "MAC 00:1A:2B:3C:4D:5E on crate::de",
        "ssn 000-12-3456 and 666-12-3456",
        "GB82 WEST 1234 5698 7654 33",
        "999.1.1.1 is not an address",
        "a.b.c and eyJhbGciOi.eyJzdWIi.x",
        "fn main() {\n    ::add(1, 2);\n    dead::beef\n}",
        "version 1.0.0.0 and v10.2.3.4",
        "follow @example.com and @ docs.rs",
    ];
    for text in negatives {
        assert_eq!(found(text), [], "in {text:?}");
    }
}

#[test]
fn fragments_of_longer_tokens_are_not_findings() {
    let long = format!("ghp_{}", varied(40, 20));
    assert_eq!(found(&long), [], "40 characters after ghp_ is not a GitHub token");
    assert_eq!(found("x4111111111111111"), [(Entity::CreditCard, "4111111111111111".to_owned())]);
    assert_eq!(found("41111111111111111111111"), [], "a longer digit run is not a card");
    assert_eq!(found("total 4111111111111111.25"), [], "a decimal is not a card");
    assert_eq!(found("paid with 4111111111111111."), [(Entity::CreditCard, "4111111111111111".to_owned())]);
}

#[test]
fn back_to_back_ibans_are_both_found() {
    let text = "DE89 3704 0044 0532 0130 00 GB82 WEST 1234 5698 7654 32";
    assert_eq!(
        found(text),
        [
            (Entity::IbanCode, "DE89 3704 0044 0532 0130 00".to_owned()),
            (Entity::IbanCode, "GB82 WEST 1234 5698 7654 32".to_owned())
        ]
    );
    let text = "AB12 DE89 3704 0044 0532 0130 00";
    assert_eq!(found(text), [(Entity::IbanCode, "DE89 3704 0044 0532 0130 00".to_owned())]);
}

#[test]
fn char_offsets_stay_linear_with_many_findings() {
    let text = "ü 4111 1111 1111 1111 ".repeat(30_000);
    let scanner = PiiScanner::new();
    let findings = scanner.scan(&text);
    let offsets = char_offsets(&text, &findings);
    assert_eq!(offsets.len(), 30_000);
    assert_eq!(offsets[1], (24, 43));
}

#[test]
fn a_database_url_wins_over_the_email_inside_it() {
    let text = "url mysql://root:hunter2@db.example.com/shop";
    assert_eq!(
        found(text),
        [(Entity::DbConnectionString, "mysql://root:hunter2@db.example.com/shop".to_owned())]
    );
}

#[test]
fn offsets_on_non_ascii_text() {
    let text = "Zoë's café: 4111 1111 1111 1111 — zoë@example.com";
    let scanner = PiiScanner::new();
    let findings = scanner.scan(text);
    assert_eq!(findings.len(), 2, "{findings:?}");
    assert_eq!(&text[findings[1].start..findings[1].end], "zoë@example.com");
    let card = &findings[0];
    assert_eq!(&text[card.start..card.end], "4111 1111 1111 1111");
    assert_eq!((card.start, card.end), (14, 33));
    assert_eq!(char_offsets(text, &findings), [(12, 31), (34, 49)]);
    let text = "Müller <mueller@example.de>";
    let findings = scanner.scan(text);
    assert_eq!(char_offsets(text, &findings), [(8, 26)]);
}

#[test]
fn hostile_input_stays_linear_and_correct() {
    // Long runs of digits, repeated prefixes and separators: every pattern's worst case.
    let inputs = [
        "1".repeat(200_000),
        "4111 ".repeat(50_000),
        "AKIA".repeat(50_000),
        "eyJ".repeat(60_000) + ".",
        "@".repeat(100_000) + "a.co",
        "-----BEGIN PRIVATE KEY-----".repeat(5_000),
        ":".repeat(100_000),
        "1.".repeat(100_000),
        "postgres://a:b@".repeat(20_000),
    ];
    let scanner = PiiScanner::new();
    for input in &inputs {
        let findings = scanner.scan(input);
        for f in &findings {
            assert!(f.start < f.end && f.end <= input.len());
        }
    }
    // Many real findings in one text resolve without quadratic overlap checks.
    let many = "4111 1111 1111 1111, ".repeat(20_000);
    assert_eq!(scanner.scan(&many).len(), 20_000);
}

proptest! {
    #[test]
    fn scanning_never_panics_and_spans_are_sound(text in "\\PC{0,200}") {
        let scanner = PiiScanner::new();
        let findings = scanner.scan(&text);
        let mut last_end = 0;
        for f in &findings {
            prop_assert!(f.start >= last_end && f.start < f.end && f.end <= text.len());
            prop_assert!(text.is_char_boundary(f.start) && text.is_char_boundary(f.end));
            last_end = f.end;
        }
        let _ = char_offsets(&text, &findings);
    }
}

#[test]
fn generic_secrets_need_a_secret_name_and_a_random_looking_value() {
    let scanner = PiiScanner::new();
    let found = |text: &str| -> Vec<(Entity, String)> {
        scanner.scan(text).iter().map(|f| (f.entity, text[f.start..f.end].to_owned())).collect()
    };
    let positives = [
        ("api_key = \"q8Zr2LmX0vT7pK4wN1bY6cHs\"", "q8Zr2LmX0vT7pK4wN1bY6cHs"),
        ("\"client_secret\": \"9fK2xLq7Wm3Zp8Rt5Vb1Nc6Y\"", "9fK2xLq7Wm3Zp8Rt5Vb1Nc6Y"),
        ("export AUTH_TOKEN=Zx81kQp0Lm27Rt9vWb34Nc56", "Zx81kQp0Lm27Rt9vWb34Nc56"),
        ("password: hunter2!", "hunter2!"),
        ("DB_PASSWORD='S3cure#Pass'", "S3cure#Pass"),
        ("pwd=Tr0ub4dor&3", "Tr0ub4dor&3"),
    ];
    for (text, value) in positives {
        assert_eq!(found(text), [(Entity::GenericSecret, value.to_owned())], "{text}");
    }
    let negatives = [
        "api_key = \"<your-api-key>\"",
        "token: ${{ secrets.GITHUB_TOKEN }}",
        "secret = \"xxxxxxxxxxxxxxxxxxxxxxxx\"",
        "api_key = \"abcdefghijklmnopqrstuvwx\"", // no digit, one ascending run
        "token = 1234567890123456",               // digits only
        "password: required",
        "password = os.environ[\"DB_PASSWORD\"]",
        "password: ${DB_PASSWORD}",
        "password={password}",
        "password: see the vault",
        "the tokenizer = BertTokenizer",
        "commit 3f2a9c1be0d9a4c7e1f2b3a4c5d6e7f8a9b0c1d2 and 550e8400-e29b-41d4-a716-446655440000",
    ];
    for text in negatives {
        assert_eq!(found(text), [], "{text}");
    }
    // A vendor's format wins over the generic detector for the same span.
    let text = "api_key=AKIAZ7SKPC2LQFOVIWEB";
    assert_eq!(found(text), [(Entity::AwsAccessKeyId, "AKIAZ7SKPC2LQFOVIWEB".to_owned())]);
}

#[test]
fn phone_numbers_valid_in_their_numbering_plan() {
    let scanner = PiiScanner::new();
    let phones = |text: &str| -> Vec<String> {
        scanner
            .scan(text)
            .iter()
            .filter(|f| f.entity == Entity::PhoneNumber)
            .map(|f| text[f.start..f.end].to_owned())
            .collect()
    };
    let positives = [
        ("Call +1 650-253-0000 today", "+1 650-253-0000"),
        ("office (650) 253-0000.", "(650) 253-0000"),
        ("Berlin: +49 30 901820", "+49 30 901820"),
        ("Paris +33 1 42 68 53 00, ask for Ann", "+33 1 42 68 53 00"),
        ("London +44 20 7946 0958", "+44 20 7946 0958"),
        ("mobile +91 98765 43210", "+91 98765 43210"),
        ("Tel.: 030 901820", "030 901820"),
        ("please call me on 07700 900123", "07700 900123"),
        ("Téléphone : 01 42 68 53 00", "01 42 68 53 00"),
    ];
    for (text, number) in positives {
        assert_eq!(phones(text), [number.to_owned()], "{text}");
    }
    let negatives = [
        "Released on 2024-05-17 at 09:40:12.",
        "Order 1234-5678-9012 shipped; tracking 1Z999AA10123456784.",
        "Dial +1234567 for nothing.",
        "version 2.14.3, build 20240517",
        "from 10.0.12.7 and 192.168.1.1",
        "invoice 555-123-4567 is paid", // no area code can start with 5 and exchange 123 is invalid
        "the total was 030 901820 euros", // a national number without a telephone word
        "+1 (000) 000-0000",
    ];
    for text in negatives {
        assert_eq!(phones(text), Vec::<String>::new(), "{text}");
    }
}

#[test]
fn national_ids_in_text() {
    let scanner = PiiScanner::new();
    let found = |text: &str| -> Vec<(Entity, String)> {
        scanner.scan(text).iter().map(|f| (f.entity, text[f.start..f.end].to_owned())).collect()
    };
    let positives = [
        ("NI number AB 12 34 56 C on file", Entity::UkNino, "AB 12 34 56 C"),
        ("DNI 12345678Z, NIE pending", Entity::EsNif, "12345678Z"),
        ("codice fiscale RSSMRA85T10A562S", Entity::ItFiscalCode, "RSSMRA85T10A562S"),
        ("mijn BSN is 111222333.", Entity::NlBsn, "111222333"),
        ("Aadhaar: 2341 2341 2346", Entity::InAadhaar, "2341 2341 2346"),
        ("CPF 111.444.777-35", Entity::BrCpf, "111.444.777-35"),
        ("n° de sécu 1 85 05 78 006 084 91", Entity::FrNir, "1 85 05 78 006 084 91"),
        ("SIN: 130 456 783", Entity::CaSin, "130 456 783"),
    ];
    for (text, entity, value) in positives {
        assert_eq!(found(text), [(entity, value.to_owned())], "{text}");
    }
    let negatives = [
        "ORDER AB 12 34 56 E shipped",  // NINO suffix out of range
        "ref 12345678A",                // wrong DNI letter
        "id 111222334 in the log",      // no BSN context and fails the eleven test anyway
        "room 2341 2341 2347",          // Verhoeff fails
        "version 111.444.777-36",       // CPF check digits fail
        "since 130 456 783 days",       // "since" is not "SIN"
        "serial 1 85 05 78 006 084 92", // NIR key fails
    ];
    for text in negatives {
        assert_eq!(found(text), [], "{text}");
    }
}

#[test]
fn vendor_tokens_in_their_published_formats() {
    // Generated outside this code from each vendor's published format.
    let examples: &[(&str, &str)] = &[
        ("GITLAB_TOKEN", "glpat-PtYgjmUhBel31iEl2hpC"),
        ("GITLAB_TOKEN", "glrt-OOL8dKLzdocJ2isAjIhK"),
        ("NPM_TOKEN", "npm_tJ0RlgLKOmxgJTeKdNnFRIBXuDL7DxtpYlSX"),
        ("PYPI_TOKEN", "pypi-AgEIcHlwaS5vcmcFkM-R5Kjp1vRt_1fjORS-6ilI8ihN5KXSc7Tvo-hBKqFYY-kv5ZJr3J1TWDt"),
        ("HUGGINGFACE_TOKEN", "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"),
        ("SENDGRID_API_KEY", "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"),
        ("TWILIO_API_KEY", "SKb40928b5b7a767c76fb008f86bebb273"),
        ("MAILGUN_API_KEY", "key-7f6a6f0fb23c6f5da2cec255404e4fb4"),
        ("MAILCHIMP_API_KEY", "40034d6608697a8d41bed440e50454f3-us14"),
        ("DIGITALOCEAN_TOKEN", "dop_v1_1af3176813e02ea68ef786e4d3cea27d26934b484e73cf575dcad6ba2b0aee0c"),
        ("SHOPIFY_TOKEN", "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"),
        ("SQUARE_TOKEN", "sq0atp-q3hDavJA76rNicHTp8hkqd"),
        ("TELEGRAM_BOT_TOKEN", "123456789:AAlm7tOtHWnsCGRlrwZbqcabUGJmGEp7CgQ"),
        ("VAULT_TOKEN", "hvs.0PBQFI14zGtSnovm14TUOizw"),
        (
            "TERRAFORM_CLOUD_TOKEN",
            "d1iaeOV4qBkdfQ.atlasv1.1y3GQsMpSscDlkrCaqx9vJupc94tnwlavyfErGPmpGXafq0fjzLczbttOofL9H2WjQ5",
        ),
        ("DOPPLER_TOKEN", "dp.pt.TY4MyWuUFjsUNPjc01T5GOBUSZGi6HWGK10Zb0RLZ5T"),
        ("POSTMAN_API_KEY", "PMAK-72014b3ce107f80e222f8287-67efc2f91624a8940f1f836f99eee3692f"),
        ("LINEAR_API_KEY", "lin_api_bsDe0G9Cryn687neLfjVHq8xiM0OGr4hTxoF54Fz"),
        ("NOTION_TOKEN", "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"),
        ("DATABRICKS_TOKEN", "dapi319478da6bd0c621de49f145fda9988c"),
        (
            "ATLASSIAN_API_TOKEN",
            "ATATT3PptEJQzhkPkenG5ZFJoC6vWCBiJmpflvJfupxqZKm4bV3AyAVHnyrvWdFrK9xiRGHOY32nfr5pyzPCB9t2039bicBTW5ZE9LFaez7770H2DCpYgojjHRg80USP2W5DfJXcaYioK6cPTt9iOqHOBSWhgetH8LmyqoYMaaItDr9uP14pEHpJpb9ATPtd",
        ),
        ("HEROKU_API_KEY", "HRKU-bmF4RPAfqoQB7xoFcSvTAxRzmaZsV2GenFmtX0moDoqW4sg8NFNl5oFA6Qd8"),
        ("GRAFANA_TOKEN", "glsa_Mj7zdnbMjAdTdlzC5T4uUhf7kvmlP7HV_e19cbae5"),
        ("NEW_RELIC_KEY", "NRAK-GAFRFW0H9NYWT1FD4MX82MUX4B0"),
        (
            "SENTRY_TOKEN",
            "sntrys_pZOXzcycDeZ6dqmVe5Mvxrv99NcqVTSu7rtaUWM6ZO88eb0ogET9D9XyYq6B0Fi7FlaZ7Vt0SXjMpu3u",
        ),
        ("AGE_SECRET_KEY", "AGE-SECRET-KEY-1AH9VE206YZ752MXYS9DX6LUTWG6A08JJ33HSSVU0T00FJV5YES0WXAZXQ7"),
        ("GOOGLE_OAUTH_CLIENT_SECRET", "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"),
        ("STRIPE_WEBHOOK_SECRET", "whsec_XQ8agOMTNwncxvjcnqcMUP6n0a0uARxl"),
        (
            "CLOUDFLARE_ORIGIN_CA_KEY",
            "v1.0-9261ff2d3c425c8d99d19bdd-0b6cc60d5d32cbe54014c2b54b95523cf6941fa1c257c6f561c5cb347611a3ce9d97dcbee500fe7ee5fc324bdb2e1142a21c402364f9572b85a8e48f687ab165c58ac5831be38cb8cb",
        ),
        ("GROQ_API_KEY", "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"),
        ("PERPLEXITY_API_KEY", "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"),
        (
            "XAI_API_KEY",
            "xai-M7HUFpk5acdIbzlpkd6XgaNJQ8mjAmHMPGPPA0NlGtetOd4UYETIay2BV6DfVPClogqoPchv5V7S82qT",
        ),
        ("REPLICATE_API_TOKEN", "r8_drOJRBRY6HqsP795nf4Gakq5p1Vm8kV6um4yv"),
        ("OPENROUTER_API_KEY", "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"),
        ("LANGSMITH_API_KEY", "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"),
        ("PINECONE_API_KEY", "pcsk_ntqB5_IGky4Oo8DiIMWSWMPcwLuHj31CQJVukDCSXqLoivDP4SpGmrtWT01NjUjpUuMHwk"),
        ("SUPABASE_TOKEN", "sbp_7a683536c4499d863386ce10cd79e048c07dd775"),
        ("NETLIFY_TOKEN", "nfp_PhDBuqOSg5ApYzTTOkq2BEDbN2AHRQ73l5Pu"),
        ("FLY_IO_TOKEN", "fo1_Xay1F6gcqInkTY88mHwg2KDInTEGbOY1xHvAV8DnRlz"),
        ("PLANETSCALE_TOKEN", "pscale_tkn_GW7hUNwOdqryzdaeA6AOSRwLqgotVz89HoZ9zDnki7X"),
        ("JFROG_API_KEY", "AKCpeZZOmEPJUo09jwQO10Y0ADsWJPiX1EwY2orTyRqBRlEaZUZrwpPtuEFBNOfQ5xj7t2ydf"),
        ("DOCKER_HUB_TOKEN", "dckr_pat_0K5uY8iH1wOLaQan8ePsqMgLj2o"),
        ("BUILDKITE_TOKEN", "bkua_5eb46c5296f62e338d74ff1fe4f7f505aef9ebdd"),
        ("CIRCLECI_TOKEN", "CCIPAT_9RelOxOPbbNcRV7vZgGEFW_416d4a3baf69dad8199bfca8b6f3a6a9421cc1c9"),
    ];
    let scanner = PiiScanner::new();
    for (kind, token) in examples {
        let text = format!("config: {token} (do not share)");
        let found: Vec<(&str, &str)> =
            scanner.scan(&text).iter().map(|f| (f.entity.name(), &text[f.start..f.end])).collect();
        assert_eq!(found, [(*kind, *token)], "{text}");
        assert_eq!(Entity::from_name(kind).map(Entity::name), Some(*kind));
    }
    let key = "k7Ff2LmX0vT7pK4wN1bY6cHs9Rq3Zp8Wt5Vb1Nc6YjD2gH4sA0eU3oI9lK8mJ7nB6vC5xZ4aS3dF2gH1jK0lQ9==";
    let azure = format!(
        "DefaultEndpointsProtocol=https;AccountName=acme;AccountKey={key};EndpointSuffix=core.windows.net"
    );
    let found: Vec<(Entity, &str)> =
        scanner.scan(&azure).iter().map(|f| (f.entity, &azure[f.start..f.end])).collect();
    assert_eq!(found, [(Entity::Token("AZURE_STORAGE_KEY"), key)], "{azure}");
    // Placeholders in vendor shapes are not findings.
    for placeholder in [
        "npm_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
        "hf_XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX",
        "glpat-xxxxxxxxxxxxxxxxxxxx",
    ] {
        assert!(scanner.scan(placeholder).is_empty(), "{placeholder}");
    }
}

#[test]
fn review_regressions_ordinary_text_is_not_a_phone_password_sin_or_nino() {
    let scanner = PiiScanner::new();
    let found = |text: &str| -> Vec<(Entity, String)> {
        scanner.scan(text).iter().map(|f| (f.entity, text[f.start..f.end].to_owned())).collect()
    };
    for text in [
        "Intel Core i7-12700 with 32 GB",
        "Hotel room 4021 1234, second floor",
        "headphones SKU 40001234",
        "microphone model 2024 0517",
        "cell count 250000 per ml",
        "phone: 2024 12 31 is the deadline",
        "PWD=/home/alice/app",
        "OLDPWD=/tmp/build-42",
        "alice ALL=(ALL) NOPASSWD: /usr/bin/systemctl",
        "Password: Required",
        "Password: required.",
        "sin coste: 130 456 783 unidades",
        "part HP123456A is back in stock",
        "see 1234 5678 9012 and 2222 3333 4444",
    ] {
        assert_eq!(found(text), [], "{text}");
    }
    // The cues still work where they are words.
    assert_eq!(
        found("National Insurance number: AB 12 34 56 C"),
        [(Entity::UkNino, "AB 12 34 56 C".to_owned())]
    );
    assert_eq!(found("TELÉFONO: 030 901820"), [(Entity::PhoneNumber, "030 901820".to_owned())]);
    // A secret longer than any fixed cap is still reported whole.
    let long = varied(200, 99);
    let text = format!("client_secret={long}");
    assert_eq!(found(&text), [(Entity::GenericSecret, long)]);
}

#[test]
fn more_national_and_device_ids_in_text() {
    let scanner = PiiScanner::new();
    let found = |text: &str| -> Vec<(Entity, String)> {
        scanner.scan(text).iter().map(|f| (f.entity, text[f.start..f.end].to_owned())).collect()
    };
    // Published example numbers, checked by independent Python implementations.
    let positives = [
        ("NHS number: 943 476 5919", Entity::UkNhs, "943 476 5919"),
        ("Steuer-ID 86095742719", Entity::DeTaxId, "86095742719"),
        ("PESEL: 44051401359", Entity::PlPesel, "44051401359"),
        ("personnummer 811228-9874", Entity::SePersonnummer, "811228-9874"),
        ("身份证 11010519491231002X", Entity::CnResidentId, "11010519491231002X"),
        ("ITIN 912-70-1234 on the W-7", Entity::UsItin, "912-70-1234"),
        ("routing number 021000021", Entity::UsBankRouting, "021000021"),
        ("IMEI: 490154203237518", Entity::Imei, "490154203237518"),
    ];
    for (text, entity, value) in positives {
        assert_eq!(found(text), [(entity, value.to_owned())], "{text}");
    }
    for text in [
        "order 86095742719 shipped",     // no tax-id word
        "serial 11010519491231002Y",     // not a check character
        "batch 110105184912310021 done", // 1849 is outside the range and the check fails
        "code 912-93-1234",              // group 93 is never issued
        "routing number 021000022",      // checksum fails
        "IMEI: 490154203237519",         // Luhn fails
    ] {
        assert_eq!(found(text), [], "{text}");
    }
    // Without "NHS", the same ten digits are what they look like: a North American phone.
    assert_eq!(found("call 943 476 5919 today"), [(Entity::PhoneNumber, "943 476 5919".to_owned())]);
}
