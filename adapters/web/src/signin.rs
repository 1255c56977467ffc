//! The sign-in form: plain HTML and the panel's stylesheet, no script, so it shows even
//! where the app could not start.

use crate::assets::{Assets, fill};

const TEMPLATE: &str = include_str!("../assets/signin.html");

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// The form; after signing in the browser goes to `next`. `error` says why the last try
/// failed.
pub fn page(assets: &Assets, next: &str, error: Option<&str>) -> String {
    let error = error.map_or_else(String::new, |e| {
        format!(
            "<p class=\"signin-error\" role=\"alert\" id=\"signin-error\">{}</p>",
            escape(e)
        )
    });
    let described = if error.is_empty() {
        "signin-help"
    } else {
        "signin-error signin-help"
    };
    fill(TEMPLATE, &assets.js, &assets.css, &assets.icon)
        .replace("{{next}}", &escape(next))
        .replace("{{error}}", &error)
        .replace("{{described}}", described)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_form_escapes_what_it_echoes() {
        let assets = Assets::build();
        let page = page(&assets, "/ui/\"><script>x</script>", Some("<b>no</b>"));
        assert!(!page.contains("<script>x"));
        assert!(page.contains("&lt;b&gt;no&lt;/b&gt;"));
        assert!(page.contains("name=\"apikey\""));
        assert!(page.contains(&assets.css.url()));
        assert!(!page.contains("{{"), "every placeholder is filled");
    }
}
