//! Normalisation: one canonical, lower-case view of a text, and a count of every trick
//! that was undone to get it.
//!
//! Attackers write `ｉｇｎｏｒｅ` (fullwidth), `іgnоrе` (Cyrillic і and о among Latin
//! letters), `ig\u{200B}nore` (a zero-width space inside the word) or hide a whole
//! instruction in Unicode tag characters that no screen shows. The rules are written
//! against the canonical view, so each trick must be undone first; and since an honest
//! text rarely needs any of them, each one undone is counted as a signal of its own.
//!
//! Steps, in order:
//! 1. Unicode tag characters (U+E0020–U+E007E, "ASCII smuggling") are taken out and
//!    decoded into a separate hidden text.
//! 2. Zero-width and other invisible format characters are removed, and bidirectional
//!    controls (the "Trojan Source" characters) are removed and counted apart.
//! 3. NFKC folds compatibility forms: fullwidth, mathematical alphanumerics, circled and
//!    superscript letters, ligatures.
//! 4. Lower case; typographic quotes become ASCII quotes.
//! 5. In a word that mixes ASCII letters with Cyrillic or Greek look-alikes, the
//!    look-alikes are folded to Latin. Words wholly in another script are left alone, so
//!    Russian or Greek text keeps its meaning for the rules written in those languages.
//! 6. Runs of spaces and tabs become one space; runs of line breaks one line break (the
//!    rules for fake chat turns need line starts).

use unicode_normalization::UnicodeNormalization as _;

/// The canonical view and what was undone to get it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Normalized {
    /// NFKC, lower case, look-alikes folded, invisible characters removed, spaces
    /// collapsed.
    pub text: String,
    /// Invisible format characters removed (zero-width spaces and joiners inside words,
    /// word joiners, soft hyphens, variation selectors used outside emoji…).
    pub invisible: usize,
    /// Bidirectional control characters removed.
    pub bidi: usize,
    /// Look-alike letters folded inside mixed-script words.
    pub confusables: usize,
    /// Characters changed by NFKC (fullwidth, mathematical and similar forms).
    pub compatibility: usize,
    /// The text hidden in Unicode tag characters, decoded to ASCII (empty if none).
    pub tag_text: String,
}

/// True for characters removed as invisible formatting.
fn is_invisible(ch: char) -> bool {
    matches!(
        ch,
        '\u{00AD}' // soft hyphen
            | '\u{034F}' // combining grapheme joiner
            | '\u{115F}' | '\u{1160}' | '\u{3164}' | '\u{FFA0}' // Hangul fillers
            | '\u{180E}' // Mongolian vowel separator
            | '\u{200B}'..='\u{200D}' // zero-width space, non-joiner, joiner
            | '\u{2060}'..='\u{2064}' // word joiner, invisible operators
            | '\u{206A}'..='\u{206F}' // deprecated format characters
            | '\u{FEFF}' // zero-width no-break space (BOM)
            | '\u{FE00}'..='\u{FE0F}' // variation selectors
            | '\u{E0100}'..='\u{E01EF}' // variation selectors supplement
            | '\u{E0000}'..='\u{E007F}' // tag characters (decoded separately)
            | '\u{1BCA0}'..='\u{1BCA3}' // shorthand format controls
    )
}

/// True for bidirectional controls.
fn is_bidi_control(ch: char) -> bool {
    matches!(ch, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Whether removing `ch` between `before` and `after` is worth a signal. Zero-width
/// characters have honest uses (joiners in emoji and in Persian or Indic scripts, break
/// opportunities in Thai, stray ones in copied web text); splitting a Latin word so a
/// filter cannot read it is not one of them. Tag characters and the variation selectors
/// supplement carry hidden data and always count.
fn suspicious_invisible(ch: char, before: Option<char>, after: Option<char>) -> bool {
    match ch {
        '\u{00AD}' => false, // soft hyphens are ordinary in copied prose
        '\u{E0000}'..='\u{E007F}' | '\u{E0100}'..='\u{E01EF}' => true,
        _ => {
            before.is_some_and(|c| c.is_ascii_alphanumeric())
                && after.is_some_and(|c| c.is_ascii_alphanumeric())
        }
    }
}

/// The Latin letter a Cyrillic or Greek look-alike stands for (after lower-casing).
fn latin_lookalike(ch: char) -> Option<char> {
    Some(match ch {
        'а' | 'α' | 'ɑ' => 'a',
        'в' | 'β' => 'b',
        'с' | 'ϲ' => 'c',
        'ԁ' => 'd',
        'е' | 'ε' => 'e',
        'ɡ' => 'g',
        'і' | 'ι' | 'ı' | 'ɩ' => 'i',
        'ј' | 'ϳ' | 'ȷ' => 'j',
        'κ' | 'к' => 'k',
        'ӏ' => 'l',
        'м' => 'm',
        'η' => 'n',
        'һ' | 'н' => 'h',
        'о' | 'ο' => 'o',
        'р' | 'ρ' => 'p',
        'ԛ' => 'q',
        'ѕ' => 's',
        'т' | 'τ' => 't',
        'υ' | 'ս' => 'u',
        'ν' | 'ѵ' => 'v',
        'ԝ' | 'ω' => 'w',
        'х' | 'χ' => 'x',
        'у' | 'γ' => 'y',
        _ => return None,
    })
}

/// The Latin letter a small capital or similar Latin-script look-alike stands for. These
/// are folded wherever they occur: honest prose does not spell words in small capitals.
fn small_capital(ch: char) -> Option<char> {
    Some(match ch {
        'ᴀ' => 'a',
        'ʙ' => 'b',
        'ᴄ' => 'c',
        'ᴅ' => 'd',
        'ᴇ' => 'e',
        'ꜰ' => 'f',
        'ɢ' => 'g',
        'ʜ' => 'h',
        'ɪ' => 'i',
        'ᴊ' => 'j',
        'ᴋ' => 'k',
        'ʟ' => 'l',
        'ᴍ' => 'm',
        'ɴ' => 'n',
        'ᴏ' => 'o',
        'ᴘ' => 'p',
        'ʀ' => 'r',
        'ꜱ' => 's',
        'ᴛ' => 't',
        'ᴜ' => 'u',
        'ᴠ' => 'v',
        'ᴡ' => 'w',
        'ʏ' => 'y',
        'ᴢ' => 'z',
        _ => return None,
    })
}

fn is_greek(ch: char) -> bool {
    ('\u{0370}'..='\u{03FF}').contains(&ch)
}

/// The canonical view of `text`. See the module docs.
#[must_use]
pub fn normalize(text: &str) -> Normalized {
    let mut out = Normalized::default();
    // Steps 1 and 2 on the raw characters.
    let mut visible = String::with_capacity(text.len());
    let mut previous: Option<char> = None;
    let mut chars = text.chars().peekable();
    while let Some(ch) = chars.next() {
        if ('\u{E0020}'..='\u{E007E}').contains(&ch) {
            // In range, so the offset is printable ASCII.
            out.tag_text.push(char::from(u8::try_from(u32::from(ch) - 0xE0000).unwrap_or(b'?')));
            continue;
        }
        if is_bidi_control(ch) {
            out.bidi += 1;
            continue;
        }
        if is_invisible(ch) {
            if suspicious_invisible(ch, previous, chars.peek().copied()) {
                out.invisible += 1;
            }
            continue;
        }
        previous = Some(ch);
        visible.push(ch);
    }
    // Step 3: NFKC, counting the characters it changed (ASCII never changes).
    let folded: String = if visible.is_ascii() {
        visible
    } else {
        let nfkc: String = visible.nfkc().collect();
        out.compatibility =
            visible.chars().filter(|c| !c.is_ascii() && !c.nfkc().eq(std::iter::once(*c))).count();
        nfkc
    };
    // Steps 4 to 6, word by word.
    out.text.reserve(folded.len());
    let mut word = String::new();
    let mut pending_space = false;
    let mut pending_newline = false;
    let flush = |word: &mut String, out: &mut Normalized, space: &mut bool, newline: &mut bool| {
        if word.is_empty() {
            return;
        }
        if !out.text.is_empty() {
            if *newline {
                out.text.push('\n');
            } else if *space {
                out.text.push(' ');
            }
        }
        *space = false;
        *newline = false;
        let small_capitals = word.chars().filter(|c| small_capital(*c).is_some()).count();
        if small_capitals > 0 {
            out.confusables += small_capitals;
            *word = word.chars().map(|c| small_capital(c).unwrap_or(c)).collect();
        }
        let has_ascii_letter = word.bytes().any(|b| b.is_ascii_alphabetic());
        let lookalikes = word.chars().filter(|c| latin_lookalike(*c).is_some()).count();
        if has_ascii_letter && lookalikes > 0 {
            // Greek letters beside Latin ones are ordinary in mathematics (`cosα`, `2π`):
            // folded, but not counted.
            out.confusables +=
                word.chars().filter(|c| latin_lookalike(*c).is_some() && !is_greek(*c)).count();
            out.text.extend(word.chars().map(|c| latin_lookalike(c).unwrap_or(c)));
        } else {
            out.text.push_str(word);
        }
        word.clear();
    };
    for ch in folded.chars() {
        if ch == '\n' || ch == '\r' || ch == '\u{2028}' || ch == '\u{2029}' || ch == '\u{0085}' {
            flush(&mut word, &mut out, &mut pending_space, &mut pending_newline);
            pending_newline = true;
        } else if ch.is_whitespace() {
            flush(&mut word, &mut out, &mut pending_space, &mut pending_newline);
            pending_space = true;
        } else {
            let ch = match ch {
                '\u{2018}' | '\u{2019}' | '\u{201A}' | '\u{201B}' | '\u{2032}' | '`' => '\'',
                '\u{201C}' | '\u{201D}' | '\u{201E}' | '\u{201F}' | '\u{00AB}' | '\u{00BB}' => '"',
                _ => ch,
            };
            if ch.is_ascii() {
                word.push(ch.to_ascii_lowercase());
            } else {
                word.extend(ch.to_lowercase());
            }
        }
    }
    flush(&mut word, &mut out, &mut pending_space, &mut pending_newline);
    out
}
