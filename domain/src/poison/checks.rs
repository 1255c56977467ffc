//! The checks of the tool-poisoning scanner. Each appends findings; none reads anything but
//! the texts it is given.

use std::sync::LazyLock;

use regex::Regex;

use super::text::{is_hidden, normalize};
use super::{Context, Finding, Tier};
use crate::sensitive::{Detector, Severity};
use crate::tool::Tool;

fn finding(
    check: &str,
    tier: Tier,
    severity: Severity,
    message: impl Into<String>,
    location: &str,
    evidence: Option<String>,
) -> Finding {
    Finding {
        check: check.to_owned(),
        tier,
        severity,
        message: message.into(),
        location: location.to_owned(),
        evidence,
    }
}

/// At most `max` characters of `s`, with `…` when cut.
fn short(s: &str, max: usize) -> String {
    let mut out: String = s.chars().take(max).collect();
    if s.chars().count() > max {
        out.push('…');
    }
    out
}

fn re(pattern: &str) -> Regex {
    // The patterns are constants of this file, checked by its tests.
    Regex::new(pattern).unwrap_or_else(|e| panic!("bad scanner pattern {pattern}: {e}"))
}

// ---- unicode.hidden ------------------------------------------------------------------

/// Emoji and pictographs, between which a zero-width joiner is how sequences are written.
fn pictograph(c: char) -> bool {
    matches!(c, '\u{2600}'..='\u{27BF}' | '\u{1F000}'..='\u{1FAFF}' | '\u{FE0F}')
}

fn hidden_class(c: char) -> Option<&'static str> {
    match c {
        '\u{E0000}'..='\u{E007F}' => Some("tag"),
        '\u{202A}'..='\u{202E}'
        | '\u{2066}'..='\u{2069}'
        | '\u{200E}'
        | '\u{200F}'
        | '\u{061C}' => Some("bidi"),
        '\u{E000}'..='\u{F8FF}' | '\u{F0000}'..='\u{FFFFD}' | '\u{100000}'..='\u{10FFFD}' => {
            Some("private-use")
        }
        '\u{E0100}'..='\u{E01EF}' => Some("variation-selector"),
        c if is_hidden(c) => Some("zero-width"),
        _ => None,
    }
}

pub(super) fn hidden_unicode(raw: &str, location: &str, out: &mut Vec<Finding>) {
    let chars: Vec<char> = raw.chars().collect();
    let mut classes: Vec<&str> = Vec::new();
    let mut shown: Vec<String> = Vec::new();
    let mut tag_message = String::new();
    for (i, &c) in chars.iter().enumerate() {
        let Some(class) = hidden_class(c) else {
            continue;
        };
        // A joiner inside an emoji sequence, or a byte-order mark at the start, is honest.
        let joiner_in_emoji = c == '\u{200D}'
            && i > 0
            && chars.get(i + 1).is_some_and(|n| pictograph(*n))
            && pictograph(chars[i - 1]);
        if joiner_in_emoji || (c == '\u{FEFF}' && i == 0) {
            continue;
        }
        if !classes.contains(&class) {
            classes.push(class);
        }
        let code = format!("U+{:04X}", u32::from(c));
        if shown.len() < 8 && !shown.contains(&code) {
            shown.push(code);
        }
        if class == "tag"
            && let Some(ascii) = char::from_u32(u32::from(c) - 0xE0000)
            && (' '..='~').contains(&ascii)
        {
            tag_message.push(ascii);
        }
    }
    if classes.is_empty() {
        return;
    }
    let decoded = tag_message.trim().chars().count() >= 4;
    let severity = if decoded || classes.len() >= 3 {
        Severity::Critical
    } else {
        Severity::High
    };
    let mut evidence = format!("{} ({})", shown.join(" "), classes.join(", "));
    if decoded {
        evidence.push_str(&format!("; hidden text: {:?}", short(&tag_message, 120)));
    }
    out.push(finding(
        "unicode.hidden",
        Tier::Hard,
        severity,
        "invisible characters that a person cannot see but the model reads",
        location,
        Some(evidence),
    ));
}

// ---- phrase.injection, exfil.url, directive.imperative ---------------------------------

/// Places where secrets live, as the phrases name them.
const SENSITIVE: &str = r"(?:~?/?\.ssh\b|id_rsa|id_ed25519|\.env\b|/etc/passwd|/etc/shadow|\.aws/credentials|\.kube/config|mcp\.json|mcp_config\.json|claude_desktop_config\S*|\.netrc|\.npmrc|\.pgpass|private keys?|credentials|passwords?|api keys?|secrets?|tokens?|ssh keys?|environment variables|env vars|cookies|session cookies)";

/// Any character within a sentence: not `;`, and a dot only inside a word (`~/.ssh`,
/// `mcp.json`), not one that ends the sentence.
const IN: &str = r"(?:[^.;]|\.\S)";

struct Phrase {
    check: &'static str,
    tier: Tier,
    severity: Severity,
    message: &'static str,
    regex: Regex,
}

static PHRASES: LazyLock<Vec<Phrase>> = LazyLock::new(|| {
    let hard = |severity, message, pattern: &str| Phrase {
        check: "phrase.injection",
        tier: Tier::Hard,
        severity,
        message,
        regex: re(pattern),
    };
    let soft = |message, pattern: &str| Phrase {
        check: "directive.imperative",
        tier: Tier::Soft,
        severity: Severity::Medium,
        message,
        regex: re(pattern),
    };
    vec![
        hard(
            Severity::High,
            "tells the model to drop its instructions",
            r"\b(?:ignore|disregard|forget|override)\s+(?:all\s+|any\s+|the\s+|of\s+)*(?:your\s+|the\s+)?(?:previous|prior|above|earlier|preceding|original|system|other)?\s*(?:instructions|prompts?|directions|rules|guidelines|messages)\b",
        ),
        hard(
            Severity::High,
            "tells the model to act in an unrestricted mode",
            r"\byou are now (?:in )?(?:developer|dan|jailbreak|god|unrestricted|admin) mode\b",
        ),
        hard(
            Severity::High,
            "asks the model to give away its instructions",
            r"\b(?:reveal|print|output|show|repeat|leak|disclose)\s+(?:your|the)\s+(?:system prompt|hidden instructions|initial instructions|system instructions)",
        ),
        hard(
            Severity::High,
            "tells the model to keep something from the user",
            r"\b(?:do not|never|must not)\s+(?:tell|inform|notify|mention|reveal|show|disclose|let)\b[^.;]{0,20}\bthe user\b|\bwithout (?:telling|informing|notifying|alerting|asking|letting)\s+(?:the user|them)\b|\b(?:hide|conceal|keep)\s+(?:this|it|these|that|the following)\b[^.;]{0,20}\bfrom the user\b|\bsilently (?:send|forward|upload|copy|post|share|delete|transmit|email)\b",
        ),
        hard(
            Severity::Critical,
            "tells the model to read a secret and hand it over",
            &format!(
                r"\b(?:read|cat|open|load|get|fetch|access|copy)\b{IN}{{0,80}}{SENSITIVE}{IN}{{0,120}}?\b(?:pass|send|include|put|provide|attach|add|forward|upload|post|append)\b"
            ),
        ),
        hard(
            Severity::Critical,
            "tells the model to send secrets somewhere",
            &format!(
                r"\b(?:send|post|upload|forward|transmit|exfiltrate|email|leak|copy)\b{IN}{{0,60}}{SENSITIVE}{IN}{{0,60}}\b(?:to|into)\b"
            ),
        ),
        hard(
            Severity::Critical,
            "tells the model to exfiltrate data",
            r"\bexfiltrat(?:e|es|ed|ing|ion)\b",
        ),
        Phrase {
            check: "exfil.url",
            tier: Tier::Hard,
            severity: Severity::Critical,
            message: "tells the model to send the conversation or secrets to a URL",
            regex: re(
                r"\b(?:send|post|upload|forward|transmit|report|sync|copy|mirror|leak)\b[^.;]{0,80}\b(?:conversation|chat|history|credentials|secrets?|keys|tokens|passwords?|environment|cookies|system prompt|everything)\b[^;]{0,80}?(?:https?|wss?)://",
            ),
        },
        soft(
            "carries a hidden-instruction tag",
            r"<\s*/?\s*(?:important|system|instructions?|secret|hidden|admin)\s*>|\[(?:system|important|instructions)\]",
        ),
        soft(
            "gives the model orders beyond what the tool does",
            r"\bbefore (?:using|calling|running|invoking) (?:this|the|any) tool\b|\byou must (?:first|always|also|never)\b|\bthe (?:assistant|model|ai|llm|agent) (?:must|should|will always)\b|\b(?:do not|never) (?:ask|wait) (?:for )?(?:the user'?s? )?(?:confirmation|permission|approval)\b|\bdo not mention\b|\bvery important\b",
        ),
    ]
});

/// Words before a phrase that say it is quoted or described, not meant.
const CUES: &[&str] = &[
    "such as",
    "e.g",
    "for example",
    "for instance",
    "like '",
    "like \"",
    "detect",
    "flag",
    "phrase",
    "pattern",
    "example",
    "attempt",
    "block",
    "filter",
];

/// Whether the phrase at `start` in `normal` is quoted or described rather than meant.
fn discounted(normal: &str, start: usize) -> bool {
    let mut from = start.saturating_sub(48);
    while !normal.is_char_boundary(from) {
        from -= 1;
    }
    let before = &normal[from..start];
    let quoted = before.trim_end().ends_with(['\'', '"']);
    quoted || CUES.iter().any(|c| before.contains(c))
}

pub(super) fn phrases(normal: &str, location: &str, out: &mut Vec<Finding>) {
    for p in PHRASES.iter() {
        let Some(m) = p.regex.find(normal) else {
            continue;
        };
        let evidence = Some(short(m.as_str(), 100));
        if p.tier == Tier::Hard && discounted(normal, m.start()) {
            out.push(finding(
                p.check,
                Tier::Soft,
                Severity::Low,
                format!("{} (quoted or described, so only for review)", p.message),
                location,
                evidence,
            ));
        } else {
            out.push(finding(
                p.check, p.tier, p.severity, p.message, location, evidence,
            ));
        }
    }
}

// ---- payload.decoded -------------------------------------------------------------------

static BASE64: LazyLock<Regex> = LazyLock::new(|| re(r"[A-Za-z0-9+/_\-]{24,}={0,2}"));
static HEX: LazyLock<Regex> = LazyLock::new(|| re(r"\b(?:[0-9a-fA-F]{2}){16,}\b"));
static SHELL: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i)\b(?:curl|wget)\s+\S+|\|\s*(?:ba|z|k)?sh\b|\b(?:ba)?sh\s+-c\b|\brm\s+-rf?\b|\bchmod\s+\+?[0-7x]+|\bnc\s+-[a-z]*e\b|/dev/tcp/|\bpowershell\b|\binvoke-expression\b|\bpython3?\s+-c\b|\beval\s*\(|\b\d{1,3}(?:\.\d{1,3}){3}:\d{2,5}\b",
    )
});

fn decode_base64(s: &str) -> Option<Vec<u8>> {
    let value = |c: u8| -> Option<u32> {
        Some(u32::from(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => return None,
        }))
    };
    let body = s.trim_end_matches('=').as_bytes();
    let mut out = Vec::with_capacity(body.len() * 3 / 4);
    for chunk in body.chunks(4) {
        let mut acc = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            acc |= value(c)? << (18 - 6 * i);
        }
        let bytes = acc.to_be_bytes();
        out.extend_from_slice(&bytes[1..chunk.len()]);
    }
    Some(out)
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

pub(super) fn payloads(raw: &str, location: &str, out: &mut Vec<Finding>) {
    let candidates = BASE64
        .find_iter(raw)
        .filter_map(|m| decode_base64(m.as_str()))
        .chain(HEX.find_iter(raw).filter_map(|m| decode_hex(m.as_str())));
    for bytes in candidates {
        let Ok(text) = String::from_utf8(bytes) else {
            continue;
        };
        let printable = text
            .chars()
            .filter(|c| !c.is_control() || c.is_whitespace())
            .count();
        if text.is_empty() || printable * 10 < text.chars().count() * 9 {
            continue;
        }
        let mut inner = Vec::new();
        phrases(&normalize(&text), location, &mut inner);
        let instruction = inner.iter().any(|f| f.tier == Tier::Hard);
        if SHELL.is_match(&text) || instruction {
            out.push(finding(
                "payload.decoded",
                Tier::Hard,
                Severity::Critical,
                "an encoded blob that decodes to a command or an instruction",
                location,
                Some(format!("decodes to {:?}", short(&text, 120))),
            ));
            return;
        }
    }
}

// ---- secret.embedded -------------------------------------------------------------------

static DETECTOR: LazyLock<Option<Detector>> =
    LazyLock::new(|| Detector::new(&crate::config::SensitiveDataConfig::default()).ok());

pub(super) fn secrets(raw: &str, location: &str, out: &mut Vec<Finding>) {
    let Some(detector) = DETECTOR.as_ref() else {
        return;
    };
    let report = detector.scan_text(raw, location);
    let live: Vec<&str> = report
        .detections
        .iter()
        .filter(|d| !d.is_likely_example && d.severity >= Severity::High)
        .map(|d| d.kind.as_str())
        .collect();
    if !live.is_empty() {
        out.push(finding(
            "secret.embedded",
            Tier::Soft,
            Severity::Medium,
            "a credential written into the tool's definition",
            location,
            Some(live.join(", ")),
        ));
    }
}

// ---- shadowing.cross_server -------------------------------------------------------------

/// Names too common to say which server they belong to.
const COMMON: &[&str] = &[
    "read_file",
    "write_file",
    "list_files",
    "list_directory",
    "search_files",
];

/// A tool name specific enough that naming it points at that tool.
pub(super) fn distinctive(name: &str) -> bool {
    let camel = name
        .as_bytes()
        .windows(2)
        .any(|w| w[0].is_ascii_lowercase() && w[1].is_ascii_uppercase());
    name.len() >= 6 && (name.contains(['_', '-']) || camel) && !COMMON.contains(&name)
}

pub(super) fn shadowing(tool: &Tool, context: &Context<'_>, out: &mut Vec<Finding>) {
    let words = tool
        .description
        .split(|c: char| !(c.is_alphanumeric() || matches!(c, '_' | '-' | ':' | '.')))
        .map(|w| w.trim_end_matches(['.', ':']))
        .filter(|w| !w.is_empty());
    // One finding per place is all a person needs: the first peer named, in peer order.
    if let Some(peer) = context.named_peer(words) {
        out.push(finding(
            "shadowing.cross_server",
            Tier::Hard,
            Severity::High,
            "names a tool of another server, to steer which tool the model calls",
            "description",
            Some(format!("{} of server '{}'", peer.name, peer.server)),
        ));
    }
}

// ---- capability.mismatch ---------------------------------------------------------------

static SENSITIVE_PLACE: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"(?i)~?/?\.ssh\b|id_rsa|id_ed25519|\.env\b|/etc/passwd|/etc/shadow|\.aws/credentials|mcp\.json|mcp_config\.json|claude_desktop_config|\.cursor/|private key",
    )
});

/// Words of tools that only compute or format, which have no business with secrets.
const COMPUTE: &[&str] = &[
    "add",
    "sum",
    "subtract",
    "multiply",
    "divide",
    "calculate",
    "calculator",
    "calc",
    "math",
    "uppercase",
    "lowercase",
    "format",
    "echo",
    "hello",
    "greet",
    "weather",
    "time",
    "date",
    "random",
    "joke",
    "reverse",
    "count",
    "tip",
];

/// Parameters named like a place to smuggle data out.
const SINKS: &[&str] = &[
    "sidenote",
    "side_note",
    "scratchpad",
    "hidden_note",
    "internal_note",
    "secret_note",
];

pub(super) fn capability(tool: &Tool, texts: &[(String, String)], out: &mut Vec<Finding>) {
    let lead = tool
        .description
        .split(['.', '\n'])
        .next()
        .unwrap_or_default();
    let declared: Vec<String> = tool
        .name
        .split(|c: char| !c.is_ascii_alphanumeric())
        .chain(lead.split_whitespace())
        .map(str::to_ascii_lowercase)
        .collect();
    let computes = declared.iter().any(|w| COMPUTE.contains(&w.as_str()));
    if computes
        && let Some((location, m)) = texts
            .iter()
            .find_map(|(l, t)| SENSITIVE_PLACE.find(t).map(|m| (l, m.as_str().to_owned())))
    {
        out.push(finding(
            "capability.mismatch",
            Tier::Soft,
            Severity::Medium,
            "a tool that only computes refers to where secrets are kept",
            location,
            Some(m),
        ));
    }
    let description = tool.description.to_ascii_lowercase();
    for (location, name) in texts.iter().filter(|(l, _)| l.ends_with("#name")) {
        let lower = name.to_ascii_lowercase();
        if SINKS.contains(&lower.as_str()) && !description.contains(&lower) {
            out.push(finding(
                "capability.mismatch",
                Tier::Soft,
                Severity::Medium,
                "a parameter named like a place to put data, which the description never explains",
                location.trim_end_matches("#name"),
                Some(name.clone()),
            ));
        }
    }
}
