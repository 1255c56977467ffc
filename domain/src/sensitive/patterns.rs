//! The built-in detection patterns: what a leaked credential, key, card number or sensitive
//! path looks like. Names, categories and severities are the Go MCPProxy's, so filters and
//! dashboards written for it keep working.

use super::{Category, Severity};

/// A check beyond the pattern itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Check {
    None,
    /// The digits pass the Luhn check and start like a card network's numbers.
    Card,
}

#[derive(Debug, Clone, Copy)]
pub(super) struct Builtin {
    pub name: &'static str,
    pub category: Category,
    pub severity: Severity,
    /// `\b` is made an ASCII word boundary when compiled (fast, and what tokens need).
    pub regex: &'static str,
    pub check: Check,
}

const fn rule(
    name: &'static str,
    category: Category,
    severity: Severity,
    regex: &'static str,
) -> Builtin {
    Builtin {
        name,
        category,
        severity,
        regex,
        check: Check::None,
    }
}

use Category::*;
use Severity::*;

pub(super) const BUILTIN: &[Builtin] = &[
    // Cloud credentials.
    rule(
        "aws_access_key",
        CloudCredentials,
        Critical,
        r"\b(?:AKIA|ASIA|ABIA|ACCA)[0-9A-Z]{16}\b",
    ),
    rule(
        "aws_secret_key",
        CloudCredentials,
        Critical,
        r#"(?i)aws.{0,24}?(?:secret|private).{0,24}?["'\s:=]+[A-Za-z0-9/+]{40}\b"#,
    ),
    rule(
        "gcp_api_key",
        CloudCredentials,
        High,
        r"\bAIza[0-9A-Za-z_\-]{35}",
    ),
    rule(
        "gcp_service_account",
        CloudCredentials,
        Critical,
        r#""type"\s*:\s*"service_account""#,
    ),
    rule(
        "azure_storage_key",
        CloudCredentials,
        Critical,
        r"(?i)AccountKey=[A-Za-z0-9+/=]{40,}",
    ),
    // Private keys.
    rule(
        "private_key",
        PrivateKey,
        Critical,
        r"-----BEGIN (?:RSA |EC |DSA |OPENSSH |PGP |ENCRYPTED )?PRIVATE KEY(?: BLOCK)?-----",
    ),
    // API tokens of the common providers.
    rule(
        "github_token",
        ApiToken,
        High,
        r"\bgh[pousr]_[A-Za-z0-9]{36,255}\b",
    ),
    rule(
        "github_token",
        ApiToken,
        High,
        r"\bgithub_pat_[A-Za-z0-9_]{22,255}\b",
    ),
    rule(
        "gitlab_token",
        ApiToken,
        High,
        r"\bglpat-[A-Za-z0-9_\-]{20,}",
    ),
    rule(
        "stripe_key",
        ApiToken,
        High,
        r"\b[sr]k_(?:live|test)_[A-Za-z0-9]{16,}\b",
    ),
    rule(
        "slack_token",
        ApiToken,
        High,
        r"\bxox[abposr]-[A-Za-z0-9\-]{10,}",
    ),
    rule(
        "slack_token",
        ApiToken,
        High,
        r"\bxapp-\d-[A-Za-z0-9\-]{10,}",
    ),
    rule(
        "sendgrid_key",
        ApiToken,
        High,
        r"\bSG\.[A-Za-z0-9_\-]{22}\.[A-Za-z0-9_\-]{43}\b",
    ),
    rule(
        "anthropic_key",
        ApiToken,
        Critical,
        r"\bsk-ant-[a-z]+\d*-[A-Za-z0-9_\-]{20,}",
    ),
    rule(
        "openai_key",
        ApiToken,
        Critical,
        r"\bsk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_\-]{20,}T3BlbkFJ[A-Za-z0-9_\-]{20,}",
    ),
    rule(
        "openai_key",
        ApiToken,
        High,
        r"\bsk-proj-[A-Za-z0-9_\-]{40,}",
    ),
    rule("npm_token", ApiToken, High, r"\bnpm_[A-Za-z0-9]{36}\b"),
    rule(
        "pypi_token",
        ApiToken,
        High,
        r"\bpypi-AgEIcHlwaS5vcmc[A-Za-z0-9_\-]{50,}",
    ),
    rule(
        "api_key",
        ApiToken,
        High,
        r#"(?i)\b(?:api[_\-]?key|apikey|x-api-key|access[_\-]?token|auth[_\-]?token|client[_\-]?secret)["']?\s*[:=]\s*["']?[A-Za-z0-9_\-\.]{20,}"#,
    ),
    // Authentication tokens.
    rule(
        "jwt",
        AuthToken,
        High,
        r"\beyJ[A-Za-z0-9_\-]{10,}\.eyJ[A-Za-z0-9_\-]{10,}\.[A-Za-z0-9_\-]{10,}",
    ),
    rule(
        "bearer_token",
        AuthToken,
        High,
        r"(?i)\bbearer\s+[A-Za-z0-9\-\._~\+/]{20,}=*",
    ),
    rule(
        "basic_auth",
        AuthToken,
        Medium,
        r"(?i)\bbasic\s+[A-Za-z0-9\+/]{16,}={0,2}",
    ),
    // Database credentials.
    rule(
        "connection_string",
        DatabaseCredential,
        Critical,
        r"(?i)\b(?:postgres(?:ql)?|mysql|mariadb|mongodb(?:\+srv)?|rediss?|amqps?|mssql|sqlserver|clickhouse)://[^\s:/@]*:[^\s@/]+@[^\s/]+",
    ),
    rule(
        "password",
        DatabaseCredential,
        High,
        r#"(?i)\b(?:DB|DATABASE|MYSQL|POSTGRES|PG|MONGO|REDIS)_?PASS(?:WORD)?["']?\s*[=:]\s*["']?[^\s"']{4,}"#,
    ),
    // Sensitive files.
    rule(
        "sensitive_file",
        SensitiveFile,
        High,
        r"/\.ssh/(?:id_[a-z0-9]+|authorized_keys|known_hosts|config)\b|\.aws/credentials\b|\.kube/config\b|\.docker/config\.json|\.netrc\b|\.pgpass\b|\.npmrc\b|\.pypirc\b|/etc/shadow\b|/etc/sudoers\b|\.gnupg/|\bid_(?:rsa|dsa|ecdsa|ed25519)(?:\.pem)?\b",
    ),
    // Payment cards, checked with Luhn (found by `card_numbers`: a regex over digits is
    // slow, since every digit could start one).
    Builtin {
        name: "credit_card",
        category: CreditCard,
        severity: Critical,
        regex: "",
        check: Check::Card,
    },
];

/// The runs of 13–19 digits in `text`, single spaces or hyphens allowed between them, that
/// stand alone (no letter or digit right before or after): candidate card numbers, as the
/// byte range and the digits.
pub(super) fn card_numbers(text: &str) -> Vec<(std::ops::Range<usize>, Vec<u8>)> {
    let bytes = text.as_bytes();
    let mut found = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if !bytes[i].is_ascii_digit() || (i > 0 && bytes[i - 1].is_ascii_alphanumeric()) {
            i += 1;
            continue;
        }
        let start = i;
        let mut digits = Vec::with_capacity(19);
        let mut end = i;
        let mut j = i;
        while j < bytes.len() {
            let b = bytes[j];
            if b.is_ascii_digit() {
                digits.push(b - b'0');
                j += 1;
                end = j;
            } else if (b == b' ' || b == b'-')
                && j + 1 < bytes.len()
                && bytes[j + 1].is_ascii_digit()
                && j > start
                && bytes[j - 1].is_ascii_digit()
            {
                j += 1;
            } else {
                break;
            }
            if digits.len() > 19 {
                break;
            }
        }
        let alone = end >= bytes.len() || !bytes[end].is_ascii_alphanumeric();
        if alone && (13..=19).contains(&digits.len()) {
            found.push((start..end, digits));
        }
        i = end.max(i + 1);
    }
    found
}

/// The runs of 20–256 characters of the base64 and token alphabets: candidates for the
/// high-entropy check.
pub(super) fn token_runs(text: &str) -> impl Iterator<Item = std::ops::Range<usize>> + '_ {
    let bytes = text.as_bytes();
    let token = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=' | b'_' | b'-');
    let mut i = 0;
    std::iter::from_fn(move || {
        while i < bytes.len() {
            while i < bytes.len() && !token(bytes[i]) {
                i += 1;
            }
            let start = i;
            while i < bytes.len() && token(bytes[i]) {
                i += 1;
            }
            let len = i - start;
            if (20..=256).contains(&len) {
                return Some(start..i);
            }
        }
        None
    })
}

/// Known test numbers of the card networks: flagged, but as examples.
pub(super) const TEST_CARDS: &[&str] = &[
    "4111111111111111",
    "4242424242424242",
    "4012888888881881",
    "4000056655665556",
    "5555555555554444",
    "5105105105105100",
    "5200828282828210",
    "378282246310005",
    "371449635398431",
    "6011111111111117",
    "6011000990139424",
    "3530111333300000",
    "3566002020360505",
    "30569309025904",
    "38520000023237",
];

/// Whether `digits` (13–19 digits) pass the Luhn check.
pub(super) fn luhn(digits: &[u8]) -> bool {
    let mut sum = 0u32;
    for (i, d) in digits.iter().rev().enumerate() {
        let mut v = u32::from(*d);
        if i % 2 == 1 {
            v *= 2;
            if v > 9 {
                v -= 9;
            }
        }
        sum += v;
    }
    sum.is_multiple_of(10)
}

/// Whether a number of this length starts like one of a card network's (Visa, Mastercard,
/// American Express, Discover, JCB, Diners Club, UnionPay).
pub(super) fn card_network(digits: &[u8]) -> bool {
    let n = digits.len();
    let prefix = |k: usize| -> u32 {
        digits
            .iter()
            .take(k)
            .fold(0, |acc, d| acc * 10 + u32::from(*d))
    };
    match digits.first() {
        Some(4) => matches!(n, 13 | 16 | 19),
        Some(5) => n == 16 && (51..=55).contains(&prefix(2)),
        Some(2) => n == 16 && (2221..=2720).contains(&prefix(4)),
        Some(3) => {
            (n == 15 && matches!(prefix(2), 34 | 37))
                || (n == 14 && (matches!(prefix(2), 36 | 38) || (300..=305).contains(&prefix(3))))
                || ((16..=19).contains(&n) && (3528..=3589).contains(&prefix(4)))
        }
        Some(6) => {
            (16..=19).contains(&n)
                && (prefix(4) == 6011
                    || prefix(2) == 65
                    || (644..=649).contains(&prefix(3))
                    || prefix(2) == 62)
        }
        _ => false,
    }
}
