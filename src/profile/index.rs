//! `profile.json`: the generation index, one entry per generation.
//!
//! The index is what every generation operation reads (numbers, hashes, dates, labels,
//! pins), so that none of them depends on how many generations there are. Readers keep
//! keys they do not know, at the top and in every entry.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The index format this version writes and understands.
pub const FORMAT: u32 = 1;

/// The longest label, in characters.
pub const MAX_LABEL_CHARS: usize = 200;

/// Keys of a newer writer, kept as they are.
pub type Other = serde_json::Map<String, serde_json::Value>;

/// One generation: a number, the bundle it points to, when it was made, and the operator's
/// metadata.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Generation {
    pub number: u32,
    pub hash: String,
    /// RFC 3339, UTC, whole seconds.
    pub created_at: String,
    pub label: Option<String>,
    pub pinned: bool,
    #[serde(flatten)]
    pub other: Other,
}

/// Reads an entry key by key: serde's `flatten` would first buffer every entry whole, and
/// the index is read by every generation command, with up to thousands of entries.
impl<'de> Deserialize<'de> for Generation {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        d.deserialize_map(EntryVisitor)
    }
}

/// A key of an entry; known keys are matched without allocating.
enum Key {
    Number,
    Hash,
    CreatedAt,
    Label,
    Pinned,
    Other(String),
}

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct KeyVisitor;
        impl serde::de::Visitor<'_> for KeyVisitor {
            type Value = Key;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a key")
            }
            fn visit_str<E: serde::de::Error>(self, key: &str) -> std::result::Result<Key, E> {
                Ok(match key {
                    "number" => Key::Number,
                    "hash" => Key::Hash,
                    "created_at" => Key::CreatedAt,
                    "label" => Key::Label,
                    "pinned" => Key::Pinned,
                    other => Key::Other(other.to_string()),
                })
            }
        }
        d.deserialize_identifier(KeyVisitor)
    }
}

struct EntryVisitor;

impl<'de> serde::de::Visitor<'de> for EntryVisitor {
    type Value = Generation;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a generation entry")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(
        self,
        mut map: A,
    ) -> std::result::Result<Generation, A::Error> {
        use serde::de::Error as _;
        let (mut number, mut hash, mut created_at) = (None, None, None);
        let (mut label, mut pinned, mut other) = (None, false, Other::new());
        while let Some(key) = map.next_key::<Key>()? {
            match key {
                Key::Number => number = Some(map.next_value()?),
                Key::Hash => hash = Some(map.next_value()?),
                Key::CreatedAt => created_at = Some(map.next_value()?),
                Key::Label => label = map.next_value()?,
                Key::Pinned => pinned = map.next_value()?,
                Key::Other(key) => {
                    other.insert(key, map.next_value()?);
                }
            }
        }
        Ok(Generation {
            number: number.ok_or_else(|| A::Error::missing_field("number"))?,
            hash: hash.ok_or_else(|| A::Error::missing_field("hash"))?,
            created_at: created_at.ok_or_else(|| A::Error::missing_field("created_at"))?,
            label,
            pinned,
            other,
        })
    }
}

impl Generation {
    /// A new, unpinned generation made now.
    pub fn new(number: u32, hash: &str, label: Option<String>) -> Generation {
        Generation {
            number,
            hash: hash.to_string(),
            created_at: rfc3339(chrono::Utc::now()),
            label,
            pinned: false,
            other: Other::new(),
        }
    }
}

/// A time as the index stores it: RFC 3339, UTC, whole seconds.
pub fn rfc3339(time: chrono::DateTime<chrono::Utc>) -> String {
    time.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// The contents of `profile.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Index {
    pub format: u32,
    pub generations: Vec<Generation>,
    #[serde(flatten)]
    pub other: Other,
}

/// The index as written, borrowing its parts.
#[derive(Serialize)]
struct IndexRef<'a> {
    format: u32,
    generations: &'a [Generation],
    #[serde(flatten)]
    other: &'a Other,
}

/// Parses and checks `profile.json` (read from `path`).
pub fn parse(text: &str, path: &Path) -> Result<Index> {
    let corrupt = |reason: String| Error::Corrupt {
        path: path.to_path_buf(),
        reason,
    };
    let mut index: Index = serde_json::from_str(text)
        .map_err(|e| corrupt(format!("unreadable generation index: {e}")))?;
    if index.format != FORMAT {
        return Err(corrupt(format!(
            "generation index format {} (this cosmo-bundle understands {FORMAT}); use a newer cosmo-bundle",
            index.format
        )));
    }
    for g in &index.generations {
        if !is_hash(&g.hash) {
            return Err(corrupt(format!(
                "generation {} has the hash {:?}, not 32 hex digits",
                g.number, g.hash
            )));
        }
    }
    index.generations.sort_by_key(|g| g.number);
    if let Some(w) = index
        .generations
        .windows(2)
        .find(|w| w[0].number == w[1].number)
    {
        return Err(corrupt(format!(
            "generation {} is listed twice",
            w[0].number
        )));
    }
    Ok(index)
}

/// The text of `profile.json` for these generations (sorted by number by the caller):
/// compact, one generation per line.
pub fn render(generations: &[Generation], other: &Other) -> Vec<u8> {
    let mut text = Vec::new();
    let mut ser = serde_json::Serializer::with_formatter(&mut text, LinePerEntry { depth: 0 });
    IndexRef {
        format: FORMAT,
        generations,
        other,
    }
    .serialize(&mut ser)
    .expect("the index serialises");
    text.push(b'\n');
    text
}

/// Compact JSON with a line break before each element of an array in the top object.
struct LinePerEntry {
    depth: usize,
}

impl serde_json::ser::Formatter for LinePerEntry {
    fn begin_array<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.depth += 1;
        w.write_all(b"[")
    }

    fn end_array<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.depth -= 1;
        w.write_all(if self.depth == 1 { b"\n]" } else { b"]" })
    }

    fn begin_array_value<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        let sep: &[u8] = if first { b"" } else { b"," };
        w.write_all(sep)?;
        if self.depth == 2 {
            w.write_all(b"\n")?;
        }
        Ok(())
    }

    fn begin_object<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.depth += 1;
        w.write_all(b"{")
    }

    fn end_object<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.depth -= 1;
        w.write_all(b"}")
    }
}

/// Whether `text` is a bundle hash (a store path name): 32 hex digits.
pub fn is_hash(text: &str) -> bool {
    text.len() == crate::store::hash::HASH_LEN && text.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The number of a new generation: one above the highest used, by an entry or by any name
/// in `generations/`.
pub fn next_number(generations: &[Generation], used: impl IntoIterator<Item = u32>) -> u32 {
    generations
        .iter()
        .map(|g| g.number)
        .chain(used)
        .max()
        .map_or(1, |n| n + 1)
}

/// The generations below `current`, highest first: rollback's candidates in order.
pub fn below(generations: &[Generation], current: u32) -> impl Iterator<Item = &Generation> {
    generations.iter().rev().filter(move |g| g.number < current)
}

/// Checks a label: at most 200 characters, one line, no control characters. An empty
/// label means none.
pub fn check_label(label: &str) -> Result<Option<String>> {
    let hint = "give a short single-line note, e.g. \"before the zigbee update\"";
    if label.chars().count() > MAX_LABEL_CHARS {
        return Err(Error::input(
            format!(
                "the label is {} characters long; at most {MAX_LABEL_CHARS} are allowed",
                label.chars().count()
            ),
            hint,
        ));
    }
    if let Some(c) = label.chars().find(|c| c.is_control()) {
        return Err(Error::input(
            format!("the label contains the control character {c:?}; it must be one line of text"),
            hint,
        ));
    }
    Ok((!label.is_empty()).then(|| label.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gen_(number: u32) -> Generation {
        Generation::new(number, &format!("{number:032x}"), None)
    }

    #[test]
    fn next_number_is_one_above_every_used_number() {
        assert_eq!(next_number(&[], []), 1);
        let gens = [gen_(1), gen_(4)];
        assert_eq!(next_number(&gens, []), 5);
        // A name in generations/ that is no entry (a stray directory) is never reused.
        assert_eq!(next_number(&gens, [9]), 10);
        assert_eq!(next_number(&gens, [2]), 5);
    }

    #[test]
    fn below_lists_rollback_candidates_highest_first() {
        let gens = [gen_(1), gen_(2), gen_(5), gen_(7)];
        let numbers = |c| below(&gens, c).map(|g| g.number).collect::<Vec<_>>();
        assert_eq!(numbers(7), [5, 2, 1]);
        assert_eq!(numbers(1), Vec::<u32>::new());
        // A dangling current (999) rolls back to the highest generation there is.
        assert_eq!(numbers(999), [7, 5, 2, 1]);
    }

    #[test]
    fn unknown_keys_survive_a_round_trip() {
        let text = r#"{"format": 1, "activation": {"state": "ok"}, "generations": [
            {"number": 1, "hash": "0123456789abcdef0123456789abcdef",
             "created_at": "2026-01-01T00:00:00Z", "label": "first", "pinned": true,
             "health": "good"}]}"#;
        let index = parse(text, Path::new("profile.json")).unwrap();
        assert_eq!(index.generations[0].label.as_deref(), Some("first"));
        assert!(index.generations[0].pinned);
        let text = render(&index.generations, &index.other);
        // One generation per line, between the opening and the closing line.
        let lines: Vec<&str> = std::str::from_utf8(&text).unwrap().lines().collect();
        assert_eq!(lines.len(), 3, "{lines:?}");
        assert!(lines[1].starts_with(r#"{"number":1,"#), "{lines:?}");
        let again: serde_json::Value = serde_json::from_slice(&text).unwrap();
        assert_eq!(again["activation"]["state"], "ok");
        assert_eq!(again["generations"][0]["health"], "good");
        assert_eq!(again["generations"][0]["pinned"], true);
    }

    #[test]
    fn missing_label_and_pin_default_and_bad_indexes_are_corrupt() {
        let ok = r#"{"format": 1, "generations": [{"number": 3,
            "hash": "0123456789abcdef0123456789abcdef", "created_at": "2026-01-01T00:00:00Z"}]}"#;
        let index = parse(ok, Path::new("p")).unwrap();
        assert_eq!(
            (
                index.generations[0].label.clone(),
                index.generations[0].pinned
            ),
            (None, false)
        );
        for bad in [
            "not json",
            r#"{"format": 2, "generations": []}"#,
            r#"{"format": 1, "generations": [{"number": 1, "hash": "../../etc", "created_at": "x"}]}"#,
            r#"{"format": 1, "generations": [
                {"number": 1, "hash": "0123456789abcdef0123456789abcdef", "created_at": "x"},
                {"number": 1, "hash": "0123456789abcdef0123456789abcdef", "created_at": "x"}]}"#,
        ] {
            assert!(
                matches!(parse(bad, Path::new("p")), Err(Error::Corrupt { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn labels_are_short_single_lines() {
        assert_eq!(check_label("").unwrap(), None);
        assert_eq!(
            check_label("before zigbee").unwrap().as_deref(),
            Some("before zigbee")
        );
        assert!(check_label(&"é".repeat(200)).is_ok());
        assert!(check_label(&"é".repeat(201)).is_err());
        assert!(check_label("two\nlines").is_err());
        assert!(check_label("tab\there").is_err());
        assert!(check_label("esc\u{1b}[31m").is_err());
    }
}
