//! Sensitive-data detection: finds cloud credentials, private keys, API tokens, database URLs
//! with passwords, Luhn-valid card numbers, sensitive file paths, high-entropy strings and the
//! user's own patterns in tool arguments and responses.
//!
//! A detection says what was found (type, category, severity) and where (a JSON path such as
//! `arguments.value` or `response.content[0].text`), never the value itself. The detector is
//! compiled once per config change. Every pattern starts with a literal (a prefix such as
//! `AKIA` or `-----BEGIN`), which the regex engine looks for first, so ordinary text costs a
//! few fast passes; card numbers and random tokens are found by hand-written scanners over
//! the bytes, since a regex for "any run of digits" tries every digit.

mod patterns;

use std::ops::Range;

use regex::{Regex, RegexSet};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::config::{SensitiveDataConfig, ValidationError};
use crate::entropy::shannon;
use patterns::{BUILTIN, Check, TEST_CARDS, card_network, card_numbers, luhn, token_runs};

/// How bad a leak would be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub const ALL: [Severity; 4] = [Self::Low, Self::Medium, Self::High, Self::Critical];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Low => "low",
            Self::Medium => "medium",
            Self::High => "high",
            Self::Critical => "critical",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|s| s.as_str().eq_ignore_ascii_case(raw))
    }
}

/// What kind of data was found; each can be turned off in `categories`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Category {
    CloudCredentials,
    PrivateKey,
    ApiToken,
    AuthToken,
    SensitiveFile,
    DatabaseCredential,
    HighEntropy,
    CreditCard,
    Custom,
}

impl Category {
    pub const ALL: [Category; 9] = [
        Self::CloudCredentials,
        Self::PrivateKey,
        Self::ApiToken,
        Self::AuthToken,
        Self::SensitiveFile,
        Self::DatabaseCredential,
        Self::HighEntropy,
        Self::CreditCard,
        Self::Custom,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::CloudCredentials => "cloud_credentials",
            Self::PrivateKey => "private_key",
            Self::ApiToken => "api_token",
            Self::AuthToken => "auth_token",
            Self::SensitiveFile => "sensitive_file",
            Self::DatabaseCredential => "database_credential",
            Self::HighEntropy => "high_entropy",
            Self::CreditCard => "credit_card",
            Self::Custom => "custom",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == raw)
    }
}

/// One finding: what and where, never the value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Detection {
    /// The pattern that matched (`aws_access_key`, `credit_card`, a custom pattern's name).
    #[serde(rename = "type")]
    pub kind: String,
    pub category: Category,
    pub severity: Severity,
    /// A JSON path: `arguments.card`, `response.content[0].text`.
    pub location: String,
    /// A documented example or a network's test card rather than a live value.
    pub is_likely_example: bool,
}

/// What a scan found.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ScanReport {
    pub detected: bool,
    pub detection_count: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub highest_severity: Option<Severity>,
    pub detections: Vec<Detection>,
    /// The payload was larger than `max_payload_size_kb`; the rest was not scanned.
    pub truncated: bool,
}

impl ScanReport {
    /// The distinct types found, in order of first finding.
    pub fn types(&self) -> Vec<&str> {
        let mut types: Vec<&str> = Vec::new();
        for d in &self.detections {
            if !types.contains(&d.kind.as_str()) {
                types.push(&d.kind);
            }
        }
        types
    }
}

/// At most this many detections per scan.
pub const MAX_DETECTIONS: usize = 50;
/// At most this many high-entropy detections per scan: they are the noisiest.
pub const MAX_ENTROPY_DETECTIONS: usize = 5;

/// One compiled pattern; card numbers have their own scanner instead of a regex.
#[derive(Debug)]
struct Rule {
    name: String,
    category: Category,
    severity: Severity,
    regex: Option<Regex>,
    check: Check,
}

/// A detector compiled from the `sensitive_data_detection` config.
#[derive(Debug)]
pub struct Detector {
    rules: Vec<Rule>,
    /// All the regexes at once: most strings match none, and one pass says so (asking each
    /// rule would cost a search setup per rule and string).
    any: RegexSet,
    /// The entropy threshold, when the high-entropy category is on.
    entropy: Option<f64>,
    max_bytes: usize,
    pub scan_requests: bool,
    pub scan_responses: bool,
}

/// `\b` as an ASCII word boundary: tokens are ASCII, and Unicode boundaries would keep the
/// regex engine off its fast path.
fn ascii_boundaries(pattern: &str) -> String {
    pattern.replace(r"\b", r"(?-u:\b)")
}

/// Whether a matched value is a documented example or placeholder.
fn likely_example(value: &str) -> bool {
    let lower = value.to_ascii_lowercase();
    [
        "example",
        "sample",
        "dummy",
        "placeholder",
        "xxxxxx",
        "your_",
        "your-",
        "redacted",
    ]
    .iter()
    .any(|w| lower.contains(w))
}

/// Hashes and ids are random-looking but not secrets: hex strings (digests, commit ids)
/// and UUIDs, base64 digests written with their algorithm, and data-URI payloads.
fn harmless_random(candidate: &str, before: &str) -> bool {
    let hex = candidate
        .bytes()
        .all(|b| b.is_ascii_hexdigit() || b == b'-');
    let digest_prefix = [
        "sha1-", "sha256-", "sha384-", "sha512-", "sha256:", "sha512:",
    ]
    .iter()
    .any(|p| before.ends_with(p) || candidate.starts_with(p));
    // The payload of a `data:…;base64,` URI is inline content (an icon, a thumbnail), which
    // tools return all the time; a secret is not written that way.
    let inline_content = before.ends_with(";base64,");
    hex || digest_prefix || inline_content
}

/// Letters, digits, and both cases: what generated secrets look like (words and paths
/// rarely have all three).
fn mixed_classes(s: &str) -> bool {
    let b = s.as_bytes();
    b.iter().any(u8::is_ascii_digit)
        && b.iter().any(u8::is_ascii_uppercase)
        && b.iter().any(u8::is_ascii_lowercase)
}

/// Scan state across the strings of one payload.
struct Scan {
    report: ScanReport,
    budget: usize,
    entropy_found: usize,
}

impl Scan {
    fn full(&self) -> bool {
        self.report.detections.len() >= MAX_DETECTIONS
    }

    fn push(&mut self, d: Detection) {
        if self.full()
            || self
                .report
                .detections
                .iter()
                .any(|x| x.kind == d.kind && x.location == d.location)
        {
            return;
        }
        self.report.detections.push(d);
    }
}

impl Detector {
    /// Compiles the detector; a custom pattern that does not compile is named.
    pub fn new(config: &SensitiveDataConfig) -> Result<Self, Vec<ValidationError>> {
        let mut rules = Vec::new();
        let mut errors = Vec::new();
        for b in BUILTIN {
            if !config.category_enabled(b.category) {
                continue;
            }
            let regex = match b.check {
                Check::Card => None,
                Check::None => match Regex::new(&ascii_boundaries(b.regex)) {
                    Ok(regex) => Some(regex),
                    Err(e) => {
                        errors.push(ValidationError::new(b.name, e.to_string()));
                        continue;
                    }
                },
            };
            rules.push(Rule {
                name: b.name.to_owned(),
                category: b.category,
                severity: b.severity,
                regex,
                check: b.check,
            });
        }
        for (i, p) in config.custom_patterns.iter().enumerate() {
            let field = format!("sensitive_data_detection.custom_patterns[{i}]");
            let severity = Severity::parse(&p.severity).unwrap_or(Severity::Medium);
            let category = p
                .category
                .as_deref()
                .and_then(Category::parse)
                .unwrap_or(Category::Custom);
            let source = match (&p.regex, p.keywords.is_empty()) {
                (Some(r), _) => r.clone(),
                (None, false) => format!(
                    "(?i){}",
                    p.keywords
                        .iter()
                        .map(|k| regex::escape(k))
                        .collect::<Vec<_>>()
                        .join("|")
                ),
                (None, true) => continue,
            };
            match Regex::new(&source) {
                Ok(regex) => rules.push(Rule {
                    name: p.name.clone(),
                    category,
                    severity,
                    regex: Some(regex),
                    check: Check::None,
                }),
                Err(e) => errors.push(ValidationError::new(
                    format!("{field}.regex"),
                    format!("does not compile: {e}"),
                )),
            }
        }
        let keywords: Vec<String> = config
            .sensitive_keywords
            .iter()
            .filter(|k| !k.is_empty())
            .map(|k| regex::escape(k))
            .collect();
        if !keywords.is_empty() {
            let regex = Regex::new(&format!("(?i){}", keywords.join("|")))
                .map_err(|e| vec![ValidationError::new("sensitive_keywords", e.to_string())])?;
            rules.push(Rule {
                name: "sensitive_keyword".to_owned(),
                category: Category::Custom,
                severity: Severity::Low,
                regex: Some(regex),
                check: Check::None,
            });
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let entropy = config
            .category_enabled(Category::HighEntropy)
            .then_some(config.entropy_threshold);
        let any = RegexSet::new(
            rules
                .iter()
                .filter_map(|r| r.regex.as_ref().map(Regex::as_str)),
        )
        .map_err(|e| {
            vec![ValidationError::new(
                "sensitive_data_detection",
                e.to_string(),
            )]
        })?;
        Ok(Self {
            rules,
            any,
            entropy,
            max_bytes: usize::try_from(config.max_payload_size_kb.max(1))
                .unwrap_or(usize::MAX)
                .saturating_mul(1024),
            scan_requests: config.scan_requests,
            scan_responses: config.scan_responses,
        })
    }

    /// Scans one text; `location` names where it came from.
    pub fn scan_text(&self, text: &str, location: &str) -> ScanReport {
        let mut scan = self.start();
        self.scan_str(text, location, &mut scan);
        finish(scan)
    }

    /// Scans a call: its arguments (a JSON object) and its response (the text the upstream
    /// answered, JSON when it is a tool result), as the config asks.
    pub fn scan_call(&self, arguments: Option<&Value>, response: Option<&str>) -> ScanReport {
        let mut scan = self.start();
        if self.scan_requests
            && let Some(args) = arguments
        {
            self.walk(args, &mut "arguments".to_owned(), &mut scan, 0);
        }
        if self.scan_responses
            && let Some(text) = response
        {
            match serde_json::from_str::<Value>(text) {
                Ok(v) => self.walk(&v, &mut "response".to_owned(), &mut scan, 0),
                Err(_) => self.scan_str(text, "response", &mut scan),
            }
        }
        finish(scan)
    }

    fn start(&self) -> Scan {
        Scan {
            report: ScanReport::default(),
            budget: self.max_bytes,
            entropy_found: 0,
        }
    }

    fn walk(&self, value: &Value, path: &mut String, scan: &mut Scan, depth: usize) {
        if scan.full() || scan.budget == 0 || depth > 32 {
            return;
        }
        let len = path.len();
        match value {
            Value::String(s) => {
                // Tools often answer with JSON inside a text block: its strings are read
                // unescaped (an escaped `\n` would hide a key's start), instead of the text.
                let t = s.trim_start();
                if (t.starts_with('{') || t.starts_with('['))
                    && s.len() <= 1024 * 1024
                    && let Ok(inner) = serde_json::from_str::<Value>(s)
                {
                    self.walk(&inner, path, scan, depth + 1);
                } else {
                    self.scan_str(s, path, scan);
                }
            }
            Value::Number(n) => {
                let digits = n.to_string();
                if digits.len() >= 13 {
                    self.scan_str(&digits, path, scan);
                }
            }
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    path.push_str(&format!("[{i}]"));
                    self.walk(item, path, scan, depth + 1);
                    path.truncate(len);
                }
            }
            Value::Object(map) => {
                for (k, item) in map {
                    path.push('.');
                    path.push_str(k);
                    self.walk(item, path, scan, depth + 1);
                    path.truncate(len);
                }
            }
            Value::Null | Value::Bool(_) => {}
        }
    }

    fn scan_str(&self, text: &str, location: &str, scan: &mut Scan) {
        if scan.full() || scan.budget == 0 || text.is_empty() {
            return;
        }
        let text = if text.len() > scan.budget {
            scan.report.truncated = true;
            let mut end = scan.budget;
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            &text[..end]
        } else {
            text
        };
        scan.budget -= text.len();
        let mut spans: Vec<Range<usize>> = Vec::new();
        let any_regex = self.any.is_match(text);
        for rule in &self.rules {
            if rule.regex.is_some() && !any_regex {
                continue;
            }
            // The first live match; an example only when every match is one.
            let mut found: Option<bool> = None;
            match (&rule.regex, rule.check) {
                (Some(regex), _) => {
                    for m in regex.find_iter(text) {
                        spans.push(m.range());
                        let example = likely_example(m.as_str());
                        found = Some(found.unwrap_or(true) && example);
                        if !example {
                            break;
                        }
                    }
                }
                (None, Check::Card) => {
                    for (range, digits) in card_numbers(text) {
                        if !luhn(&digits) || !card_network(&digits) {
                            continue;
                        }
                        spans.push(range);
                        let plain: String = digits.iter().map(|d| char::from(b'0' + d)).collect();
                        let example = TEST_CARDS.contains(&plain.as_str());
                        found = Some(found.unwrap_or(true) && example);
                        if !example {
                            break;
                        }
                    }
                }
                (None, Check::None) => {}
            }
            if let Some(example) = found {
                scan.push(Detection {
                    kind: rule.name.clone(),
                    category: rule.category,
                    severity: rule.severity,
                    location: location.to_owned(),
                    is_likely_example: example,
                });
            }
        }
        if let Some(threshold) = self.entropy {
            for run in token_runs(text) {
                if scan.entropy_found >= MAX_ENTROPY_DETECTIONS || scan.full() {
                    break;
                }
                let s = &text[run.clone()];
                let overlaps = spans.iter().any(|r| r.start < run.end && run.start < r.end);
                if overlaps
                    || harmless_random(s, &text[..run.start])
                    || !mixed_classes(s)
                    || shannon(s) < threshold
                {
                    continue;
                }
                scan.entropy_found += 1;
                scan.push(Detection {
                    kind: "high_entropy".to_owned(),
                    category: Category::HighEntropy,
                    severity: Severity::Medium,
                    location: location.to_owned(),
                    is_likely_example: likely_example(s),
                });
            }
        }
    }
}

fn finish(mut scan: Scan) -> ScanReport {
    let r = &mut scan.report;
    r.detection_count = r.detections.len();
    r.detected = r.detection_count > 0;
    r.highest_severity = r.detections.iter().map(|d| d.severity).max();
    scan.report
}

#[cfg(test)]
mod tests;
