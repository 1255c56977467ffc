//! Text as the phrase checks read it: hidden characters dropped, quotes and dashes made
//! plain, contractions spelled out, lower case, one space between words — so `Don’t  tell`
//! and `do not tell` read the same. The hidden-Unicode check reads the raw text instead
//! (normalizing would remove exactly what it looks for).

/// Characters that show nothing: zero-width, bidirectional controls, invisible operators,
/// the byte-order mark, Unicode tags and variation selectors of the supplement.
pub(super) fn is_hidden(c: char) -> bool {
    matches!(
        c,
        '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{2069}'
            | '\u{061C}'
            | '\u{180E}'
            | '\u{FEFF}'
            | '\u{E0000}'..='\u{E007F}'
            | '\u{E0100}'..='\u{E01EF}'
    )
}

pub(super) fn normalize(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut space = true;
    for c in raw.chars() {
        if is_hidden(c) {
            continue;
        }
        let c = match c {
            '\u{2018}' | '\u{2019}' | '\u{201B}' | '\u{2032}' | '`' => '\'',
            '\u{201C}' | '\u{201D}' | '\u{201F}' | '\u{2033}' => '"',
            '\u{2010}'..='\u{2015}' => '-',
            c if c.is_whitespace() => ' ',
            c => c,
        };
        if c == ' ' {
            if !space {
                out.push(' ');
            }
            space = true;
            continue;
        }
        space = false;
        out.extend(c.to_lowercase());
    }
    let trimmed = out.trim_end().to_owned();
    trimmed
        .replace("won't", "will not")
        .replace("can't", "can not")
        .replace("n't", " not")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wording_variants_read_the_same() {
        assert_eq!(
            normalize("Don\u{2019}t  TELL\u{200B} the\nuser"),
            "do not tell the user"
        );
        assert_eq!(normalize("won't"), "will not");
    }
}
