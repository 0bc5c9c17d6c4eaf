//! Personal identifiers of more countries, travel documents, devices and wallets.
//!
//! An identifier is found on its own only where its written form and its check make a
//! look-alike rare (a CNPJ's `12.345.678/0001-95`, a Finnish code's century letter and
//! mod-31 character, a passport MRZ line's five check digits). A bare run of digits is
//! an order number as often as an id: those are found after a context word only
//! (`TFN`, `CPR`, `OIB`…), and their check digit still has to hold.

use super::{Entity, Pattern, base62, digits_and_separators, not_placeholder};
use crate::validate;

/// An identifier the regex finds in `group` (0: the whole match).
macro_rules! personal {
    ($kind:literal, $name:literal, $regex:literal, $group:literal, $boundary:expr, $validate:expr, $confidence:literal) => {
        Pattern {
            entity: Entity::PersonalId($kind),
            name: $name,
            // Every identifier here holds a digit (but for a MAC address of hex
            // letters only, which a text without digits is not searched for): all of
            // them join the scanner's set of number-shaped patterns, searched in one
            // pass over a text with a digit. Context words as anchor literals would cost
            // the literal pass more than they save.
            literals: &[],
            regex: $regex,
            group: $group,
            boundary: $boundary,
            validate: $validate,
            confidence: $confidence,
            decimal_guard: true,
        }
    };
}

/// Digits, separators and the characters of dotted and slashed forms: a match glued to
/// one of these is part of a longer number.
fn numeric_form(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-_/".contains(&b)
}

/// Six to nine capitals and digits after "passport": at least two digits, not one
/// character repeated, not a date written as digits.
fn passport_number(text: &str) -> bool {
    let digits = text.bytes().filter(u8::is_ascii_digit).count();
    let date_like = digits == text.len()
        && text.len() == 8
        && validate::birth_date(&format!("{}-{}-{}", &text[..4], &text[4..6], &text[6..]));
    digits >= 2 && !text.bytes().all(|b| b == text.as_bytes()[0]) && !date_like && not_placeholder(text)
}

pub(super) const WORLD_IDS: &[Pattern] = &[
    // Asia-Pacific.
    personal!(
        "AU_TFN",
        "au_tfn_in_context",
        r"(?:\bTFN\b|(?i:tax file number))[^0-9\n]{0,20}?([0-9]{3} ?[0-9]{3} ?[0-9]{2,3})",
        1,
        digits_and_separators,
        validate::au_tfn,
        0.9
    ),
    personal!(
        "AU_ABN",
        "au_abn_in_context",
        r"\bABN\b[^0-9\n]{0,20}?([0-9]{2} ?[0-9]{3} ?[0-9]{3} ?[0-9]{3})",
        1,
        digits_and_separators,
        validate::au_abn,
        0.9
    ),
    personal!(
        "AU_ACN",
        "au_acn_in_context",
        r"\bACN\b[^0-9\n]{0,20}?([0-9]{3} ?[0-9]{3} ?[0-9]{3})",
        1,
        digits_and_separators,
        validate::au_acn,
        0.9
    ),
    personal!(
        "AU_MEDICARE",
        "au_medicare_in_context",
        r"(?i:\bmedicare\b)[^0-9\n]{0,30}?([2-6][0-9]{3} ?[0-9]{5} ?[0-9](?:[ -]?[1-9])?)",
        1,
        digits_and_separators,
        validate::au_medicare,
        0.85
    ),
    personal!("SG_NRIC_FIN", "sg_nric_fin", r"[STFG][0-9]{7}[A-Z]", 0, base62, validate::sg_nric_fin, 0.9),
    personal!(
        "IN_PAN",
        "in_pan_in_context",
        // No check character: the layout (the fourth letter is the holder's type) and a
        // context word.
        r"(?:\bPAN\b|(?i:permanent account number))[^A-Z0-9\n]{0,20}?([A-Z]{3}[ABCFGHJLPT][A-Z][0-9]{4}[A-Z])",
        1,
        base62,
        not_placeholder,
        0.85
    ),
    personal!(
        "IN_GSTIN",
        "in_gstin",
        r"[0-3][0-9][A-Z]{3}[ABCFGHJLPT][A-Z][0-9]{4}[A-Z][1-9A-Z]Z[0-9A-Z]",
        0,
        base62,
        validate::in_gstin,
        0.95
    ),
    personal!(
        "KR_RRN",
        "kr_rrn_in_context",
        r"(?:주민(?:등록)?번호|\bRRN\b|(?i:resident registration(?: number| no\.?)?))[^0-9\n]{0,20}?([0-9]{6}-?[0-9]{7})",
        1,
        digits_and_separators,
        validate::kr_rrn,
        0.9
    ),
    personal!(
        "JP_MY_NUMBER",
        "jp_my_number_in_context",
        r"(?:マイナンバー|個人番号|(?i:\bmy number\b))[^0-9\n]{0,20}?([0-9]{4} ?[0-9]{4} ?[0-9]{4})",
        1,
        digits_and_separators,
        validate::jp_my_number,
        0.9
    ),
    personal!(
        "TW_NATIONAL_ID",
        "tw_national_id_in_context",
        // A letter and nine digits is a part number's shape too: context only.
        r"(?:身[分份]證(?:字號|號碼)?|(?i:\bnational id(?: number| no\.?)?|\bid (?:number|no\.?)))[^A-Z0-9\n]{0,20}?([A-Z][1289][0-9]{8})",
        1,
        base62,
        validate::tw_national_id,
        0.9
    ),
    personal!("HK_HKID", "hk_hkid", r"[A-Z]{1,2}[0-9]{6}\([0-9A]\)", 0, base62, validate::hk_hkid, 0.9),
    personal!(
        "TH_NATIONAL_ID",
        "th_national_id",
        r"[1-8]-[0-9]{4}-[0-9]{5}-[0-9]{2}-[0-9]",
        0,
        digits_and_separators,
        validate::th_national_id,
        0.9
    ),
    // Europe.
    personal!(
        "FI_HETU",
        "fi_hetu",
        r"[0-3][0-9][01][0-9]{3}[-+A-FU-Y][0-9]{3}[0-9A-FHJ-NPR-Y]",
        0,
        base62,
        validate::fi_hetu,
        0.95
    ),
    personal!(
        "NO_FODSELSNUMMER",
        "no_fodselsnummer_in_context",
        r"(?i:f(?:ø|o)dselsnummer|\bfnr\b|\bd-nummer)[^0-9\n]{0,20}?([0-7][0-9]{5} ?[0-9]{5})",
        1,
        digits_and_separators,
        validate::no_fodselsnummer,
        0.9
    ),
    personal!(
        "DK_CPR",
        "dk_cpr_in_context",
        r"(?i:\bcpr\b)[^0-9\n]{0,20}?([0-3][0-9][01][0-9]{3}-?[0-9]{4})",
        1,
        digits_and_separators,
        validate::dk_cpr,
        0.85
    ),
    personal!(
        "BE_NATIONAL_NUMBER",
        "be_national_number",
        r"[0-9]{2}\.[01][0-9]\.[0-3][0-9]-[0-9]{3}\.[0-9]{2}",
        0,
        numeric_form,
        validate::be_national_number,
        0.95
    ),
    personal!(
        "PT_NIF",
        "pt_nif_in_context",
        r"(?:\bNIF\b|(?i:contribuinte))[^0-9\n]{0,20}?([1-9][0-9]{2} ?[0-9]{3} ?[0-9]{3})",
        1,
        digits_and_separators,
        validate::pt_nif,
        0.85
    ),
    personal!(
        "CH_AHV",
        "ch_ahv",
        // Dotted: thirteen bare digits from 756 are also a Swiss EAN-13 barcode.
        r"756\.[0-9]{4}\.[0-9]{4}\.[0-9]{2}",
        0,
        numeric_form,
        validate::ch_ahv,
        0.95
    ),
    personal!(
        "CH_AHV",
        "ch_ahv_in_context",
        r"(?:\b(?:AHV|AVS|AVH)\b|(?i:sozialversicherungsnummer|num[ée]ro avs))[^0-9\n]{0,20}?(756[0-9]{10})",
        1,
        digits_and_separators,
        validate::ch_ahv,
        0.9
    ),
    personal!(
        "TR_TCKN",
        "tr_tckn_in_context",
        r"(?i:kimlik(?: no| numarası)?|\btckn\b|\btc no\b)[^0-9\n]{0,20}?([1-9][0-9]{10})",
        1,
        digits_and_separators,
        validate::tr_tckn,
        0.9
    ),
    personal!(
        "RO_CNP",
        "ro_cnp_in_context",
        r"\bCNP\b[^0-9\n]{0,20}?([1-8][0-9]{12})",
        1,
        digits_and_separators,
        validate::ro_cnp,
        0.9
    ),
    personal!(
        "CZ_BIRTH_NUMBER",
        "cz_sk_birth_number",
        // The ten-digit form only: the nine-digit one (births before 1954) has no check
        // digit, and `221105/001` is an invoice number as often.
        r"[0-9]{2}[0-35-8][0-9][0-3][0-9]/[0-9]{4}",
        0,
        numeric_form,
        validate::cz_birth_number,
        0.9
    ),
    personal!(
        "IE_PPS",
        "ie_pps_in_context",
        r"(?:\bPPSN?\b|(?i:personal public service(?: number)?))[^0-9\n]{0,20}?([0-9]{7}[A-W][ABHTWX]?)",
        1,
        base62,
        validate::ie_pps,
        0.9
    ),
    personal!(
        "UK_UTR",
        "uk_utr_in_context",
        r"(?:\bUTR\b|(?i:unique tax ?payer reference))[^0-9\n]{0,20}?([0-9]{5} ?[0-9]{5})",
        1,
        digits_and_separators,
        validate::uk_utr,
        0.85
    ),
    personal!(
        "PL_NIP",
        "pl_nip_in_context",
        r"\bNIP\b[^0-9\n]{0,20}?([0-9]{3}-?[0-9]{3}-?[0-9]{2}-?[0-9]{2}|[0-9]{3}-[0-9]{2}-[0-9]{2}-[0-9]{3})",
        1,
        digits_and_separators,
        validate::pl_nip,
        0.85
    ),
    personal!(
        "HR_OIB",
        "hr_oib_in_context",
        r"\bOIB\b[^0-9\n]{0,20}?([0-9]{11})",
        1,
        digits_and_separators,
        validate::hr_oib,
        0.9
    ),
    personal!(
        "EE_ISIKUKOOD",
        "ee_isikukood_in_context",
        r"(?i:isikukood)[^0-9\n]{0,20}?([1-6][0-9]{10})",
        1,
        digits_and_separators,
        validate::baltic_personal_code,
        0.9
    ),
    personal!(
        "LT_ASMENS_KODAS",
        "lt_asmens_kodas_in_context",
        r"(?i:asmens kodas)[^0-9\n]{0,20}?([1-6][0-9]{10})",
        1,
        digits_and_separators,
        validate::baltic_personal_code,
        0.9
    ),
    personal!(
        "DE_ID_CARD",
        "de_id_card_in_context",
        r"(?i:personalausweis(?:nummer)?|ausweis-?n(?:umme)?r\.?)[^A-Z0-9\n]{0,20}?([CFGHJKLMNPRTVWXYZ0-9]{9}[0-9])",
        1,
        base62,
        validate::de_id_card,
        0.9
    ),
    // The Americas, Africa and the Middle East.
    personal!(
        "MX_CURP",
        "mx_curp",
        r"[A-Z][AEIOUX][A-Z]{2}[0-9]{6}[HMX](?:AS|B[CS]|C[CLMSH]|D[FG]|G[TR]|HG|JC|M[CNS]|N[ELT]|OC|PL|Q[TR]|S[LPR]|T[CLS]|VZ|YN|ZS)[B-DF-HJ-NP-TV-Z]{3}[0-9A-Z][0-9]",
        0,
        base62,
        validate::mx_curp,
        0.95
    ),
    personal!(
        "AR_CUIT",
        "ar_cuit",
        r"(?:20|23|24|27|30|33|34)-[0-9]{8}-[0-9]",
        0,
        digits_and_separators,
        validate::ar_cuit,
        0.9
    ),
    personal!(
        "AR_CUIT",
        "ar_cuit_in_context",
        r"(?i:\bcui[tl]\b)[^0-9\n]{0,20}?((?:20|23|24|27|30|33|34)[0-9]{9})",
        1,
        digits_and_separators,
        validate::ar_cuit,
        0.9
    ),
    personal!(
        "CL_RUT",
        "cl_rut",
        r"[0-9]{1,2}\.[0-9]{3}\.[0-9]{3}-[0-9Kk]",
        0,
        numeric_form,
        validate::cl_rut,
        0.9
    ),
    personal!(
        "BR_CNPJ",
        "br_cnpj",
        r"[0-9]{2}\.[0-9]{3}\.[0-9]{3}/[0-9]{4}-[0-9]{2}",
        0,
        numeric_form,
        validate::br_cnpj,
        0.95
    ),
    personal!(
        "ZA_ID",
        "za_id_in_context",
        r"(?i:\b(?:south african |rsa |sa )?id(?:entity)? (?:number|no\.?))[^0-9\n]{0,20}?([0-9]{6} ?[0-9]{4} ?[0-9]{2} ?[0-9])",
        1,
        digits_and_separators,
        validate::za_id,
        0.85
    ),
    personal!(
        "IL_ID",
        "il_id_in_context",
        r"(?:תעודת זהות|ת\.ז\.?|(?i:teudat zehut|israeli id(?: number| no\.?)?))[^0-9\n]{0,20}?([0-9]{9})",
        1,
        digits_and_separators,
        validate::il_id,
        0.85
    ),
    // United States: health care and tax.
    personal!(
        "US_NPI",
        "us_npi_in_context",
        r"\bNPI\b[^0-9\n]{0,20}?([12][0-9]{9})",
        1,
        digits_and_separators,
        validate::us_npi,
        0.9
    ),
    personal!(
        "US_EIN",
        "us_ein_in_context",
        r"(?:\bF?EIN\b|(?i:employer identification(?: number| no\.?)?))[^0-9\n]{0,20}?([0-9]{2}-?[0-9]{7})",
        1,
        digits_and_separators,
        validate::us_ein,
        0.85
    ),
    personal!(
        "US_DEA",
        "us_dea_in_context",
        r"\bDEA\b[^A-Z0-9\n]{0,20}?([A-Z][A-Z9][0-9]{7})",
        1,
        base62,
        validate::us_dea,
        0.9
    ),
    personal!(
        "US_MBI",
        "us_mbi_in_context",
        // The Medicare Beneficiary Identifier's layout (no S, L, O, I, B or Z among its
        // letters) is its only check: context only.
        r"(?:\bMBI\b|(?i:\bmedicare\b))[^A-Z0-9\n]{0,30}?([1-9][AC-HJKMNP-RT-Y][AC-HJKMNP-RT-Y0-9][0-9]-?[AC-HJKMNP-RT-Y][AC-HJKMNP-RT-Y0-9][0-9]-?[AC-HJKMNP-RT-Y]{2}[0-9]{2})",
        1,
        base62,
        not_placeholder,
        0.85
    ),
    // Documents, devices, wallets and dates, wherever they are from.
    personal!(
        "PASSPORT_MRZ",
        "passport_mrz_line",
        r"[A-Z0-9<]{9}[0-9][A-Z<]{3}[0-9]{6}[0-9][MFX<][0-9]{6}[0-9][A-Z0-9<]{14}[0-9<][0-9]",
        0,
        |b| b.is_ascii_alphanumeric() || b == b'<',
        validate::passport_mrz_line,
        0.97
    ),
    personal!(
        "PASSPORT_NUMBER",
        "passport_number_in_context",
        r"(?i:passport)(?:[ -](?i:no\.?|number|nr\.?|#))?[^A-Za-z0-9\n]{0,10}?([A-Z0-9]{6,9})",
        1,
        base62,
        passport_number,
        0.8
    ),
    personal!(
        "MAC_ADDRESS",
        "mac_address",
        r"[0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2}){5}|[0-9A-Fa-f]{2}(?:-[0-9A-Fa-f]{2}){5}",
        0,
        |b| b.is_ascii_alphanumeric() || b == b':' || b == b'-',
        validate::mac_address,
        0.85
    ),
    personal!(
        "CRYPTO_WALLET",
        "bitcoin_base58_address",
        r"[13][1-9A-HJ-NP-Za-km-z]{25,34}",
        0,
        base62,
        validate::bitcoin_base58_address,
        0.95
    ),
    personal!(
        "CRYPTO_WALLET",
        "bitcoin_bech32_address",
        r"bc1[02-9ac-hj-np-z]{8,87}",
        0,
        base62,
        validate::bitcoin_bech32_address,
        0.95
    ),
    personal!(
        "DATE_OF_BIRTH",
        "date_of_birth_in_context",
        // Dates are everywhere; a date after a birth word is personal data.
        r"(?i:date of birth|birth ?date|\bdob\b|\bd\.o\.b\.?|\bborn(?: on)?\b|geburtsdatum|geboren(?: am)?|date de naissance|fecha de nacimiento)[^0-9\n]{0,20}?((?:[0-9]{1,2}[./-][0-9]{1,2}[./-](?:[0-9]{4}|[0-9]{2})|[0-9]{4}[./-][0-9]{1,2}[./-][0-9]{1,2}))",
        1,
        |b| b.is_ascii_digit() || b"./-".contains(&b),
        validate::birth_date,
        0.85
    ),
];
