//! Validators for the personal identifiers of more countries, wallets and travel
//! documents. Each is the issuing authority's published rule (a check digit, an
//! embedded birth date, an issued range); the table tests and the evaluation compare
//! them with an independent implementation (python-stdnum).

use super::{digits_of, luhn};

/// True when `year-month-day` is a day of the Gregorian calendar.
#[must_use]
pub fn real_date(year: u32, month: u32, day: u32) -> bool {
    let leap = (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400);
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    (1..=days).contains(&day)
}

/// The two-digit number at `d[i..i + 2]`.
fn pair(d: &[u32], i: usize) -> u32 {
    d[i] * 10 + d[i + 1]
}

/// Σ dᵢ·wᵢ over the shorter of the two.
fn weighted(d: &[u32], weights: &[u32]) -> u32 {
    d.iter().zip(weights).map(|(x, w)| x * w).sum()
}

/// ISO 7064 MOD 11,10 over all digits (the last one is the check digit): Germany's tax
/// id and Croatia's OIB.
#[must_use]
pub fn iso7064_mod_11_10(d: &[u32]) -> bool {
    let Some((&check, body)) = d.split_last() else { return false };
    let mut product = 10;
    for &x in body {
        let sum = match (x + product) % 10 {
            0 => 10,
            sum => sum,
        };
        product = (2 * sum) % 11;
    }
    (11 - product) % 10 == check
}

/// An Australian tax file number (eight or nine digits, weighted sum divisible by 11).
#[must_use]
pub fn au_tfn(text: &str) -> bool {
    let d = digits_of(text);
    matches!(d.len(), 8 | 9) && weighted(&d, &[1, 4, 3, 7, 5, 8, 6, 9, 10]).is_multiple_of(11)
}

/// An Australian Business Number (eleven digits): subtract one from the first digit,
/// and the weighted sum is divisible by 89.
#[must_use]
pub fn au_abn(text: &str) -> bool {
    let mut d = digits_of(text);
    // The two check digits are 11–99.
    if d.len() != 11 || pair(&d, 0) < 11 {
        return false;
    }
    d[0] -= 1;
    weighted(&d, &[10, 1, 3, 5, 7, 9, 11, 13, 15, 17, 19]).is_multiple_of(89)
}

/// An Australian Company Number (nine digits, weights 8…1, complement mod 10).
#[must_use]
pub fn au_acn(text: &str) -> bool {
    let d = digits_of(text);
    d.len() == 9 && (10 - weighted(&d, &[8, 7, 6, 5, 4, 3, 2, 1]) % 10) % 10 == d[8]
}

/// An Australian Medicare card number (ten digits, an optional eleventh for the person
/// on the card): first digit 2–6, weights 1 3 7 9 over the first eight, mod 10 is the
/// ninth.
#[must_use]
pub fn au_medicare(text: &str) -> bool {
    let d = digits_of(text);
    matches!(d.len(), 10 | 11)
        && (2..=6).contains(&d[0])
        && weighted(&d, &[1, 3, 7, 9, 1, 3, 7, 9]) % 10 == d[8]
        && d.get(10).is_none_or(|&issue| issue != 0)
}

/// A Singapore NRIC or FIN (`S1234567D`): series S/T (citizens) or F/G (foreigners),
/// weights 2 7 6 5 4 3 2, T and G add four, and the check letter of the series.
#[must_use]
pub fn sg_nric_fin(text: &str) -> bool {
    let bytes = text.as_bytes();
    if bytes.len() != 9 || !bytes[1..8].iter().all(u8::is_ascii_digit) {
        return false;
    }
    let d: Vec<u32> = bytes[1..8].iter().map(|b| u32::from(b - b'0')).collect();
    let mut sum = weighted(&d, &[2, 7, 6, 5, 4, 3, 2]);
    let letters: &[u8; 11] = match bytes[0] {
        b'S' => b"JZIHGFEDCBA",
        b'T' => {
            sum += 4;
            b"JZIHGFEDCBA"
        }
        b'F' => b"XWUTRQPNMLK",
        b'G' => {
            sum += 4;
            b"XWUTRQPNMLK"
        }
        _ => return false,
    };
    letters[(sum % 11) as usize] == bytes[8]
}

/// The value of `b` in the base-36 alphabet `0-9A-Z`.
fn base36(b: u8) -> Option<u32> {
    char::from(b).to_digit(36)
}

/// An Indian GSTIN (fifteen characters): a state code 01–38, the holder's PAN, an
/// entity number, `Z`, and the mod-36 check character.
#[must_use]
pub fn in_gstin(text: &str) -> bool {
    let bytes = text.as_bytes();
    if bytes.len() != 15 || !bytes[..2].iter().all(u8::is_ascii_digit) {
        return false;
    }
    let state = u32::from(bytes[0] - b'0') * 10 + u32::from(bytes[1] - b'0');
    if !(1..=38).contains(&state) {
        return false;
    }
    let mut sum = 0;
    for (i, &b) in bytes[..14].iter().enumerate() {
        let Some(value) = base36(b) else { return false };
        let product = value * if i % 2 == 0 { 1 } else { 2 };
        sum += product / 36 + product % 36;
    }
    base36(bytes[14]) == Some((36 - sum % 36) % 36)
}

/// A South Korean resident registration number (`YYMMDD-SNNNNNC`): a birth date whose
/// century the seventh digit gives, a place code ≤ 96, and the weighted check digit.
#[must_use]
pub fn kr_rrn(text: &str) -> bool {
    let d = digits_of(text);
    if d.len() != 13 {
        return false;
    }
    let century = match d[6] {
        1 | 2 | 5 | 6 => 1900,
        3 | 4 | 7 | 8 => 2000,
        _ => 1800,
    };
    let check = (11 - weighted(&d, &[2, 3, 4, 5, 6, 7, 8, 9, 2, 3, 4, 5]) % 11) % 10;
    real_date(century + pair(&d, 0), pair(&d, 2), pair(&d, 4)) && pair(&d, 7) <= 96 && check == d[12]
}

/// A Japanese individual number ("My Number", twelve digits) with its check digit.
#[must_use]
pub fn jp_my_number(text: &str) -> bool {
    let d = digits_of(text);
    if d.len() != 12 {
        return false;
    }
    let sum = weighted(&d, &[6, 5, 4, 3, 2, 7, 6, 5, 4, 3, 2]);
    let check = match sum % 11 {
        0 | 1 => 0,
        r => 11 - r,
    };
    check == d[11]
}

/// A Finnish personal identity code (`DDMMYYCZZZQ`): a real birth date in the century
/// the separator names, an individual number 002–899, and the mod-31 check character.
#[must_use]
pub fn fi_hetu(text: &str) -> bool {
    const CHECKS: &[u8; 31] = b"0123456789ABCDEFHJKLMNPRSTUVWXY";
    let bytes = text.as_bytes();
    if bytes.len() != 11 || !bytes[..6].iter().chain(&bytes[7..10]).all(u8::is_ascii_digit) {
        return false;
    }
    let century = match bytes[6] {
        b'+' => 1800,
        b'-' | b'U'..=b'Y' => 1900,
        b'A'..=b'F' => 2000,
        _ => return false,
    };
    let d = digits_of(&text[..6]);
    let individual = digits_of(&text[7..10]).iter().fold(0, |n, x| n * 10 + x);
    let number = d.iter().fold(0u64, |n, &x| n * 10 + u64::from(x)) * 1000 + u64::from(individual);
    real_date(century + pair(&d, 4), pair(&d, 2), pair(&d, 0))
        && (2..=899).contains(&individual)
        && CHECKS[(number % 31) as usize] == bytes[10]
}

/// A Norwegian fødselsnummer or D-number (eleven digits): two mod-11 check digits and
/// a birth date (day + 40 for D-numbers) in the century the individual number gives.
#[must_use]
pub fn no_fodselsnummer(text: &str) -> bool {
    let d = digits_of(text);
    if d.len() != 11 {
        return false;
    }
    let check = |weights: &[u32]| (11 - weighted(&d, weights) % 11) % 11;
    if check(&[3, 7, 6, 1, 8, 9, 4, 5, 2]) != d[9] || check(&[5, 4, 3, 2, 7, 6, 5, 4, 3, 2]) != d[10] {
        return false;
    }
    let (mut day, mut month, year) = (pair(&d, 0), pair(&d, 2), pair(&d, 4));
    if day > 40 {
        day -= 40;
    }
    if month > 40 {
        month -= 40;
    }
    let individual = d[6] * 100 + d[7] * 10 + d[8];
    let century = match individual {
        0..=499 => 1900,
        500..=749 if year >= 54 => 1800,
        500..=999 if year < 40 => 2000,
        900..=999 => 1900,
        _ => return false,
    };
    real_date(century + year, month, day)
}

/// A Danish CPR number (`DDMMYY-SSSS`): the birth date in the century that the seventh
/// digit and the year give (the mod-11 check was dropped in 2007).
#[must_use]
pub fn dk_cpr(text: &str) -> bool {
    let d = digits_of(text);
    if d.len() != 10 {
        return false;
    }
    let year = pair(&d, 4);
    let century = match d[6] {
        5..=8 if year >= 58 => 1800,
        0..=3 => 1900,
        4 | 9 if year >= 37 => 1900,
        _ => 2000,
    };
    real_date(century + year, pair(&d, 2), pair(&d, 0))
}

/// A Belgian national register number (`YY.MM.DD-SSS.CC`): the check is 97 minus the
/// first nine digits mod 97 (with a leading 2 for people born from 2000), and the
/// month field is 0–12 (BIS numbers, with +20/+40, are a different register).
#[must_use]
pub fn be_national_number(text: &str) -> bool {
    let d = digits_of(text);
    if d.len() != 11 || d.iter().all(|&x| x == 0) {
        return false;
    }
    let body = d[..9].iter().fold(0u64, |n, &x| n * 10 + u64::from(x));
    let check = u64::from(pair(&d, 9));
    let sums = [body, 2_000_000_000 + body];
    sums.iter().any(|n| 97 - n % 97 == check) && pair(&d, 2) <= 12
}

/// A Portuguese NIF (nine digits, not starting 0): weights 9…2, check 11 − sum mod 11
/// (10 and 11 give 0).
#[must_use]
pub fn pt_nif(text: &str) -> bool {
    let d = digits_of(text);
    d.len() == 9 && d[0] != 0 && (11 - weighted(&d, &[9, 8, 7, 6, 5, 4, 3, 2]) % 11) % 11 % 10 == d[8]
}

/// A Swiss social security number (AHV/AVS, `756.XXXX.XXXX.XC`): thirteen digits from
/// the Swiss prefix 756, with the EAN-13 check digit.
#[must_use]
pub fn ch_ahv(text: &str) -> bool {
    let d = digits_of(text);
    if d.len() != 13 || d[..3] != [7, 5, 6] {
        return false;
    }
    let sum: u32 = d[..12].iter().enumerate().map(|(i, &x)| if i % 2 == 0 { x } else { 3 * x }).sum();
    (10 - sum % 10) % 10 == d[12]
}

/// A Mexican CURP (eighteen characters): a real birth date (the seventeenth character is
/// a digit before 2000, a letter after), and the weighted check digit over the alphabet
/// `0-9 A-N & O-Z`.
#[must_use]
pub fn mx_curp(text: &str) -> bool {
    const ALPHABET: &[u8; 37] = b"0123456789ABCDEFGHIJKLMN&OPQRSTUVWXYZ";
    let bytes = text.as_bytes();
    if bytes.len() != 18 || !bytes[4..10].iter().all(u8::is_ascii_digit) || !bytes[17].is_ascii_digit() {
        return false;
    }
    let d = digits_of(&text[4..10]);
    let century = if bytes[16].is_ascii_digit() { 1900 } else { 2000 };
    if !real_date(century + pair(&d, 0), pair(&d, 2), pair(&d, 4)) {
        return false;
    }
    let mut sum = 0;
    for (i, b) in bytes[..17].iter().enumerate() {
        let Some(value) = ALPHABET.iter().position(|a| a == b) else { return false };
        sum += value as u32 * (18 - i as u32);
    }
    (10 - sum % 10) % 10 == u32::from(bytes[17] - b'0')
}

/// An Argentine CUIT or CUIL (`20-12345678-6`): a type prefix, and the mod-11 check
/// digit (a remainder of 1 gives 9).
#[must_use]
pub fn ar_cuit(text: &str) -> bool {
    let d = digits_of(text);
    if d.len() != 11 || !matches!(pair(&d, 0), 20 | 23 | 24 | 27 | 30 | 33 | 34 | 50 | 51 | 55) {
        return false;
    }
    let check = match 11 - weighted(&d, &[5, 4, 3, 2, 7, 6, 5, 4, 3, 2]) % 11 {
        11 => 0,
        10 => 9,
        check => check,
    };
    check == d[10]
}

/// A Chilean RUT or RUN (`12.345.678-5`): the mod-11 check character (`K` for 10).
#[must_use]
pub fn cl_rut(text: &str) -> bool {
    const CHECKS: &[u8; 11] = b"0123456789K";
    let compact: Vec<u8> =
        text.bytes().filter(u8::is_ascii_alphanumeric).map(|b| b.to_ascii_uppercase()).collect();
    let Some((&check, body)) = compact.split_last() else { return false };
    if !matches!(compact.len(), 8 | 9) || !body.iter().all(u8::is_ascii_digit) {
        return false;
    }
    let sum: u32 =
        body.iter().rev().enumerate().map(|(i, &b)| u32::from(b - b'0') * (2 + (i as u32 % 6))).sum();
    CHECKS[((11 - sum % 11) % 11) as usize] == check
}

/// A Brazilian CNPJ (`12.345.678/0001-95`): two mod-11 check digits, and not one digit
/// repeated.
#[must_use]
pub fn br_cnpj(text: &str) -> bool {
    let d = digits_of(text);
    if d.len() != 14 || d.iter().all(|&x| x == d[0]) {
        return false;
    }
    let check = |len: usize| {
        let weights: Vec<u32> = (0..len).map(|i| [2, 3, 4, 5, 6, 7, 8, 9][(len - 1 - i) % 8]).collect();
        match weighted(&d[..len], &weights) % 11 {
            0 | 1 => 0,
            r => 11 - r,
        }
    };
    check(12) == d[12] && check(13) == d[13]
}

/// A South African identity number (thirteen digits): a real birth date, citizenship
/// 0 or 1, and Luhn.
#[must_use]
pub fn za_id(text: &str) -> bool {
    let digits: String = text.chars().filter(char::is_ascii_digit).collect();
    let d = digits_of(&digits);
    // The year has two digits: the date must exist in one of the two centuries.
    let date_ok = |century| real_date(century + pair(&d, 0), pair(&d, 2), pair(&d, 4));
    d.len() == 13 && (date_ok(1900) || date_ok(2000)) && d[10] <= 1 && luhn(&digits)
}

/// A Turkish identity number (T.C. Kimlik No., eleven digits, not starting 0) and its
/// two check digits.
#[must_use]
pub fn tr_tckn(text: &str) -> bool {
    let d = digits_of(text);
    if d.len() != 11 || d[0] == 0 {
        return false;
    }
    let odd: u32 = d[..9].iter().step_by(2).sum();
    let even: u32 = d[1..9].iter().step_by(2).sum();
    let first = (10 * 10 - (3 * odd + even) % 10) % 10;
    let second = (first + odd + even) % 10;
    first == d[9] && second == d[10]
}

/// A Romanian CNP (thirteen digits): a sex and century digit, a real birth date, a
/// county code, and the weighted check digit (10 gives 1).
#[must_use]
pub fn ro_cnp(text: &str) -> bool {
    let d = digits_of(text);
    if d.len() != 13 || d[0] == 0 {
        return false;
    }
    let century = match d[0] {
        3 | 4 => 1800,
        5 | 6 => 2000,
        _ => 1900,
    };
    let county = pair(&d, 7);
    let county_ok = matches!(county, 1..=48 | 51 | 52 | 70 | 80..=83);
    let check = match weighted(&d, &[2, 7, 9, 1, 4, 6, 3, 5, 8, 2, 7, 9]) % 11 {
        10 => 1,
        check => check,
    };
    real_date(century + pair(&d, 1), pair(&d, 3), pair(&d, 5)) && county_ok && check == d[12]
}

/// A Czech or Slovak birth number (`YYMMDD/SSSC`): a real date (women's months + 50,
/// extra series + 20), nine digits only before 1954, ten digits divisible by 11 (or the
/// old remainder-10 rule).
#[must_use]
pub fn cz_birth_number(text: &str) -> bool {
    let d = digits_of(text);
    if !matches!(d.len(), 9 | 10) {
        return false;
    }
    let mut year = 1900 + pair(&d, 0);
    if d.len() == 9 {
        if year >= 1980 {
            year -= 100;
        }
        if year > 1953 {
            return false;
        }
    } else if year < 1954 {
        year += 100;
    }
    if !real_date(year, pair(&d, 2) % 50 % 20, pair(&d, 4)) {
        return false;
    }
    if d.len() == 10 {
        let body = d[..9].iter().fold(0u64, |n, &x| n * 10 + u64::from(x));
        return u64::from(d[9]) == body % 11 % 10;
    }
    true
}

/// An Irish PPS number (`1234567T`, `1234567TW`): the mod-23 check letter, the second
/// letter counting in the new format.
#[must_use]
pub fn ie_pps(text: &str) -> bool {
    const LETTERS: &[u8; 23] = b"WABCDEFGHIJKLMNOPQRSTUV";
    let bytes: Vec<u8> =
        text.bytes().filter(|b| !b" -".contains(b)).map(|b| b.to_ascii_uppercase()).collect();
    if !matches!(bytes.len(), 8 | 9) || !bytes[..7].iter().all(u8::is_ascii_digit) {
        return false;
    }
    let mut sum: u32 =
        bytes[..7].iter().enumerate().map(|(i, &b)| (8 - i as u32) * u32::from(b - b'0')).sum();
    if let Some(&second) = bytes.get(8) {
        if !b"ABHTWX".contains(&second) {
            return false;
        }
        // Only the new format's A, B and H take part in the check.
        if b"ABH".contains(&second) {
            let Some(value) = LETTERS.iter().position(|&l| l == second) else { return false };
            sum += 9 * value as u32;
        }
    }
    LETTERS[(sum % 23) as usize] == bytes[7]
}

/// A Taiwanese national identification number (`A123456789`): the region letter as two
/// digits, a sex digit 1 or 2 (8 or 9 for residents), and the weighted check.
#[must_use]
pub fn tw_national_id(text: &str) -> bool {
    // Region letters in the order of their codes 10–35.
    const REGIONS: &[u8; 26] = b"ABCDEFGHJKLMNPQRSTUVXYWZIO";
    let bytes = text.as_bytes();
    if bytes.len() != 10 || !bytes[1..].iter().all(u8::is_ascii_digit) || !b"1289".contains(&bytes[1]) {
        return false;
    }
    let Some(region) = REGIONS.iter().position(|&r| r == bytes[0]) else { return false };
    let code = region as u32 + 10;
    let d: Vec<u32> = bytes[1..].iter().map(|b| u32::from(b - b'0')).collect();
    let sum = code / 10 + 9 * (code % 10) + weighted(&d, &[8, 7, 6, 5, 4, 3, 2, 1, 1]);
    sum.is_multiple_of(10)
}

/// A Hong Kong identity card number (`A123456(3)`): one or two letters, six digits, and
/// the mod-11 check character (`A` for 10).
#[must_use]
pub fn hk_hkid(text: &str) -> bool {
    let compact: Vec<u8> = text.bytes().filter(u8::is_ascii_alphanumeric).collect();
    let letters = compact.iter().take_while(|b| b.is_ascii_uppercase()).count();
    if !matches!(letters, 1 | 2) || compact.len() != letters + 7 {
        return false;
    }
    let (head, rest) = compact.split_at(letters);
    let (digits, check) = rest.split_at(6);
    if !digits.iter().all(u8::is_ascii_digit) {
        return false;
    }
    // A one-letter number counts as if led by a space (value 36).
    let mut values: Vec<u32> = if letters == 1 { vec![36] } else { Vec::new() };
    values.extend(head.iter().map(|&b| u32::from(b - b'A') + 10));
    values.extend(digits.iter().map(|&b| u32::from(b - b'0')));
    let sum = weighted(&values, &[9, 8, 7, 6, 5, 4, 3, 2]);
    let expected = match (11 - sum % 11) % 11 {
        10 => b'A',
        digit => b'0' + digit as u8,
    };
    check[0] == expected
}

/// A Thai personal identification number (thirteen digits, first not 0 or 9) and its
/// mod-11 check digit.
#[must_use]
pub fn th_national_id(text: &str) -> bool {
    let d = digits_of(text);
    if d.len() != 13 || d[0] == 0 || d[0] == 9 {
        return false;
    }
    let sum = weighted(&d, &[13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2]);
    (11 - sum % 11) % 10 == d[12]
}

/// A US National Provider Identifier (ten digits starting 1 or 2): Luhn over the
/// number prefixed with the health-industry code 80840.
#[must_use]
pub fn us_npi(text: &str) -> bool {
    let digits: String = text.chars().filter(char::is_ascii_digit).collect();
    digits.len() == 10 && digits.starts_with(['1', '2']) && luhn(&format!("80840{digits}"))
}

/// A US Employer Identification Number (`12-3456789`): a prefix the IRS assigns.
#[must_use]
pub fn us_ein(text: &str) -> bool {
    let d = digits_of(text);
    d.len() == 9
        && !matches!(pair(&d, 0), 0 | 7..=9 | 17..=19 | 28 | 29 | 49 | 69 | 70 | 78 | 79 | 89 | 96 | 97)
}

/// A US DEA registration number (`AB1234563`): a registrant type letter, a letter or 9,
/// and the check digit (odd positions plus twice the even ones).
#[must_use]
pub fn us_dea(text: &str) -> bool {
    let bytes = text.as_bytes();
    if bytes.len() != 9
        || !b"ABCDEFGHJKLMPRSTUX".contains(&bytes[0])
        || !bytes[2..].iter().all(u8::is_ascii_digit)
    {
        return false;
    }
    if !(bytes[1].is_ascii_uppercase() || bytes[1] == b'9') {
        return false;
    }
    let d = digits_of(&text[2..]);
    (d[0] + d[2] + d[4] + 2 * (d[1] + d[3] + d[5])) % 10 == d[6]
}

/// A UK Unique Taxpayer Reference (ten digits, the first is the check digit).
#[must_use]
pub fn uk_utr(text: &str) -> bool {
    const CHECKS: [u32; 11] = [2, 1, 9, 8, 7, 6, 5, 4, 3, 2, 1];
    let d = digits_of(text);
    d.len() == 10 && CHECKS[(weighted(&d[1..], &[6, 7, 8, 9, 10, 5, 4, 3, 2]) % 11) as usize] == d[0]
}

/// A Polish NIP (tax id, ten digits): weights 6 5 7 2 3 4 5 6 7, mod 11 is the last
/// digit (never 10).
#[must_use]
pub fn pl_nip(text: &str) -> bool {
    let d = digits_of(text);
    d.len() == 10 && weighted(&d, &[6, 5, 7, 2, 3, 4, 5, 6, 7]) % 11 == d[9]
}

/// A Croatian OIB (eleven digits, ISO 7064 MOD 11,10).
#[must_use]
pub fn hr_oib(text: &str) -> bool {
    let d = digits_of(text);
    d.len() == 11 && iso7064_mod_11_10(&d)
}

/// An Israeli identity number (Teudat Zehut, up to nine digits, zero-padded): Luhn.
#[must_use]
pub fn il_id(text: &str) -> bool {
    let digits: String = text.chars().filter(char::is_ascii_digit).collect();
    (5..=9).contains(&digits.len()) && digits.bytes().any(|b| b != b'0') && luhn(&format!("{digits:0>9}"))
}

/// An Estonian isikukood or Lithuanian asmens kodas (eleven digits): a sex and century
/// digit 1–6, a real birth date, and the two-stage mod-11 check digit.
#[must_use]
pub fn baltic_personal_code(text: &str) -> bool {
    let d = digits_of(text);
    if d.len() != 11 || !(1..=6).contains(&d[0]) {
        return false;
    }
    let century = 1800 + 100 * ((d[0] - 1) / 2);
    if !real_date(century + pair(&d, 1), pair(&d, 3), pair(&d, 5)) {
        return false;
    }
    let stage = |shift: u32| -> u32 {
        d[..10].iter().zip(0u32..).map(|(x, i)| x * ((i + shift) % 9 + 1)).sum::<u32>() % 11
    };
    let check = match stage(0) {
        10 => stage(2),
        check => check,
    };
    check % 10 == d[10]
}

/// A MAC address (six octets, `:` or `-` between them): not all zeros and not the
/// broadcast address, which identify no device.
#[must_use]
pub fn mac_address(text: &str) -> bool {
    let octets: Vec<&str> = text.split([':', '-']).collect();
    octets.len() == 6
        && (text.bytes().filter(|&b| b == b':').count() == 5
            || text.bytes().filter(|&b| b == b'-').count() == 5)
        && !octets.iter().all(|o| *o == "00")
        && !octets.iter().all(|o| o.eq_ignore_ascii_case("ff"))
}

/// The bytes a base58 string encodes (the Bitcoin alphabet), if it is one.
fn base58_decode(text: &str) -> Option<Vec<u8>> {
    const ALPHABET: &[u8; 58] = b"123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
    let mut number: Vec<u8> = Vec::new(); // big-endian base 256
    for b in text.bytes() {
        let mut carry = ALPHABET.iter().position(|&a| a == b)? as u32;
        for byte in number.iter_mut().rev() {
            carry += u32::from(*byte) * 58;
            *byte = (carry & 0xff) as u8;
            carry >>= 8;
        }
        while carry > 0 {
            number.insert(0, (carry & 0xff) as u8);
            carry >>= 8;
        }
    }
    let zeros = text.bytes().take_while(|&b| b == b'1').count();
    let mut bytes = vec![0; zeros];
    bytes.extend(number);
    Some(bytes)
}

/// The payload of a base58check string (version byte included), if its four-byte
/// double-SHA-256 checksum holds.
fn base58check(text: &str) -> Option<Vec<u8>> {
    let bytes = base58_decode(text)?;
    if bytes.len() < 5 {
        return None;
    }
    let (payload, checksum) = bytes.split_at(bytes.len() - 4);
    let once = ring::digest::digest(&ring::digest::SHA256, payload);
    let twice = ring::digest::digest(&ring::digest::SHA256, once.as_ref());
    (twice.as_ref()[..4] == *checksum).then(|| payload.to_vec())
}

/// A legacy Bitcoin address (`1…` pay-to-pubkey-hash or `3…` pay-to-script-hash):
/// base58check with version byte 0 or 5 and a 20-byte hash.
#[must_use]
pub fn bitcoin_base58_address(text: &str) -> bool {
    base58check(text).is_some_and(|payload| payload.len() == 21 && matches!(payload[0], 0 | 5))
}

/// A Bitcoin private key in wallet import format: base58check with version byte 0x80,
/// 32 key bytes, and the compression flag 1 when present.
#[must_use]
pub fn bitcoin_wif(text: &str) -> bool {
    base58check(text).is_some_and(|payload| {
        payload[0] == 0x80 && (payload.len() == 33 || (payload.len() == 34 && payload[33] == 1))
    })
}

/// A segwit Bitcoin address (`bc1…`, BIP 173 and BIP 350): lower-case bech32 whose
/// checksum is bech32 for witness version 0 and bech32m for later versions.
#[must_use]
pub fn bitcoin_bech32_address(text: &str) -> bool {
    const CHARSET: &[u8; 32] = b"qpzry9x8gf2tvdw0s3jn54khce6mua7l";
    const BECH32: u32 = 1;
    const BECH32M: u32 = 0x2bc8_30a3;
    fn polymod(values: &[u8]) -> u32 {
        const GENERATOR: [u32; 5] = [0x3b6a_57b2, 0x2650_8e6d, 0x1ea1_19fa, 0x3d42_33dd, 0x2a14_62b3];
        let mut checksum: u32 = 1;
        for &value in values {
            let top = checksum >> 25;
            checksum = ((checksum & 0x01ff_ffff) << 5) ^ u32::from(value);
            for (i, g) in GENERATOR.iter().enumerate() {
                if (top >> i) & 1 == 1 {
                    checksum ^= g;
                }
            }
        }
        checksum
    }
    let Some(data) = text.strip_prefix("bc1") else { return false };
    let Some(values) = data
        .bytes()
        .map(|b| CHARSET.iter().position(|&c| c == b).map(|v| v as u8))
        .collect::<Option<Vec<u8>>>()
    else {
        return false;
    };
    // A witness version, a 2–40 byte program, six checksum characters.
    if values.len() < 8 || values.len() > 71 || values[0] > 16 {
        return false;
    }
    let mut expanded: Vec<u8> = b"bc".iter().map(|b| b >> 5).collect();
    expanded.push(0);
    expanded.extend(b"bc".iter().map(|b| b & 31));
    expanded.extend(&values);
    let expected = if values[0] == 0 { BECH32 } else { BECH32M };
    let program = &values[1..values.len() - 6];
    let program_bits = program.len() * 5;
    let program_bytes = program_bits / 8;
    // The 5-bit groups hold whole bytes plus at most four padding bits, all zero.
    let padding = program_bits % 8;
    let padding_zero = program.last().is_none_or(|&last| last & ((1 << padding) - 1) == 0);
    polymod(&expanded) == expected
        && padding <= 4
        && padding_zero
        && (2..=40).contains(&program_bytes)
        && (values[0] != 0 || matches!(program_bytes, 20 | 32))
}

/// The ICAO 9303 check digit of a machine-readable-zone field: weights 7 3 1, digits
/// as themselves, letters A=10…Z=35, the filler `<` as 0.
fn mrz_check(field: &[u8]) -> Option<u8> {
    let mut sum = 0u32;
    for (i, &b) in field.iter().enumerate() {
        let value = match b {
            b'0'..=b'9' => u32::from(b - b'0'),
            b'A'..=b'Z' => u32::from(b - b'A') + 10,
            b'<' => 0,
            _ => return None,
        };
        sum += value * [7, 3, 1][i % 3];
    }
    Some(b'0' + (sum % 10) as u8)
}

/// The second line of a passport's machine-readable zone (ICAO 9303 TD3, 44
/// characters): the check digits of the document number, birth date, expiry date and
/// personal number, and the composite check over them all.
#[must_use]
pub fn passport_mrz_line(text: &str) -> bool {
    let b = text.as_bytes();
    if b.len() != 44 {
        return false;
    }
    let field_ok = |field: &[u8], check: u8| mrz_check(field) == Some(check);
    let optional_ok = b[42] == b'<' && b[28..42].iter().all(|&c| c == b'<') || field_ok(&b[28..42], b[42]);
    let composite: Vec<u8> = [&b[0..10], &b[13..20], &b[21..43]].concat();
    field_ok(&b[0..9], b[9])
        && field_ok(&b[13..19], b[19])
        && field_ok(&b[21..27], b[27])
        && optional_ok
        && field_ok(&composite, b[43])
}

/// A German identity card number (nine characters from the card alphabet, then the
/// ICAO 7-3-1 check digit).
#[must_use]
pub fn de_id_card(text: &str) -> bool {
    let b = text.as_bytes();
    b.len() == 10 && mrz_check(&b[..9]) == Some(b[9])
}

/// A date of birth written with digits (`1985-03-07`, `07/03/1985`, `7.3.85`): one of
/// the day-month-year, month-day-year or year-month-day readings is a real date in
/// 1900–2099 (two-digit years in either century; a one- or three-digit year is not a
/// year).
#[must_use]
pub fn birth_date(text: &str) -> bool {
    let raw: Vec<&str> = text.split(['/', '-', '.']).collect();
    let [first, _, last] = raw[..] else { return false };
    let year_digits = if first.len() == 4 { 4 } else { last.len() };
    if !matches!(year_digits, 2 | 4) {
        return false;
    }
    let parts: Vec<u32> = raw.iter().filter_map(|p| p.parse().ok()).collect();
    let [a, b, c] = parts[..] else { return false };
    let year_ok = |y: u32| if y < 100 { Some(y) } else { (1900..=2099).contains(&y).then_some(y) };
    let real = |y: u32, m: u32, d: u32| {
        year_ok(y).is_some_and(|y| {
            if y < 100 { real_date(1900 + y, m, d) || real_date(2000 + y, m, d) } else { real_date(y, m, d) }
        })
    };
    if a >= 100 {
        return real(a, b, c);
    }
    real(c, b, a) || real(c, a, b)
}

#[cfg(test)]
mod tests;
