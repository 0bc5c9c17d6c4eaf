use super::*;

type Validator = fn(&str) -> bool;

/// Valid and invalid numbers for each validator. Unless noted, both columns were drawn
/// at random in the number's written form and classified by python-stdnum 2.2, an
/// implementation independent of this one.
const TABLE: &[(&str, Validator, &[&str], &[&str])] = &[
    (
        "au_tfn",
        au_tfn,
        &["628 194 821", "252 760 189", "385 280 841"],
        &["526 018 159", "083 016 613", "186 091 390"],
    ),
    (
        "au_abn",
        au_abn,
        &["46 694 536 929", "87 348 035 637", "51 824 753 556"],
        // "10 …" passes the weighted sum but is never issued (the check digits are 11–99).
        &["48 525 388 853", "93 363 387 500", "47 439 575 513", "10 291 417 776"],
    ),
    (
        "au_acn",
        au_acn,
        &["329 897 270", "238 544 057", "136 472 412"],
        &["894 149 042", "383 721 575", "862 224 609"],
    ),
    (
        "in_gstin",
        in_gstin,
        &["27AAAPL1249C1Z7", "33AAAPL0726Z3Z5", "29BBBCZ8391A3ZX"],
        &["33AAAPL1162B3Z6", "29AAAPL0511Z3ZM", "27ABCPD0828A2ZS"],
    ),
    (
        "kr_rrn",
        kr_rrn,
        &["401130-1874892", "900405-1231002", "600305-2028415"],
        &["090930-3621218", "770527-1478808", "641128-1964718"],
    ),
    (
        "jp_my_number",
        jp_my_number,
        &["0273 4347 9838", "6468 2884 1081", "2797 7513 7350"],
        &["0787 8182 4947", "3237 9504 4801", "8774 8897 1272"],
    ),
    (
        "fi_hetu",
        fi_hetu,
        &["300902A2794", "120140-204E", "010411A5714"],
        &["010566-4699", "310782-4191", "080673-9264"],
    ),
    (
        "no_fodselsnummer",
        no_fodselsnummer,
        &["17050298116", "05078025206", "20124438846"],
        &["31071479078", "22055441167"],
    ),
    // The invalid ones: day 32, month 13.
    ("dk_cpr", dk_cpr, &["221056-2105", "240746-2655", "280402-0274"], &["320185-1234", "011385-1234"]),
    (
        "be_national_number",
        be_national_number,
        &["48.08.06-839.45", "45.08.14-379.08", "91.09.26-860.43"],
        &["55.08.27-259.05", "92.08.26-718.19", "78.03.22-569.76"],
    ),
    ("pt_nif", pt_nif, &["924021314", "861903684", "161369863"], &["524479764", "980156208", "894448553"]),
    (
        "ch_ahv",
        ch_ahv,
        &["756.2379.1577.45", "756.8099.2373.47", "756.3572.5152.40"],
        &["756.4296.5027.33", "756.4511.2502.25", "756.4426.9333.63"],
    ),
    (
        "mx_curp",
        mx_curp,
        &["GOPJ550713HDFLSR05", "HEGM670720MDFPLR03", "HEGM480209HDFLSR13"],
        &["HEGM520412MNLPLR12", "RAMA901019MNLLSR37", "HEGM790828HDFPLR96"],
    ),
    (
        "ar_cuit",
        ar_cuit,
        &["27-42784729-8", "30-23187794-7", "30-92624098-2"],
        &["20-23985407-5", "30-74162288-8", "30-50484478-7"],
    ),
    (
        "cl_rut",
        cl_rut,
        &["14.659.719-K", "23.141.103-8", "8.325.204-9"],
        &["27.413.224-4", "27.620.770-K", "25.182.809-6"],
    ),
    (
        "br_cnpj",
        br_cnpj,
        &["79.795.254/0001-01", "75.439.554/0001-99", "46.380.098/0001-50"],
        &["53.180.415/0001-53", "70.981.732/0001-21", "31.838.043/0001-23"],
    ),
    (
        "za_id",
        za_id,
        &["8404099245181", "7202299377189", "5308298390081"],
        &["8309022112183", "6603080520189", "0311224053189"],
    ),
    (
        "tr_tckn",
        tr_tckn,
        &["85835342716", "47198265316", "95798658984"],
        &["36504201744", "62927555298", "66025586109"],
    ),
    (
        "ro_cnp",
        ro_cnp,
        &["2500609401766", "2951103404342", "2421227011611"],
        &["1420513011894", "1490129408024", "2710129407184"],
    ),
    (
        "cz_birth_number",
        cz_birth_number,
        &["805630/6820", "916019/6782", "935202/0260"],
        &["716104/2563", "820622/6768", "985212/7982"],
    ),
    ("ie_pps", ie_pps, &["6530225JW", "4959970T", "5942437OW"], &["1534643OA", "3627312WW", "0061358PA"]),
    (
        "th_national_id",
        th_national_id,
        &["5-7077-72494-48-8", "3-6237-10447-34-7", "1-2178-98905-72-1"],
        &["2-9318-04509-48-9", "5-9528-90943-61-7", "1-7631-86764-37-7"],
    ),
    (
        "us_ein",
        us_ein,
        &["64-1614824", "84-8795660", "66-4189456"],
        &["79-4473943", "09-1058595", "08-0379311"],
    ),
    (
        "uk_utr",
        uk_utr,
        &["40315 93534", "35413 65194", "56484 16322"],
        &["47182 84567", "99533 49688", "14241 95876"],
    ),
    (
        "pl_nip",
        pl_nip,
        &["391-155-40-87", "937-620-78-97", "826-827-14-78"],
        &["580-473-91-83", "118-254-12-88", "735-985-52-22"],
    ),
    (
        "hr_oib",
        hr_oib,
        &["43061505848", "98543468628", "69195515723"],
        &["98249352699", "83262915461", "83467799625"],
    ),
    ("il_id", il_id, &["148889868", "509815619", "962634721"], &["790132928", "446248795", "893519047"]),
    (
        "baltic_personal_code",
        baltic_personal_code,
        &["36702199589", "39410033289", "67212159675"],
        &["48106145630", "40906154542", "36503059896"],
    ),
    // Published examples (the issuers' documentation and the BIPs), each with one
    // character changed for the invalid column.
    ("sg_nric_fin", sg_nric_fin, &["S1234567D", "S0000001I"], &["S1234567E", "A1234567D"]),
    ("au_medicare", au_medicare, &["2123 45670 1", "2123456701"], &["2123 45671 1", "7123 45670 1"]),
    ("tw_national_id", tw_national_id, &["A123456789"], &["A123456788", "A323456789"]),
    ("hk_hkid", hk_hkid, &["A123456(3)", "A1234563"], &["A123456(4)", "A12345(3)"]),
    ("us_npi", us_npi, &["1234567893"], &["1234567894", "3234567893"]),
    ("us_dea", us_dea, &["AB1234563", "A91234563"], &["AB1234564", "IB1234563"]),
    (
        "mac_address",
        mac_address,
        &["00:1A:2B:3C:4D:5E", "a4-5e-60-e8-1f-0b"],
        &["00:00:00:00:00:00", "ff:ff:ff:ff:ff:ff", "00:1A-2B:3C:4D:5E"],
    ),
    (
        "bitcoin_base58_address",
        bitcoin_base58_address,
        &["1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa", "3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy"],
        &["1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNb", "3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLz"],
    ),
    (
        "bitcoin_bech32_address",
        bitcoin_bech32_address,
        &[
            "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4",
            "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0",
        ],
        &[
            "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t5",
            "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj1",
        ],
    ),
    (
        "bitcoin_wif",
        bitcoin_wif,
        &["5HueCGU8rMjxEXxiPuD5BDku4MkFqeZyd4dZ1jvhTVqvbTLvyTJ"],
        &["5HueCGU8rMjxEXxiPuD5BDku4MkFqeZyd4dZ1jvhTVqvbTLvyTK"],
    ),
    (
        "passport_mrz_line",
        passport_mrz_line,
        &["L898902C36UTO7408122F1204159ZE184226B<<<<<10"],
        &["L898902C36UTO7408122F1204159ZE184226B<<<<<11", "L898902C37UTO7408122F1204159ZE184226B<<<<<10"],
    ),
    ("de_id_card", de_id_card, &["T220001293"], &["T220001294"]),
    (
        "birth_date",
        birth_date,
        &["1985-03-07", "07/03/1985", "29.02.2000", "12/31/85"],
        &["1985-02-30", "31/31/1985", "1850-01-01", "2024", "1.2.3", "1.2.123"],
    ),
];

#[test]
fn validators_agree_with_the_reference_implementations() {
    for (name, validator, valid, invalid) in TABLE {
        for number in *valid {
            assert!(validator(number), "{name} refused the valid {number}");
        }
        for number in *invalid {
            assert!(!validator(number), "{name} accepted the invalid {number}");
        }
    }
}

#[test]
fn validators_never_panic_on_short_or_odd_input() {
    let inputs = ["", "1", "-", "A", "bc1", "1//", "<<<<", "S12", "99999999999999999999", "é", "756"];
    for (_, validator, _, _) in TABLE {
        for input in inputs {
            let _ = validator(input);
        }
    }
}

#[test]
fn real_dates() {
    assert!(real_date(2000, 2, 29));
    assert!(!real_date(1900, 2, 29));
    assert!(real_date(2024, 2, 29));
    assert!(!real_date(2023, 2, 29));
    assert!(!real_date(2023, 4, 31));
    assert!(!real_date(2023, 0, 1));
    assert!(!real_date(2023, 1, 0));
}
