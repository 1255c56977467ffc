//! The names a server's tools answer to as a product: "GitHub", "Outlook", "Jira",
//! "Postgres". Derived from the server's name, its tools' shared name prefixes
//! (`jira_get_issue`, `browser_click`) and the products its descriptions name, widened by
//! our table of products with several names, plus what the user set in `search.aliases`.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::LazyLock;

use mcpproxy_domain::Tool;

use crate::thesaurus::{GENERIC_NAME_WORDS, GROUPS, PRODUCTS};
use crate::words::split_words;

/// A description share above which a product it names is the server's product.
const DESCRIPTION_SHARE: f32 = 0.25;

fn is_generic(word: &str) -> bool {
    GENERIC_NAME_WORDS.contains(&word) || word.chars().all(|c| c.is_ascii_digit())
}

/// Whether a word is one of the verbs or nouns of tool work (not a product).
pub(crate) fn is_tool_word(word: &str) -> bool {
    // Asked for every product word of every tool indexed: a set, built once.
    static WORDS: LazyLock<HashSet<&'static str>> =
        LazyLock::new(|| GROUPS.iter().flat_map(|g| g.iter().copied()).collect());
    WORDS.contains(word)
}

/// The product names that earn a query the product bonus: those that are not also words of
/// tool work (a server named `email` or `time` names no product).
pub fn bonus_names(products: &str) -> String {
    products
        .split(' ')
        .filter(|w| !w.is_empty() && !is_tool_word(w))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Every name of the products `words` name (a product's names joined by spaces).
fn widen(names: &mut BTreeSet<String>) {
    let joined = format!(" {} ", names.iter().cloned().collect::<Vec<_>>().join(" "));
    for family in PRODUCTS {
        if family
            .iter()
            .any(|n| names.contains(*n) || joined.contains(&format!(" {n} ")))
        {
            names.extend(family.iter().map(|n| (*n).to_owned()));
        }
    }
}

/// The product names of the whole server, and those of single tools (by name prefix).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProductNames {
    pub server: String,
    pub tools: HashMap<String, String>,
}

/// Derives the product names of `server` from its name, its tools and `user` aliases.
pub fn product_names(server: &str, tools: &[Tool], user: &[String]) -> ProductNames {
    let mut names: BTreeSet<String> = BTreeSet::new();
    let server_words = split_words(server);
    names.extend(
        server_words
            .split(' ')
            .filter(|w| !w.is_empty() && !is_generic(w))
            .map(str::to_owned),
    );
    // "ms-365" is also "ms365"; digits stay in the compact form.
    let compact: String = server_words
        .split(' ')
        .filter(|w| !GENERIC_NAME_WORDS.contains(w))
        .collect();
    if !compact.is_empty() {
        names.insert(compact);
    }
    // Products named in a good share of the descriptions ("… in a GitHub repository").
    if !tools.is_empty() {
        // Each description split once (" word word "), each product name padded once: this
        // runs for every server the catalog indexes.
        let texts: Vec<String> = tools
            .iter()
            .map(|t| format!(" {} ", split_words(&t.description)))
            .collect();
        for family in PRODUCTS {
            let head = family[0];
            let padded: Vec<String> = family.iter().map(|n| format!(" {n} ")).collect();
            let naming = texts
                .iter()
                .filter(|text| padded.iter().any(|n| text.contains(n.as_str())))
                .count();
            if naming as f32 / tools.len() as f32 >= DESCRIPTION_SHARE {
                names.insert(head.to_owned());
            }
        }
    }
    names.extend(user.iter().map(|a| split_words(a)));
    widen(&mut names);

    // A name prefix shared by several tools that is not a verb or noun of tool work
    // (`linear_createIssue`, `kubectl_get`) is the product of those tools.
    let mut prefixes: HashMap<String, usize> = HashMap::new();
    let first = |t: &Tool| split_words(&t.name).split(' ').next().map(str::to_owned);
    for tool in tools {
        if let Some(p) = first(tool) {
            *prefixes.entry(p).or_default() += 1;
        }
    }
    let mut per_tool = HashMap::new();
    for tool in tools {
        let Some(p) = first(tool) else { continue };
        if prefixes[&p] < 2 || is_generic(&p) || is_tool_word(&p) || names.contains(&p) {
            continue;
        }
        let mut own = BTreeSet::from([p]);
        widen(&mut own);
        per_tool.insert(
            tool.name.clone(),
            own.into_iter().collect::<Vec<_>>().join(" "),
        );
    }
    ProductNames {
        server: names.into_iter().collect::<Vec<_>>().join(" "),
        tools: per_tool,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn tool(name: &str, desc: &str) -> Tool {
        Tool::new(name, desc, json!({"type": "object"}))
    }

    fn words(s: &str) -> BTreeSet<&str> {
        s.split(' ').collect()
    }

    #[test]
    fn a_server_answers_to_every_name_of_its_product() {
        let names = product_names("ms365", &[tool("list-mail-messages", "List mail")], &[]);
        let server = words(&names.server);
        assert!(server.contains("outlook") && server.contains("onedrive"));
        let names = product_names("mcp-server-postgres", &[tool("query", "Run SQL")], &[]);
        let server = words(&names.server);
        assert!(server.contains("postgresql") && server.contains("pg"));
        assert!(!server.contains("mcp") && !server.contains("server"));
    }

    #[test]
    fn descriptions_and_prefixes_name_products() {
        let tools = [
            tool("create_issue", "Create a new issue in a GitHub repository"),
            tool("list_commits", "List commits of a GitHub repository"),
            tool("jira_get_issue", "Get an issue"),
            tool("jira_search", "Search"),
            tool("get_thing", "x"),
            tool("get_other", "y"),
        ];
        let names = product_names("tracker", &tools, &["Acme Cloud".into()]);
        let server = words(&names.server);
        assert!(server.contains("github") && server.contains("gh"));
        assert!(server.contains("acme cloud") || names.server.contains("acme cloud"));
        assert!(words(&names.tools["jira_get_issue"]).contains("atlassian"));
        assert!(
            !names.tools.contains_key("get_thing"),
            "a verb is no product"
        );
    }
}
