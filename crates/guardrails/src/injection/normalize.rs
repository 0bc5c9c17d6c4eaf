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
//!    Hangul fillers and the Braille blank, which render as space, become spaces.
//! 3. NFKD folds compatibility forms (fullwidth, mathematical alphanumerics, circled and
//!    superscript letters, ligatures) and combining marks are dropped ([`fold_marks`]):
//!    `ïgnörë`, underlined `i̲g̲n̲o̲r̲e̲` and the dotted `İ` become plain letters. Rules and
//!    their anchors are folded the same way, so accented rules still match.
//! 4. Lower case; typographic quotes become ASCII quotes.
//! 5. Small capitals (`ɪɢɴᴏʀᴇ`) are folded wherever they occur. In a word that mixes
//!    ASCII letters with Cyrillic, Greek or Armenian look-alikes, the look-alikes are
//!    folded to Latin; so is a word made only of look-alikes when a neighbouring word is
//!    Latin (`your ѕуѕтем prompt`). Words of another script among their own kind are left
//!    alone, so Russian or Greek text keeps its meaning for the rules in those languages.
//! 6. Runs of spaces and tabs become one space; runs of line breaks one line break (the
//!    rules for fake chat turns need line starts).
//!
//! Every trick undone is counted, and all but one are scored as signals by the detector:
//! compatibility forms are only reported, since fullwidth punctuation is ordinary in
//! Chinese and Japanese text.

use unicode_normalization::UnicodeNormalization as _;

/// The canonical view and what was undone to get it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Normalized {
    /// NFKD without combining marks, lower case, look-alikes folded, invisible
    /// characters removed, spaces collapsed.
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
    /// The text with invisible, bidi and tag characters removed but case and forms kept:
    /// what the payload decoders read (a zero-width space inside base64 cannot hide it).
    pub visible: String,
}

/// True for characters removed as invisible formatting.
fn is_invisible(ch: char) -> bool {
    matches!(
        ch,
        '\u{00AD}' // soft hyphen
            | '\u{034F}' // combining grapheme joiner
            | '\u{200B}'..='\u{200D}' // zero-width space, non-joiner, joiner
            | '\u{2060}'..='\u{2065}' // word joiner, invisible operators
            | '\u{17B4}' | '\u{17B5}' // Khmer inherent vowels
            | '\u{180B}'..='\u{180F}' // Mongolian variation selectors and vowel separator
            | '\u{FFF9}'..='\u{FFFB}' // interlinear annotation controls
            | '\u{1D173}'..='\u{1D17A}' // musical formatting controls
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
        'о' | 'ο' | 'օ' => 'o',
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

/// Characters some writers use as blanks: Hangul fillers and the Braille blank render as
/// space, so they are read as a space rather than deleted (deleting them would glue the
/// words either side into one).
fn is_blank(ch: char) -> bool {
    matches!(ch, '\u{115F}' | '\u{1160}' | '\u{3164}' | '\u{FFA0}' | '\u{2800}')
}

/// Decomposes `text` (NFKD) and drops combining marks: `ïgnörë`, `i̲g̲n̲o̲r̲e̲` and the
/// dotted `İ` all become plain letters. The rules, their anchors and the text all go
/// through this same fold, so a rule written with accents (`précédentes`, `órdenes`)
/// still matches, whether or not the text has them.
#[must_use]
pub fn fold_marks(text: &str) -> String {
    if text.is_ascii() {
        return text.to_owned();
    }
    text.nfkd().filter(|c| !unicode_normalization::char::is_combining_mark(*c)).collect()
}

/// Lower case, with typographic quotes made ASCII.
fn lower(ch: char, word: &mut String) {
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

fn has_latin_letter(word: &str) -> bool {
    word.bytes().any(|b| b.is_ascii_alphabetic())
}

/// The canonical view of `text`. See the module docs.
#[must_use]
pub fn normalize(text: &str) -> Normalized {
    let mut out = Normalized::default();
    // Steps 1 and 2 on the raw characters.
    let mut visible = String::with_capacity(text.len());
    let mut previous: Option<char> = None;
    // Inside an emoji flag (🏴, tag letters, CANCEL TAG) the tags spell a region code,
    // not a hidden message.
    let mut in_flag = false;
    let mut chars = text.chars().peekable();
    while let Some(ch) = chars.next() {
        if ('\u{E0020}'..='\u{E007F}').contains(&ch) {
            if in_flag {
                in_flag = ch != '\u{E007F}';
                continue;
            }
            if ch == '\u{E007F}' {
                out.invisible += 1;
            } else {
                // In range, so the offset is printable ASCII.
                out.tag_text.push(char::from(u8::try_from(u32::from(ch) - 0xE0000).unwrap_or(b'?')));
            }
            continue;
        }
        in_flag = ch == '\u{1F3F4}';
        if is_bidi_control(ch) {
            out.bidi += 1;
            continue;
        }
        if is_blank(ch) {
            if suspicious_invisible(ch, previous, chars.peek().copied()) {
                out.invisible += 1;
            }
            previous = Some(' ');
            visible.push(' ');
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
    // Step 3: compatibility forms and combining marks folded, counting the characters
    // NFKC alone would change (ASCII never changes).
    let folded = if visible.is_ascii() {
        visible.clone()
    } else {
        out.compatibility =
            visible.chars().filter(|c| !c.is_ascii() && !c.nfkc().eq(std::iter::once(*c))).count();
        fold_marks(&visible)
    };
    out.visible = visible;
    // Step 4: lower case, split into words, each remembering whether a line break came
    // before it.
    let mut words: Vec<(String, bool)> = Vec::new();
    let mut word = String::new();
    let mut newline = false;
    for ch in folded.chars() {
        let is_newline = matches!(ch, '\n' | '\r' | '\u{2028}' | '\u{2029}' | '\u{0085}');
        if is_newline || ch.is_whitespace() {
            if !word.is_empty() {
                words.push((std::mem::take(&mut word), newline));
                newline = false;
            }
            newline |= is_newline;
        } else {
            lower(ch, &mut word);
        }
    }
    if !word.is_empty() {
        words.push((word, newline));
    }
    // Step 5: look-alikes, with the neighbouring words in view.
    out.text.reserve(folded.len());
    for i in 0..words.len() {
        let neighbour_is_latin = (i > 0 && has_latin_letter(&words[i - 1].0))
            || words.get(i + 1).is_some_and(|w| has_latin_letter(&w.0));
        let (word, after_newline) = &words[i];
        if i > 0 {
            out.text.push(if *after_newline { '\n' } else { ' ' });
        }
        let small_capitals = word.chars().filter(|c| small_capital(*c).is_some()).count();
        let word: String = if small_capitals > 0 {
            out.confusables += small_capitals;
            word.chars().map(|c| small_capital(c).unwrap_or(c)).collect()
        } else {
            word.clone()
        };
        let letters = word.chars().filter(|c| c.is_alphabetic()).count();
        let lookalikes = word.chars().filter(|c| latin_lookalike(*c).is_some()).count();
        let mixed = lookalikes > 0 && has_latin_letter(&word);
        // A word spelled wholly in look-alikes (`ѕуѕтем`) among Latin words is a disguise
        // too; a Russian word among Russian words is not.
        let disguised = lookalikes >= 2 && lookalikes == letters && neighbour_is_latin;
        if mixed || disguised {
            // Greek letters beside Latin ones are ordinary in mathematics (`cosα`, `2π`):
            // folded, but not counted.
            out.confusables +=
                word.chars().filter(|c| latin_lookalike(*c).is_some() && !is_greek(*c)).count();
            out.text.extend(word.chars().map(|c| latin_lookalike(c).unwrap_or(c)));
        } else {
            out.text.push_str(&word);
        }
    }
    out
}
