//! `profile.json`: the generation index, one entry per generation.
//!
//! The index is what every generation operation reads (numbers, hashes, dates, labels,
//! pins), so that none of them depends on how many generations there are. Readers keep
//! keys they do not know, at the top and in every entry.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::path::Path;
use std::rc::Rc;

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

/// One entry as [`render`] writes it on its line: compact JSON, without the comma.
pub fn render_entry(g: &Generation) -> String {
    serde_json::to_string(g).expect("an entry serialises")
}

/// How [`render`] starts the index.
const HEAD: &str = "{\"format\":1,\"generations\":[";

/// The text of `profile.json` with where each entry's line is, for lookups that parse only
/// the entries they need and for writes that splice one line in. It is for text that
/// [`render`] wrote (one entry per line, numbers ascending: `profile.seen` is only recorded
/// for such an index) and refuses a text plainly laid out otherwise.
#[derive(Debug, Clone)]
pub struct Lines {
    text: Rc<String>,
    /// Each entry's number and the bytes of its JSON object (without the comma).
    entries: Vec<Entry>,
    /// Where the line break before the `]` closing the entries is.
    end: usize,
}

/// Where one entry is in the text (offsets fit in 32 bits: [`Lines::scan`] refuses more).
#[derive(Debug, Clone, Copy)]
struct Entry {
    number: u32,
    start: u32,
    end: u32,
}

impl Entry {
    fn new(number: u32, range: std::ops::Range<usize>) -> Entry {
        Entry {
            number,
            start: range.start as u32,
            end: range.end as u32,
        }
    }

    fn range(&self) -> std::ops::Range<usize> {
        self.start as usize..self.end as usize
    }
}

impl Lines {
    /// Finds the entries' lines; gives `text` back when it is not laid out as [`render`]
    /// lays it out.
    pub fn scan(text: String) -> std::result::Result<Lines, String> {
        match Lines::find(&text) {
            Some((entries, end)) => Ok(Lines {
                text: Rc::new(text),
                entries,
                end,
            }),
            None => Err(text),
        }
    }

    /// The entries' lines and the end of the last, if `text` is laid out as [`render`]
    /// lays it out.
    fn find(text: &str) -> Option<(Vec<Entry>, usize)> {
        let bytes = text.as_bytes();
        let mut pos = HEAD.len();
        if !text.starts_with(HEAD) || u32::try_from(text.len()).is_err() {
            return None;
        }
        // An entry line is about 120 bytes.
        let mut entries: Vec<Entry> = Vec::with_capacity(text.len() / 100 + 1);
        loop {
            let rest = &bytes[pos..];
            if rest.starts_with(b"\n]") {
                break;
            }
            let sep: &[u8] = if entries.is_empty() { b"\n" } else { b",\n" };
            if !rest.starts_with(sep) {
                return None;
            }
            let start = pos + sep.len();
            let newline = start + text[start..].find('\n')?;
            let end = if bytes[newline - 1] == b',' {
                newline - 1
            } else {
                newline
            };
            let line = &text[start..end];
            let digits = line.strip_prefix("{\"number\":")?;
            let len = digits.bytes().take_while(u8::is_ascii_digit).count();
            let number: u32 = digits[..len].parse().ok()?;
            let ascending = entries.last().is_none_or(|last| last.number < number);
            if !(ascending && digits[len..].starts_with(',') && line.ends_with('}')) {
                return None;
            }
            entries.push(Entry::new(number, start..end));
            pos = end;
        }
        Some((entries, pos))
    }

    /// The text of the index.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The text of the index, given back.
    pub fn into_text(self) -> String {
        Rc::try_unwrap(self.text).unwrap_or_else(|shared| shared.as_ref().clone())
    }

    /// The text of the index, to share.
    pub fn shared_text(&self) -> Rc<String> {
        self.text.clone()
    }

    /// Every entry as `generations` lists it, lowest number first: a plain line borrowed
    /// from the text, any other parsed.
    pub fn listed<'a>(&'a self, path: &'a Path) -> impl Iterator<Item = Result<Listed<'a>>> + 'a {
        (0..self.entries.len()).map(move |i| {
            let entry = self.entries[i];
            match parse_plain_ref(&self.text[entry.range()]) {
                Some(l) if l.number == entry.number => Ok(l),
                _ => self.parse_entry(i, path).map(Listed::from),
            }
        })
    }

    /// The numbers of every entry, lowest first.
    pub fn numbers(&self) -> impl DoubleEndedIterator<Item = u32> + '_ {
        self.entries.iter().map(|e| e.number)
    }

    /// How many entries there are.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there is an entry numbered `number`.
    pub fn contains(&self, number: u32) -> bool {
        self.position(number).is_some()
    }

    /// The highest number, if there is an entry.
    pub fn last(&self) -> Option<u32> {
        self.entries.last().map(|e| e.number)
    }

    fn position(&self, number: u32) -> Option<usize> {
        self.entries
            .binary_search_by_key(&number, |e| e.number)
            .ok()
    }

    /// Entry `number`, parsed from its line (`path` names the index in errors).
    pub fn get(&self, number: u32, path: &Path) -> Result<Option<Generation>> {
        match self.position(number) {
            Some(i) => self.parse_entry(i, path).map(Some),
            None => Ok(None),
        }
    }

    /// The `i`th entry, parsed from its line.
    fn parse_entry(&self, i: usize, path: &Path) -> Result<Generation> {
        let Entry { number, .. } = self.entries[i];
        let line = &self.text[self.entries[i].range()];
        let g = match parse_plain(line) {
            Some(g) => g,
            None => serde_json::from_str(line).map_err(|e| Error::Corrupt {
                path: path.to_path_buf(),
                reason: format!("unreadable entry of generation {number}: {e}"),
            })?,
        };
        if g.number != number || !is_hash(&g.hash) {
            return Err(Error::Corrupt {
                path: path.to_path_buf(),
                reason: format!("the entry of generation {number} is not what it was"),
            });
        }
        Ok(g)
    }

    /// The whole index, each entry parsed from its line.
    pub fn parse_all(&self, path: &Path) -> Result<Index> {
        let generations = (0..self.entries.len())
            .map(|i| self.parse_entry(i, path))
            .collect::<Result<Vec<_>>>()?;
        Ok(Index {
            format: FORMAT,
            generations,
            other: self.other(path)?,
        })
    }

    /// The top-level keys other than `format` and `generations`: parsed from what follows
    /// the entries (`\n]`, then those keys, if any).
    pub fn other(&self, path: &Path) -> Result<Other> {
        let tail = self.text[self.end..]
            .strip_prefix("\n]")
            .unwrap_or_default();
        match tail.strip_prefix(',') {
            Some(keys) => serde_json::from_str(&format!("{{{keys}")).map_err(|e| Error::Corrupt {
                path: path.to_path_buf(),
                reason: format!("unreadable generation index: {e}"),
            }),
            None if tail.trim_end() == "}" => Ok(Other::new()),
            None => Err(Error::Corrupt {
                path: path.to_path_buf(),
                reason: "unreadable generation index: it does not end as written".into(),
            }),
        }
    }

    /// Adds `g` after the last entry (`g.number` above every number), in place: a text
    /// read with room to spare is not copied.
    pub fn add(&mut self, g: &Generation) {
        debug_assert!(self.last().is_none_or(|n| n < g.number));
        let sep = if self.entries.is_empty() { "\n" } else { ",\n" };
        let line = format!("{sep}{}", render_entry(g));
        let start = self.end + sep.len();
        let end = self.end + line.len();
        Rc::make_mut(&mut self.text).insert_str(self.end, &line);
        self.entries.push(Entry::new(g.number, start..end));
        self.end = end;
    }

    /// The index with `g` added after the last entry (see [`Lines::add`]).
    #[cfg(test)]
    pub fn with_added(&self, g: &Generation) -> Lines {
        let mut lines = self.clone();
        lines.add(g);
        lines
    }

    /// The index with the entry of `g.number` replaced by `g`, if there is one.
    pub fn with_changed(&self, g: &Generation) -> Option<Lines> {
        let range = self.entries[self.position(g.number)?].range();
        let entry = render_entry(g);
        let mut text = String::with_capacity(self.text.len() + entry.len());
        text.push_str(&self.text[..range.start]);
        text.push_str(&entry);
        text.push_str(&self.text[range.end..]);
        Lines::scan(text).ok()
    }
}

/// An entry as `generations` lists it, its text borrowed where it can be.
#[derive(Debug, Clone, PartialEq)]
pub struct Listed<'a> {
    pub number: u32,
    pub hash: Cow<'a, str>,
    pub created_at: Cow<'a, str>,
    pub label: Option<Cow<'a, str>>,
    pub pinned: bool,
    /// The entry's other keys (none for a plain line).
    pub other: Cow<'a, Other>,
}

impl<'a> From<&'a Generation> for Listed<'a> {
    fn from(g: &'a Generation) -> Listed<'a> {
        Listed {
            number: g.number,
            hash: Cow::Borrowed(&g.hash),
            created_at: Cow::Borrowed(&g.created_at),
            label: g.label.as_deref().map(Cow::Borrowed),
            pinned: g.pinned,
            other: Cow::Borrowed(&g.other),
        }
    }
}

impl From<Generation> for Listed<'_> {
    fn from(g: Generation) -> Self {
        Listed {
            number: g.number,
            hash: Cow::Owned(g.hash),
            created_at: Cow::Owned(g.created_at),
            label: g.label.map(Cow::Owned),
            pinned: g.pinned,
            other: Cow::Owned(g.other),
        }
    }
}

/// An entry line as [`render`] writes an entry with no other keys and no escaped text, or
/// `None` for any other line (which serde then reads).
fn parse_plain(line: &str) -> Option<Generation> {
    let l = parse_plain_ref(line)?;
    Some(Generation {
        number: l.number,
        hash: l.hash.into_owned(),
        created_at: l.created_at.into_owned(),
        label: l.label.map(Cow::into_owned),
        pinned: l.pinned,
        other: l.other.into_owned(),
    })
}

/// [`parse_plain`], borrowing the text. Every index entry is read by `generations`, so this
/// is what makes it cheap at thousands of them.
fn parse_plain_ref(line: &str) -> Option<Listed<'_>> {
    /// The text of a JSON string up to its closing quote, if it has no escapes.
    fn plain_string(s: &str) -> Option<(&str, &str)> {
        let end = s
            .bytes()
            .position(|b| b == b'"' || b == b'\\' || b < 0x20)?;
        (s.as_bytes()[end] == b'"').then(|| (&s[..end], &s[end + 1..]))
    }
    let rest = line.strip_prefix("{\"number\":")?;
    let len = rest.bytes().take_while(u8::is_ascii_digit).count();
    if len == 0 || (len > 1 && rest.starts_with('0')) {
        return None;
    }
    let number = rest[..len].parse().ok()?;
    let (hash, rest) = plain_string(rest[len..].strip_prefix(",\"hash\":\"")?)?;
    let (created_at, rest) = plain_string(rest.strip_prefix(",\"created_at\":\"")?)?;
    let rest = rest.strip_prefix(",\"label\":")?;
    let (label, rest) = match rest.strip_prefix("null") {
        Some(rest) => (None, rest),
        None => {
            let (label, rest) = plain_string(rest.strip_prefix('"')?)?;
            (Some(Cow::Borrowed(label)), rest)
        }
    };
    let rest = rest.strip_prefix(",\"pinned\":")?;
    let (pinned, rest) = match rest.strip_prefix("true") {
        Some(rest) => (true, rest),
        None => (false, rest.strip_prefix("false")?),
    };
    (rest == "}" && is_hash(hash)).then_some(Listed {
        number,
        hash: Cow::Borrowed(hash),
        created_at: Cow::Borrowed(created_at),
        label,
        pinned,
        other: Cow::Owned(Other::new()),
    })
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

/// Checks a label: at most 200 characters, one line, no control or invisible characters
/// (`text::is_hidden`). An empty
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
    if let Some(c) = label.chars().find(|c| crate::text::is_hidden(*c)) {
        return Err(Error::input(
            format!(
                "the label contains the control or invisible character {c:?}; it must be one line of visible text"
            ),
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
    fn lines_read_and_splice_exactly_what_render_writes() {
        let mut other = Other::new();
        other.insert("activation".into(), serde_json::json!({"state": [1, 2]}));
        let mut first = gen_(1);
        first
            .other
            .insert("health".into(), serde_json::json!(["ok", {"a": 1}]));
        first.label = Some("a \"quoted\"\nlabel".into());
        let mut gens = vec![first, gen_(3), gen_(12)];
        let text = String::from_utf8(render(&gens, &other)).unwrap();
        let lines = Lines::scan(text.clone()).unwrap();
        assert_eq!(lines.numbers().collect::<Vec<_>>(), [1, 3, 12]);
        let path = Path::new("profile.json");
        for g in &gens {
            assert_eq!(lines.get(g.number, path).unwrap().as_ref(), Some(g));
        }
        assert_eq!(lines.get(2, path).unwrap(), None);

        // Adding and changing an entry write what render would write.
        let added = gen_(13);
        let after = lines.with_added(&added);
        gens.push(added.clone());
        assert_eq!(after.text().as_bytes(), render(&gens, &other));
        assert_eq!(after.get(13, path).unwrap(), Some(added));
        let mut changed = gens[1].clone();
        changed.pinned = true;
        changed.label = Some("pinned".into());
        let after = after.with_changed(&changed).unwrap();
        gens[1] = changed.clone();
        assert_eq!(after.text().as_bytes(), render(&gens, &other));
        assert_eq!(after.get(3, path).unwrap(), Some(changed));
        assert!(after.with_changed(&gen_(7)).is_none());

        // From an empty index.
        let empty = String::from_utf8(render(&[], &Other::new())).unwrap();
        let after = Lines::scan(empty).unwrap().with_added(&gen_(1));
        assert_eq!(after.text().as_bytes(), render(&[gen_(1)], &Other::new()));
    }

    #[test]
    fn plain_lines_are_read_as_serde_reads_them_and_others_are_left_to_serde() {
        let h = "0123456789abcdef0123456789abcdef";
        let entry = |rest: &str| {
            format!(r#"{{"number":7,"hash":"{h}","created_at":"2026-01-01T00:00:00Z"{rest}"#)
        };
        for plain in [
            entry(r#","label":null,"pinned":false}"#),
            entry(r#","label":"before zigbée","pinned":true}"#),
            entry(r#","label":"","pinned":false}"#),
        ] {
            let g = parse_plain(&plain).unwrap_or_else(|| panic!("{plain}"));
            assert_eq!(g, serde_json::from_str::<Generation>(&plain).unwrap());
        }
        for other in [
            entry(r#","label":"a \"quote\"","pinned":false}"#),
            entry(r#","label":"tab\t","pinned":false}"#),
            entry(r#","label":null,"pinned":false,"health":"ok"}"#),
            entry(r#","pinned":false,"label":null}"#),
            entry(r#","label":null}"#),
            entry(r#","label":null,"pinned":false} "#),
            format!(r#"{{"number":07,"hash":"{h}","created_at":"x","label":null,"pinned":false}}"#),
            format!(
                r#"{{"number":99999999999,"hash":"{h}","created_at":"x","label":null,"pinned":false}}"#
            ),
        ] {
            assert_eq!(parse_plain(&other), None, "{other}");
        }
        // Serde reads the others; the index is the same either way.
        let mut gens = vec![gen_(1), gen_(2), gen_(3)];
        gens[1].label = Some("a \"quote\"".into());
        gens[2].other.insert("health".into(), "ok".into());
        let mut other = Other::new();
        other.insert("activation".into(), serde_json::json!([1, {"a": "}"}]));
        for other in [Other::new(), other] {
            let text = render(&gens, &other);
            let lines = Lines::scan(String::from_utf8(text.clone()).unwrap()).unwrap();
            let index = lines.parse_all(Path::new("p")).unwrap();
            assert_eq!(
                index,
                parse(std::str::from_utf8(&text).unwrap(), Path::new("p")).unwrap()
            );
        }
    }

    #[test]
    fn lines_refuse_any_other_layout() {
        let gens = [gen_(1), gen_(2)];
        let canonical = String::from_utf8(render(&gens, &Other::new())).unwrap();
        let compact = serde_json::to_string(&serde_json::json!({
            "format": 1, "generations": gens}))
        .unwrap();
        let pretty = serde_json::to_string_pretty(&serde_json::json!({
            "format": 1, "generations": gens}))
        .unwrap();
        let descending = canonical.replacen(r#"{"number":1,"#, r#"{"number":5,"#, 1);
        for text in [compact, pretty, descending] {
            assert!(Lines::scan(text.clone()).is_err(), "{text}");
        }
        assert!(Lines::scan(canonical).is_ok());
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
