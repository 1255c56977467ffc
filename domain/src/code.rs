//! Code execution: the config keys of the JavaScript sandbox (the Go MCPProxy's names) and
//! the limits a script runs under, resolved from them and from a request's own options.
//!
//! The keys sit at the top level of the config document, as in the Go proxy; they are kept
//! here, flattened into [`crate::Config`], so the rules of one feature read in one file.

use serde::{Deserialize, Serialize};

use crate::config::ValidationError;

/// The default wall time of a script (2 minutes), and the most a request may ask for.
pub const DEFAULT_TIMEOUT_MS: u64 = 120_000;
pub const MAX_TIMEOUT_MS: u64 = 600_000;
pub const DEFAULT_POOL_SIZE: usize = 10;
pub const MAX_POOL_SIZE: usize = 100;
pub const DEFAULT_MAX_PARALLEL: usize = 8;
pub const MAX_PARALLEL: usize = 32;
/// Heap of one runtime (mcpproxy's own key; the Go proxy has no cap).
pub const DEFAULT_MEMORY_LIMIT_MB: usize = 64;
pub const MAX_MEMORY_LIMIT_MB: usize = 4096;
/// Bytes of the JSON a script may return (mcpproxy's own key).
pub const DEFAULT_MAX_OUTPUT_BYTES: usize = 1024 * 1024;
/// The most elements of one `call_tools` batch.
pub const MAX_BATCH: usize = 100;

fn is_false(b: &bool) -> bool {
    !*b
}

/// The `code_execution_*` keys and `enable_code_execution`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CodeExecutionConfig {
    #[serde(skip_serializing_if = "is_false")]
    pub enable_code_execution: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code_execution_timeout_ms: Option<i64>,
    /// 0: no limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code_execution_max_tool_calls: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code_execution_pool_size: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code_execution_max_parallel: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code_execution_memory_limit_mb: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code_execution_max_output_bytes: Option<i64>,
}

fn check(errors: &mut Vec<ValidationError>, field: &str, value: Option<i64>, min: i64, max: i64) {
    if let Some(v) = value
        && !(min..=max).contains(&v)
    {
        errors.push(ValidationError::new(
            field,
            format!("must be between {min} and {max}, got {v}"),
        ));
    }
}

impl CodeExecutionConfig {
    pub fn validate(&self, errors: &mut Vec<ValidationError>) {
        let max_timeout = i64::try_from(MAX_TIMEOUT_MS).unwrap_or(i64::MAX);
        check(
            errors,
            "code_execution_timeout_ms",
            self.code_execution_timeout_ms,
            1,
            max_timeout,
        );
        check(
            errors,
            "code_execution_max_tool_calls",
            self.code_execution_max_tool_calls,
            0,
            i64::from(u32::MAX),
        );
        check(
            errors,
            "code_execution_pool_size",
            self.code_execution_pool_size,
            1,
            MAX_POOL_SIZE as i64,
        );
        check(
            errors,
            "code_execution_max_parallel",
            self.code_execution_max_parallel,
            1,
            MAX_PARALLEL as i64,
        );
        check(
            errors,
            "code_execution_memory_limit_mb",
            self.code_execution_memory_limit_mb,
            1,
            MAX_MEMORY_LIMIT_MB as i64,
        );
        check(
            errors,
            "code_execution_max_output_bytes",
            self.code_execution_max_output_bytes,
            1,
            i64::from(u32::MAX),
        );
    }

    /// The settings in force; a value out of range (a config that did not validate) falls
    /// back to its default.
    pub fn settings(&self) -> CodeSettings {
        fn pick<T: TryFrom<i64>>(v: Option<i64>, ok: impl Fn(&T) -> bool, default: T) -> T {
            v.and_then(|v| T::try_from(v).ok())
                .filter(|v| ok(v))
                .unwrap_or(default)
        }
        CodeSettings {
            enabled: self.enable_code_execution,
            timeout_ms: pick(
                self.code_execution_timeout_ms,
                |v| (1..=MAX_TIMEOUT_MS).contains(v),
                DEFAULT_TIMEOUT_MS,
            ),
            max_tool_calls: pick(self.code_execution_max_tool_calls, |_| true, 0),
            pool_size: pick(
                self.code_execution_pool_size,
                |v| (1..=MAX_POOL_SIZE).contains(v),
                DEFAULT_POOL_SIZE,
            ),
            max_parallel: pick(
                self.code_execution_max_parallel,
                |v| (1..=MAX_PARALLEL).contains(v),
                DEFAULT_MAX_PARALLEL,
            ),
            memory_limit_mb: pick(
                self.code_execution_memory_limit_mb,
                |v| (1..=MAX_MEMORY_LIMIT_MB).contains(v),
                DEFAULT_MEMORY_LIMIT_MB,
            ),
            max_output_bytes: pick(
                self.code_execution_max_output_bytes,
                |v| *v >= 1,
                DEFAULT_MAX_OUTPUT_BYTES,
            ),
        }
    }
}

/// Code execution as configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CodeSettings {
    pub enabled: bool,
    pub timeout_ms: u64,
    /// 0: no limit.
    pub max_tool_calls: u64,
    pub pool_size: usize,
    pub max_parallel: usize,
    pub memory_limit_mb: usize,
    pub max_output_bytes: usize,
}

impl Default for CodeSettings {
    fn default() -> Self {
        CodeExecutionConfig::default().settings()
    }
}

/// A request's own `options`; each one absent takes the config's value.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CodeOptions {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tool_calls: Option<u64>,
    /// Empty: every server the caller may reach.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_servers: Vec<String>,
}

/// The limits one script runs under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptLimits {
    pub timeout_ms: u64,
    /// 0: no limit.
    pub max_tool_calls: u64,
    pub allowed_servers: Vec<String>,
    pub max_parallel: usize,
    pub memory_limit_bytes: usize,
    pub max_output_bytes: usize,
}

impl ScriptLimits {
    /// The request's options over the config's; an option out of range is refused.
    pub fn resolve(settings: &CodeSettings, options: &CodeOptions) -> Result<Self, String> {
        let timeout_ms = options.timeout_ms.unwrap_or(settings.timeout_ms);
        if !(1..=MAX_TIMEOUT_MS).contains(&timeout_ms) {
            return Err(format!(
                "options.timeout_ms must be between 1 and {MAX_TIMEOUT_MS}, got {timeout_ms}"
            ));
        }
        Ok(Self {
            timeout_ms,
            max_tool_calls: options.max_tool_calls.unwrap_or(settings.max_tool_calls),
            allowed_servers: options.allowed_servers.clone(),
            max_parallel: settings.max_parallel,
            memory_limit_bytes: settings.memory_limit_mb.saturating_mul(1024 * 1024),
            max_output_bytes: settings.max_output_bytes,
        })
    }

    /// Whether a script under these limits may call a tool of `server` (the admission rule
    /// decides the rest, as for any call).
    pub fn allows_server(&self, server: &str) -> bool {
        self.allowed_servers.is_empty() || self.allowed_servers.iter().any(|s| s == server)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_go_proxys() {
        let s = CodeSettings::default();
        assert!(!s.enabled);
        assert_eq!(s.timeout_ms, 120_000);
        assert_eq!(s.max_tool_calls, 0);
        assert_eq!(s.pool_size, 10);
        assert_eq!(s.max_parallel, 8);
    }

    #[test]
    fn the_keys_are_read_at_the_top_level_and_written_back() {
        let raw = r#"{"enable_code_execution": true, "code_execution_pool_size": 4, "other": 1}"#;
        let c: crate::Config = serde_json::from_str(raw).unwrap();
        assert!(c.code_execution.enable_code_execution);
        assert_eq!(c.code_execution.code_execution_pool_size, Some(4));
        assert!(!c.extra.contains_key("enable_code_execution"));
        assert!(c.extra.contains_key("other"));
        let back = serde_json::to_value(&c).unwrap();
        assert_eq!(back["enable_code_execution"], true);
        assert_eq!(back["code_execution_pool_size"], 4);
    }

    #[test]
    fn out_of_range_keys_are_named() {
        let c = CodeExecutionConfig {
            code_execution_timeout_ms: Some(0),
            code_execution_pool_size: Some(101),
            ..Default::default()
        };
        let mut errors = Vec::new();
        c.validate(&mut errors);
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            ["code_execution_timeout_ms", "code_execution_pool_size"]
        );
        assert_eq!(c.settings().pool_size, DEFAULT_POOL_SIZE);
    }

    #[test]
    fn request_options_override_the_config_within_range() {
        let s = CodeSettings::default();
        let o = CodeOptions {
            timeout_ms: Some(500),
            max_tool_calls: Some(3),
            allowed_servers: vec!["a".into()],
        };
        let l = ScriptLimits::resolve(&s, &o).unwrap();
        assert_eq!((l.timeout_ms, l.max_tool_calls), (500, 3));
        assert!(l.allows_server("a") && !l.allows_server("b"));
        let too_long = CodeOptions {
            timeout_ms: Some(600_001),
            ..Default::default()
        };
        assert!(
            ScriptLimits::resolve(&s, &too_long)
                .unwrap_err()
                .contains("timeout_ms")
        );
    }
}
