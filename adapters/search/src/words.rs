//! Splitting identifiers into the words a person would search for.

/// The pieces of one alphanumeric run: `getUserById` → `get`, `User`, `By`, `Id`;
/// `HTTPServer2` → `HTTP`, `Server`, `2`. Case is kept (the caller lowercases).
fn pieces(run: &str) -> Vec<&str> {
    let chars: Vec<(usize, char)> = run.char_indices().collect();
    let mut out = Vec::new();
    let mut start = 0;
    for i in 1..chars.len() {
        let (at, c) = chars[i];
        let prev = chars[i - 1].1;
        let next = chars.get(i + 1).map(|&(_, n)| n);
        let boundary = (prev.is_lowercase() && c.is_uppercase())
            || (prev.is_alphabetic() && c.is_numeric())
            || (prev.is_numeric() && c.is_alphabetic())
            // The end of an acronym: the `S` of `HTTPServer`.
            // (but not the plural of one: `PRs`, `IDs`).
            || (prev.is_uppercase()
                && c.is_uppercase()
                && next.is_some_and(char::is_lowercase)
                && !(next == Some('s') && i + 2 == chars.len()));
        if boundary {
            out.push(&run[start..at]);
            start = at;
        }
    }
    if start < run.len() {
        out.push(&run[start..]);
    }
    out
}

/// The alphanumeric runs of `text` (every other character separates words).
fn runs(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|r| !r.is_empty())
}

/// `getUserById`, `get_user_by_id`, `get-user-by-id` and `GetUserByID` → `get user by id`;
/// `HTTPServer2` → `http server 2`. Every non-alphanumeric character separates words.
pub fn split_words(text: &str) -> String {
    let mut words: Vec<String> = Vec::new();
    for run in runs(text) {
        words.extend(pieces(run).into_iter().map(str::to_lowercase));
    }
    words.join(" ")
}

/// The words a search matches in `text`, lowercased: each piece of a compound identifier, and
/// the compound itself when it has several pieces, so `GitHub` gives `git`, `hub` and
/// `github` and a query for either form finds it. Byte offsets point into `text`.
pub fn word_spans(text: &str) -> Vec<(usize, usize, String)> {
    let base = text.as_ptr() as usize;
    let mut out = Vec::new();
    for run in runs(text) {
        let run_start = run.as_ptr() as usize - base;
        let parts = pieces(run);
        if parts.len() > 1 {
            out.push((run_start, run_start + run.len(), run.to_lowercase()));
        }
        for part in parts {
            let start = part.as_ptr() as usize - base;
            out.push((start, start + part.len(), part.to_lowercase()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{split_words, word_spans};

    #[test]
    fn every_naming_style_gives_the_same_words() {
        for name in [
            "getUserById",
            "get_user_by_id",
            "get-user-by-id",
            "GetUserByID",
            "get.user.by.id",
        ] {
            assert_eq!(split_words(name), "get user by id", "{name}");
        }
    }

    #[test]
    fn acronyms_and_digits() {
        assert_eq!(split_words("HTTPServer2"), "http server 2");
        assert_eq!(split_words("list_v2_repos"), "list v 2 repos");
        assert_eq!(split_words("everything:echo"), "everything echo");
        assert_eq!(split_words("github__create_issue"), "github create issue");
        assert_eq!(split_words("  "), "");
    }

    #[test]
    fn a_compound_is_found_whole_and_in_pieces() {
        let words: Vec<String> = word_spans("GitHub list_PRs")
            .into_iter()
            .map(|(_, _, w)| w)
            .collect();
        assert_eq!(words, ["github", "git", "hub", "list", "prs"]);
        assert_eq!(split_words("listIDs"), "list ids");
        let spans = word_spans("a GitHub");
        assert_eq!(&"a GitHub"[spans[1].0..spans[1].1], "GitHub");
    }
}
