use serde_json::json;

use super::*;

fn detector() -> Detector {
    Detector::new(&SensitiveDataConfig::default()).unwrap()
}

fn kinds(report: &ScanReport) -> Vec<(&str, &str)> {
    report
        .detections
        .iter()
        .map(|d| (d.kind.as_str(), d.location.as_str()))
        .collect()
}

#[test]
fn an_aws_key_and_a_card_in_a_call_are_found_where_they_are() {
    let args = json!({"message": "key AKIA2E0A8F3B244C9986 and card 4539 1488 0343 6467"});
    let response = json!({"content": [{"type": "text", "text": "Echo: key AKIA2E0A8F3B244C9986 and card 4539 1488 0343 6467"}]})
        .to_string();
    let r = detector().scan_call(Some(&args), Some(&response));
    assert!(r.detected);
    let found = kinds(&r);
    for want in [
        ("aws_access_key", "arguments.message"),
        ("aws_access_key", "response.content[0].text"),
        ("credit_card", "arguments.message"),
        ("credit_card", "response.content[0].text"),
    ] {
        assert!(found.contains(&want), "{want:?} in {found:?}");
    }
    assert_eq!(r.highest_severity, Some(Severity::Critical));
    // Never the value.
    let text = serde_json::to_string(&r).unwrap();
    assert!(
        !text.contains("AKIA2E0A") && !text.contains("4539"),
        "{text}"
    );
}

#[test]
fn cards_must_pass_luhn_and_look_like_a_network() {
    let d = detector();
    // One digit off: the Luhn check fails.
    assert!(!d.scan_text("pay with 4539 1488 0343 6468", "x").detected);
    let live = d.scan_text("card: 4539 1488 0343 6467", "x");
    assert_eq!(kinds(&live), [("credit_card", "x")]);
    assert!(!live.detections[0].is_likely_example);
    let test_card = d.scan_text("use 4242 4242 4242 4242 in tests", "x");
    assert!(test_card.detections[0].is_likely_example);
    // Luhn-valid but no network starts with 1; and phone numbers are too short.
    assert!(!d.scan_text("id 1234567812345670", "x").detected);
    assert!(!d.scan_text("call +1 415 555 0100", "x").detected);
}

#[test]
fn each_category_has_a_finding() {
    let d = detector();
    let cases = [
        (
            "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaA==",
            "private_key",
        ),
        (
            "token ghp_A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8",
            "github_token",
        ),
        (
            "xoxb-2043-1234567890-abcdefghijklmnopqrstuvwx",
            "slack_token",
        ),
        ("sk_live_4eC39HqLyjWDarjtT1zdp7dc", "stripe_key"),
        (
            "postgres://admin:hunter2@db.internal:5432/app",
            "connection_string",
        ),
        (
            "Authorization: Bearer abcdefghijklmnopqrstuvwxyz0123",
            "bearer_token",
        ),
        (
            "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
            "jwt",
        ),
        ("cat ~/.ssh/id_rsa", "sensitive_file"),
        ("AIzaSyA1234567890abcdefghijklmnopqrstuv", "gcp_api_key"),
        ("glpat-abcdefghij1234567890", "gitlab_token"),
        ("DB_PASSWORD=s3cr3tpass", "password"),
    ];
    for (text, kind) in cases {
        let r = d.scan_text(text, "t");
        assert!(
            r.detections.iter().any(|x| x.kind == kind),
            "{kind} in {text:?}: {:?}",
            kinds(&r)
        );
    }
}

#[test]
fn documented_examples_are_marked() {
    let r = detector().scan_text("AKIAIOSFODNN7EXAMPLE", "t");
    assert_eq!(r.detections[0].kind, "aws_access_key");
    assert!(r.detections[0].is_likely_example);
}

#[test]
fn ordinary_text_uuids_and_hashes_are_clean() {
    let d = detector();
    for text in [
        "The quick brown fox jumps over the lazy dog. Meeting moved to 3pm on 2024-05-17.",
        "Order #12345 shipped to 221B Baker Street, London. Call 020 7946 0958.",
        "550e8400-e29b-41d4-a716-446655440000",
        "commit 9fceb02d0ae598e95dc970b74767f19372d61af8",
        "sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "integrity sha512-Vq9nBpy1GJbHNjm2lxkzh5X5yf7zWXN0H7iDlZS1PjJ6cAOPA0dSW0n3uUmAVP2Z8bYhQz7QnCCuBQgeqK3gMw==",
        "/usr/local/lib/node_modules/@modelcontextprotocol/server-filesystem/dist/index.js",
        "https://github.com/modelcontextprotocol/servers/blob/main/src/everything/README.md",
        "getUserAccountInformationByIdentifier",
        "Base64 of hello world is aGVsbG8gd29ybGQ=",
        "ISBN 978-3-16-148410-0, invoice 2024000123456",
    ] {
        let r = d.scan_text(text, "t");
        assert!(!r.detected, "{text:?}: {:?}", kinds(&r));
    }
}

#[test]
fn the_payload_of_a_data_uri_is_content_but_the_same_string_elsewhere_is_not() {
    let d = detector();
    let payload = "Zx9QmT4vLp2RkW8sNc3HbY7fJd6GaE1u";
    let r = d.scan_text(
        &format!("<img src=\"data:image/png;base64,{payload}\">"),
        "t",
    );
    assert!(!r.detected, "{:?}", kinds(&r));
    let r = d.scan_text(&format!("base64 {payload}"), "t");
    assert_eq!(kinds(&r), [("high_entropy", "t")]);
}

#[test]
fn random_tokens_are_high_entropy_but_only_five_count() {
    let d = detector();
    let r = d.scan_text("session=Zx9QmT4vLp2RkW8sNc3HbY7fJd6GaE1u", "t");
    assert_eq!(kinds(&r), [("high_entropy", "t")]);
    let many: String = (0..10)
        .map(|i| format!("v{i}=Zx9QmT4vLp2RkW8sNc3HbY7fJd6GaE1{i}q\n"))
        .collect();
    let r = d.scan_text(&many, "t");
    assert_eq!(r.detections.len(), 1, "one per type and location");
    let spread: Vec<Value> = (0..10)
        .map(|i| json!(format!("Zx9QmT4vLp2RkW8sNc3HbY7fJd6GaE1{i}q")))
        .collect();
    let r = d.scan_call(Some(&Value::Array(spread)), None);
    assert_eq!(r.detections.len(), MAX_ENTROPY_DETECTIONS);
}

#[test]
fn categories_custom_patterns_and_keywords_follow_the_config() {
    let config: SensitiveDataConfig = serde_json::from_value(json!({
        "categories": {"cloud_credentials": false},
        "custom_patterns": [
            {"name": "acme_api_key", "regex": "ACME-[A-Z0-9]{8}", "severity": "high", "category": "api_token"},
            {"name": "project", "keywords": ["Project Falcon"], "severity": "low"}
        ],
        "sensitive_keywords": ["DO_NOT_SHARE"]
    }))
    .unwrap();
    let d = Detector::new(&config).unwrap();
    let r = d.scan_text(
        "AKIA2E0A8F3B244C9986 ACME-AB12CD34 project falcon do_not_share",
        "t",
    );
    let found: Vec<&str> = r.detections.iter().map(|x| x.kind.as_str()).collect();
    assert_eq!(found, ["acme_api_key", "project", "sensitive_keyword"]);
    assert_eq!(r.detections[0].category, Category::ApiToken);
    assert_eq!(r.detections[1].category, Category::Custom);
}

#[test]
fn the_payload_limit_is_kept_and_said() {
    let config = SensitiveDataConfig {
        max_payload_size_kb: 1,
        ..SensitiveDataConfig::default()
    };
    let d = Detector::new(&config).unwrap();
    let text = format!("{} AKIA2E0A8F3B244C9986", "a ".repeat(1000));
    let r = d.scan_text(&text, "t");
    assert!(r.truncated && !r.detected);
}

#[test]
fn requests_or_responses_can_be_left_out() {
    let config = SensitiveDataConfig {
        scan_responses: false,
        ..SensitiveDataConfig::default()
    };
    let d = Detector::new(&config).unwrap();
    let r = d.scan_call(None, Some("AKIA2E0A8F3B244C9986"));
    assert!(!r.detected);
}

#[test]
fn a_bad_custom_pattern_is_a_config_error() {
    let config: crate::Config = serde_json::from_value(json!({"sensitive_data_detection": {
        "custom_patterns": [{"name": "x", "regex": "([", "severity": "high"}],
        "categories": {"nope": true}
    }}))
    .unwrap();
    let fields: Vec<String> = config.validate().into_iter().map(|e| e.field).collect();
    assert_eq!(fields, ["sensitive_data_detection.categories.nope"]);
    let config: crate::Config = serde_json::from_value(json!({"sensitive_data_detection": {
        "custom_patterns": [{"name": "x", "regex": "([", "severity": "high"}]
    }}))
    .unwrap();
    let fields: Vec<String> = config.validate().into_iter().map(|e| e.field).collect();
    assert_eq!(
        fields,
        ["sensitive_data_detection.custom_patterns[0].regex"]
    );
}

#[derive(Debug, serde::Deserialize)]
struct Sample {
    id: String,
    split: String,
    label: String,
    kinds: Vec<String>,
    text: String,
}

/// False positives on clean text and recall on secrets, per split (`tests/data/
/// sensitive_corpus.json`, made by `make_sensitive_corpus.py` and `make_sensitive_blind.py`).
/// Every split is printed; the thresholds hold for the part the detector was written
/// against; "seen" (a former blind part whose false alarms led to a change) and "blind" are
/// reported as they come (their numbers are in BENCHMARKS.md).
#[test]
fn the_labelled_corpus_scores() {
    let samples: Vec<Sample> =
        serde_json::from_str(include_str!("../../tests/data/sensitive_corpus.json")).unwrap();
    let d = detector();
    for split in ["tune", "seen", "blind"] {
        let part: Vec<&Sample> = samples.iter().filter(|s| s.split == split).collect();
        let (mut clean, mut false_alarms, mut secrets, mut flagged, mut kind_hits) =
            (0, 0, 0, 0, 0);
        let mut off = Vec::new();
        for s in &part {
            let r = d.scan_text(&s.text, "t");
            let real: Vec<&str> = r
                .detections
                .iter()
                .filter(|x| !x.is_likely_example)
                .map(|x| x.kind.as_str())
                .collect();
            if s.label == "clean" {
                clean += 1;
                if !real.is_empty() {
                    false_alarms += 1;
                    off.push(format!("{} false alarm {real:?}", s.id));
                }
            } else {
                secrets += 1;
                if real.is_empty() {
                    off.push(format!("{} missed", s.id));
                } else {
                    flagged += 1;
                }
                if s.kinds.iter().all(|k| real.contains(&k.as_str())) {
                    kind_hits += 1;
                } else {
                    off.push(format!("{} wanted {:?}, got {real:?}", s.id, s.kinds));
                }
            }
        }
        println!(
            "sensitive corpus, {split}: false alarms {false_alarms}/{clean} clean, flagged {flagged}/{secrets} secrets ({kind_hits} with the labelled types); off: {off:?}"
        );
        if split == "tune" {
            assert_eq!(false_alarms, 0, "{off:?}");
            assert_eq!(kind_hits, secrets, "{off:?}");
        }
    }
}
