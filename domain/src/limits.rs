//! The limits that keep one client from taking what every client needs: connections, the
//! time to send a request's headers, MCP sessions, and the size of what a request may ask
//! for (a search query, a page). The config keys (`http_max_connections`,
//! `http_read_header_timeout`, `mcp_max_sessions`) are in [`crate::config::Config`]; their
//! defaults and checks are here.

use crate::config::{Config, ValidationError};
use crate::duration::GoDuration;

/// Connections served at once by default: far more than a desktop's clients open, and well
/// below the usual limit of open files once raised.
pub const DEFAULT_HTTP_MAX_CONNECTIONS: i64 = 1000;
/// A client that takes longer to send its headers, or leaves a keep-alive connection idle
/// longer, is disconnected.
pub const DEFAULT_HTTP_READ_HEADER_TIMEOUT: GoDuration = GoDuration::from_secs(30);
/// MCP sessions kept at once (each costs some 65 kB): a desktop's agents use a few dozen.
pub const DEFAULT_MCP_MAX_SESSIONS: i64 = 256;

/// The longest search query taken as it is, in characters; longer ones are cut.
pub const MAX_QUERY_CHARS: usize = 1000;
/// The most words of a search query used; the rest are dropped.
pub const MAX_QUERY_TERMS: usize = 32;

impl Config {
    pub fn http_max_connections(&self) -> usize {
        positive(self.http_max_connections, DEFAULT_HTTP_MAX_CONNECTIONS)
    }

    pub fn http_read_header_timeout(&self) -> GoDuration {
        self.http_read_header_timeout
            .filter(|d| d.is_positive())
            .unwrap_or(DEFAULT_HTTP_READ_HEADER_TIMEOUT)
    }

    pub fn mcp_max_sessions(&self) -> usize {
        positive(self.mcp_max_sessions, DEFAULT_MCP_MAX_SESSIONS)
    }

    /// How many local servers may start at once, if the config says; otherwise the
    /// upstream adapter takes one per core (the domain knows no machine).
    pub fn max_concurrent_starts(&self) -> Option<usize> {
        self.max_concurrent_starts
            .filter(|v| *v > 0)
            .and_then(|v| usize::try_from(v).ok())
    }
}

fn positive(value: Option<i64>, default: i64) -> usize {
    usize::try_from(value.filter(|v| *v > 0).unwrap_or(default)).unwrap_or(usize::MAX)
}

/// The problems of the limit keys, each named.
pub fn validate(config: &Config) -> Vec<ValidationError> {
    let mut errors = Vec::new();
    for (key, value, max) in [
        (
            "http_max_connections",
            config.http_max_connections,
            1_000_000,
        ),
        ("mcp_max_sessions", config.mcp_max_sessions, 100_000),
        ("max_concurrent_starts", config.max_concurrent_starts, 1024),
    ] {
        if let Some(v) = value
            && !(1..=max).contains(&v)
        {
            errors.push(ValidationError::new(
                key,
                format!("must be between 1 and {max}, got {v}"),
            ));
        }
    }
    if let Some(d) = config.http_read_header_timeout
        && !(GoDuration::from_secs(1)..=GoDuration::from_secs(3600)).contains(&d)
    {
        errors.push(ValidationError::new(
            "http_read_header_timeout",
            format!("must be between 1s and 1h, got {d}"),
        ));
    }
    errors
}

/// A search query cut to what one query may cost, and whether it was cut.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoundedQuery {
    pub text: String,
    /// What was dropped, said for the answer; `None` when the query is whole.
    pub cut: Option<String>,
}

/// `query` within [`MAX_QUERY_CHARS`] characters and [`MAX_QUERY_TERMS`] words (words are
/// runs of letters and digits; what lies between them is kept as it was).
pub fn bound_query(query: &str) -> BoundedQuery {
    let mut end = query.len();
    let mut reasons = Vec::new();
    if let Some((i, _)) = query.char_indices().nth(MAX_QUERY_CHARS) {
        end = i;
        reasons.push(format!("{MAX_QUERY_CHARS} characters"));
    }
    let mut words = 0;
    let mut in_word = false;
    for (i, c) in query[..end].char_indices() {
        let letter = c.is_alphanumeric();
        if letter && !in_word {
            words += 1;
            if words > MAX_QUERY_TERMS {
                end = i;
                reasons.push(format!("{MAX_QUERY_TERMS} words"));
                break;
            }
        }
        in_word = letter;
    }
    let text = query[..end].trim_end().to_owned();
    let cut = (!reasons.is_empty()).then(|| {
        format!(
            "the query was cut to its first {} ({} of {} characters kept); search with fewer words",
            reasons.join(" and "),
            text.chars().count(),
            query.chars().count()
        )
    });
    BoundedQuery { text, cut }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absent_or_silly_limits_take_the_defaults() {
        let c = Config::default();
        assert_eq!(c.http_max_connections(), 1000);
        assert_eq!(c.mcp_max_sessions(), 256);
        assert_eq!(c.http_read_header_timeout(), GoDuration::from_secs(30));
        let c: Config = serde_json::from_value(serde_json::json!({
            "http_max_connections": 0, "mcp_max_sessions": -1, "http_read_header_timeout": "0s"
        }))
        .unwrap();
        let fields: Vec<String> = validate(&c).into_iter().map(|e| e.field).collect();
        assert_eq!(
            fields,
            [
                "http_max_connections",
                "mcp_max_sessions",
                "http_read_header_timeout"
            ]
        );
        assert_eq!(c.mcp_max_sessions(), 256);
        let back = serde_json::to_value(Config::default()).unwrap();
        assert!(
            back.get("mcp_max_sessions").is_none(),
            "absent stays absent"
        );
    }

    #[test]
    fn short_queries_are_whole() {
        let q = bound_query("create a github issue");
        assert_eq!(q.text, "create a github issue");
        assert_eq!(q.cut, None);
    }

    #[test]
    fn long_queries_are_cut_and_say_so() {
        let words: Vec<String> = (0..300_000).map(|i| format!("w{i}")).collect();
        let q = bound_query(&words.join(" "));
        assert_eq!(q.text.split_whitespace().count(), MAX_QUERY_TERMS);
        let cut = q.cut.unwrap();
        assert!(
            cut.contains("32 words") && cut.contains("1000 characters"),
            "{cut}"
        );

        let long = "é".repeat(5000);
        let q = bound_query(&long);
        assert_eq!(q.text.chars().count(), MAX_QUERY_CHARS);
        assert!(q.cut.unwrap().contains("characters"));
    }
}
