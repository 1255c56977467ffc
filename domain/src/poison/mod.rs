//! The tool-poisoning scanner: reads a tool's name, description and input schema, offline,
//! for what an attacker hides there to steer the model — invisible Unicode, instructions aimed
//! at the model ("ignore previous instructions", "do not tell the user"), exfiltration to
//! URLs, references to another server's tools (shadowing), encoded shell payloads, and live
//! secrets.
//!
//! Each check gives findings of one of two tiers, as in the Go MCPProxy's detect engine: a
//! **hard** finding is a shape that essentially never occurs in an honest tool (a hidden
//! character, an instruction override, a decoded `curl … | sh`) and makes the tool
//! `dangerous` — it is never approved without a person, even on a trusted server; a **soft**
//! finding is a heuristic that honest tools can trip (an `<IMPORTANT>` tag, a secret-looking
//! example) and makes it `warnings`, shown for review. A phrase that is quoted or described
//! ("detects prompts such as 'ignore previous instructions'") is soft, not hard.
//!
//! Deterministic and pure: the same tool and peers give the same findings in the same order.

mod checks;
mod text;

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::sensitive::Severity;
use crate::tool::Tool;

/// The scanner's overall judgement of a tool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Clean,
    /// Soft findings only: a person should look.
    Warnings,
    /// At least one hard finding: never approved without a person.
    Dangerous,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Clean => "clean",
            Self::Warnings => "warnings",
            Self::Dangerous => "dangerous",
        }
    }
}

/// How sure a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Tier {
    Hard,
    Soft,
}

/// One thing the scanner found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Finding {
    /// `unicode.hidden`, `phrase.injection`, `exfil.url`, `shadowing.cross_server`,
    /// `payload.decoded`, `directive.imperative`, `capability.mismatch`, `secret.embedded`.
    pub check: String,
    pub tier: Tier,
    pub severity: Severity,
    /// What is wrong, for people.
    pub message: String,
    /// Where: `description`, `name`, `inputSchema.properties.x.description`, …
    pub location: String,
    /// What was seen, made safe to show: hidden characters as `U+200B`, decoded text cut
    /// short, never a secret's value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence: Option<String>,
}

/// The scanner's report on one tool: attached to its approval record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ToolScan {
    pub verdict: Verdict,
    pub findings: Vec<Finding>,
}

impl ToolScan {
    pub fn clean() -> Self {
        Self {
            verdict: Verdict::Clean,
            findings: Vec::new(),
        }
    }

    pub fn is_dangerous(&self) -> bool {
        self.verdict == Verdict::Dangerous
    }

    fn from_findings(findings: Vec<Finding>) -> Self {
        let verdict = if findings.iter().any(|f| f.tier == Tier::Hard) {
            Verdict::Dangerous
        } else if findings.is_empty() {
            Verdict::Clean
        } else {
            Verdict::Warnings
        };
        Self { verdict, findings }
    }
}

/// A tool of another server, for the shadowing check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerTool<'a> {
    pub server: &'a str,
    pub name: &'a str,
}

/// What the scanner knows besides the tool: the tools of every other server, indexed once by
/// every word that names one (`server:tool`, `server__tool`, `server.tool`, and a distinctive
/// bare name), so a discovery of thousands of tools beside thousands of peers scans each
/// description in time of its own length, not of the peer count.
#[derive(Debug, Clone, Default)]
pub struct Context<'a> {
    peers: &'a [PeerTool<'a>],
    /// A word that names a peer -> the position of the first such peer.
    naming: HashMap<String, usize>,
}

impl<'a> Context<'a> {
    /// The context of a tool of `server`, whose own tools are `own_tools` (naming one of them
    /// is never shadowing, even when another server has a tool of that name).
    pub fn new(server: &str, own_tools: &[&str], peers: &'a [PeerTool<'a>]) -> Self {
        let own: HashSet<&str> = own_tools.iter().copied().collect();
        let mut naming = HashMap::new();
        for (i, peer) in peers.iter().enumerate() {
            if peer.server == server || own.contains(peer.name) {
                continue;
            }
            for sep in [":", "__", "."] {
                naming
                    .entry(format!("{}{sep}{}", peer.server, peer.name))
                    .or_insert(i);
            }
            if checks::distinctive(peer.name) {
                naming.entry(peer.name.to_owned()).or_insert(i);
            }
        }
        Self { peers, naming }
    }

    /// The first peer (in the order given) that one of `words` names.
    fn named_peer<'w>(&self, words: impl Iterator<Item = &'w str>) -> Option<PeerTool<'a>> {
        words
            .filter_map(|w| self.naming.get(w).copied())
            .min()
            .map(|i| self.peers[i])
    }
}

/// The texts of a tool, each with where it is: name, description, and every description,
/// title, enum value and default in its input schema (property names too).
fn texts(tool: &Tool) -> Vec<(String, String)> {
    fn walk(v: &Value, path: &str, depth: usize, out: &mut Vec<(String, String)>) {
        if depth > 12 {
            return;
        }
        match v {
            Value::Object(map) => {
                for (k, child) in map {
                    let here = format!("{path}.{k}");
                    match (k.as_str(), child) {
                        ("description" | "title" | "default" | "const", Value::String(s)) => {
                            out.push((here, s.clone()));
                        }
                        ("enum" | "examples", Value::Array(items)) => {
                            for (i, item) in items.iter().enumerate() {
                                if let Value::String(s) = item {
                                    out.push((format!("{here}[{i}]"), s.clone()));
                                }
                            }
                        }
                        ("properties", Value::Object(props)) => {
                            for (name, prop) in props {
                                out.push((format!("{here}.{name}#name"), name.clone()));
                                walk(prop, &format!("{here}.{name}"), depth + 1, out);
                            }
                        }
                        _ => walk(child, &here, depth + 1, out),
                    }
                }
            }
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    walk(item, &format!("{path}[{i}]"), depth + 1, out);
                }
            }
            _ => {}
        }
    }
    let mut out = vec![
        ("name".to_owned(), tool.name.clone()),
        ("description".to_owned(), tool.description.clone()),
    ];
    walk(&tool.input_schema, "inputSchema", 0, &mut out);
    out
}

/// Scans one tool.
pub fn scan(tool: &Tool, context: &Context<'_>) -> ToolScan {
    let texts = texts(tool);
    let mut findings = Vec::new();
    for (location, raw) in &texts {
        checks::hidden_unicode(raw, location, &mut findings);
        let normal = text::normalize(raw);
        checks::phrases(&normal, location, &mut findings);
        checks::payloads(raw, location, &mut findings);
        checks::secrets(raw, location, &mut findings);
    }
    checks::shadowing(tool, context, &mut findings);
    checks::capability(tool, &texts, &mut findings);
    // One finding per check and place is enough for a person to look.
    let mut seen = std::collections::HashSet::new();
    findings.retain(|f| seen.insert((f.check.clone(), f.location.clone(), f.tier)));
    ToolScan::from_findings(findings)
}

#[cfg(test)]
mod tests;
