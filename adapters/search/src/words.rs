//! Splitting identifiers into the words a person would search for.

/// `getUserById`, `get_user_by_id`, `get-user-by-id` and `GetUserByID` → `get user by id`;
/// `HTTPServer2` → `http server 2`. Every non-alphanumeric character separates words.
pub fn split_words(text: &str) -> String {
    let mut words: Vec<String> = Vec::new();
    for run in text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|r| !r.is_empty())
    {
        let chars: Vec<char> = run.chars().collect();
        let mut word = String::new();
        for (i, &c) in chars.iter().enumerate() {
            if i > 0 && !word.is_empty() {
                let prev = chars[i - 1];
                let next = chars.get(i + 1).copied();
                let boundary = (prev.is_lowercase() && c.is_uppercase())
                    || (prev.is_alphabetic() && c.is_numeric())
                    || (prev.is_numeric() && c.is_alphabetic())
                    // The end of an acronym: the `S` of `HTTPServer`.
                    || (prev.is_uppercase() && c.is_uppercase() && next.is_some_and(char::is_lowercase));
                if boundary {
                    words.push(std::mem::take(&mut word));
                }
            }
            word.extend(c.to_lowercase());
        }
        if !word.is_empty() {
            words.push(word);
        }
    }
    words.join(" ")
}

#[cfg(test)]
mod tests {
    use super::split_words;

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
        assert_eq!(split_words("  "), "");
    }
}
