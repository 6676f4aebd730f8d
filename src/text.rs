//! Characters that text shown to an operator (labels, manifest fields) must not hold.

/// Whether `c` is a control character or an invisible one that reorders or hides text:
/// the bidirectional embeddings, overrides and isolates (U+202A–U+202E, U+2066–U+2069,
/// the "Trojan Source" characters), zero-width spaces (U+200B, U+2060) and U+FEFF.
pub fn is_hidden(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200b}' | '\u{2060}' | '\u{feff}'
        )
}

/// `url` with the user information of its authority (`user:password@`, a token) shown as
/// `***@`, so that no error or output repeats a secret; an `ssh://` user name alone
/// (`git@`) is no secret and stays.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    match authority.rsplit_once('@') {
        Some((user, _)) if scheme.eq_ignore_ascii_case("ssh") && !user.contains(':') => {
            url.to_string()
        }
        Some((_, host)) => format!("{scheme}://***@{host}{tail}"),
        None => url.to_string(),
    }
}

/// Serializes a URL redacted (`redact_url`): `#[serde(serialize_with = ...)]`.
pub fn serialize_redacted<T: AsRef<str>, S: serde::Serializer>(
    url: &T,
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_str(&redact_url(url.as_ref()))
}

/// `serialize_redacted` of an optional URL.
pub fn serialize_redacted_opt<S: serde::Serializer>(
    url: &Option<String>,
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    match url {
        Some(u) => s.serialize_some(&redact_url(u)),
        None => s.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reordering_and_invisible_characters_are_hidden_ones() {
        for c in [
            '\n', '\u{7f}', '\u{1b}', '\u{202e}', '\u{2067}', '\u{200b}', '\u{feff}',
        ] {
            assert!(is_hidden(c), "{c:?}");
        }
        for c in ['a', ' ', 'é', 'ש', '\u{200d}', '\u{200f}'] {
            assert!(!is_hidden(c), "{c:?}");
        }
    }

    #[test]
    fn user_information_of_a_url_is_redacted() {
        for (given, shown) in [
            ("https://u:s3cret@h.org/r", "https://***@h.org/r"),
            ("https://tok3n@h.org/r", "https://***@h.org/r"),
            ("ssh://git:s3cret@h.org/r", "ssh://***@h.org/r"),
            ("ssh://git@h.org/r", "ssh://git@h.org/r"),
            ("https://h.org/r@v1", "https://h.org/r@v1"),
            ("file:///tmp/x", "file:///tmp/x"),
            ("not a url", "not a url"),
        ] {
            assert_eq!(redact_url(given), shown);
        }
    }
}
