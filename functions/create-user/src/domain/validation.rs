//! Validates a sign-up request (and a resend's) and reports every problem at once, by field.

use icu_normalizer::ComposingNormalizerBorrowed;
use icu_properties::props::{DefaultIgnorableCodePoint, GeneralCategory, GeneralCategoryGroup, VariationSelector};
use icu_properties::{CodePointMapData, CodePointSetData};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// bcrypt's limit (`user_store::passwords`): longer passwords are refused, never truncated.
pub const PASSWORD_MAX_BYTES: usize = user_store::passwords::MAX_BYTES;
pub const PASSWORD_MIN_CHARS: usize = 8;
pub const NAME_MAX_CHARS: usize = 100;
pub use user_events::address::EMAIL_MAX;
use user_events::address::check as check_email;

/// A request that passed validation.
#[derive(Clone, PartialEq, Eq)]
pub struct SignUpRequest {
    /// Trimmed and in Unicode NFC, so one name is stored one way whatever the client's
    /// keyboard composed (`e` + U+0301 and `é` are both stored as `é`).
    pub name: String,
    /// Trimmed, as the user typed it (shown back and used to send mail).
    pub email: String,
    /// As typed; never logged (the Debug impl shows none of the three).
    pub password: String,
}

impl SignUpRequest {
    /// The form two emails are compared in: `Ann@X.io` and `ann@x.io` are one account.
    pub fn email_key(&self) -> String {
        user_events::email_key(&self.email)
    }
}

impl std::fmt::Debug for SignUpRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // A log line must carry neither the name nor the address, let alone the password.
        f.write_str("SignUpRequest { <redacted> }")
    }
}

/// A request for the verification email again, that passed validation.
#[derive(Clone, PartialEq, Eq)]
pub struct ResendRequest {
    /// Trimmed, as the user typed it.
    pub email: String,
}

impl ResendRequest {
    /// As [`SignUpRequest::email_key`].
    pub fn email_key(&self) -> String {
        user_events::email_key(&self.email)
    }
}

impl std::fmt::Debug for ResendRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ResendRequest { <redacted> }")
    }
}

/// Field name -> what is wrong with it.
pub type FieldErrors = BTreeMap<String, String>;

/// The JSON object of a request with exactly `fields`: every other key is an error.
fn object_of<'a>(body: &'a Value, fields: &[&str], errors: &mut FieldErrors) -> Option<&'a Map<String, Value>> {
    let Some(object) = body.as_object() else {
        errors.insert(
            "body".into(),
            format!("must be a JSON object with {}", fields.join(", ")),
        );
        return None;
    };
    for key in object.keys().filter(|k| !fields.contains(&k.as_str())) {
        errors.insert(truncate(key, 64), "unknown field".into());
    }
    Some(object)
}

/// Checks a parsed JSON body: an object with exactly `name`, `email` and `password`, each a
/// string that passes its rules.
pub fn validate(body: &Value) -> Result<SignUpRequest, FieldErrors> {
    let mut errors = FieldErrors::new();
    let Some(object) = object_of(body, &["name", "email", "password"], &mut errors) else {
        return Err(errors);
    };
    let name = string_field(object, "name", &mut errors).map(normalise_name);
    let email = string_field(object, "email", &mut errors).map(|e| e.trim().to_owned());
    let password = string_field(object, "password", &mut errors).map(str::to_owned);
    let checks = [
        ("name", name.as_deref().and_then(check_name)),
        ("email", email.as_deref().and_then(check_email)),
        ("password", password.as_deref().and_then(check_password)),
    ];
    for (field, problem) in checks {
        if let Some(problem) = problem {
            errors.insert(field.into(), problem.into());
        }
    }
    match (name, email, password) {
        (Some(name), Some(email), Some(password)) if errors.is_empty() => Ok(SignUpRequest { name, email, password }),
        _ => Err(errors),
    }
}

/// Checks a resend's body: an object with exactly `email`, an address by the sign-up's rules.
pub fn validate_resend(body: &Value) -> Result<ResendRequest, FieldErrors> {
    let mut errors = FieldErrors::new();
    let Some(object) = object_of(body, &["email"], &mut errors) else {
        return Err(errors);
    };
    let email = string_field(object, "email", &mut errors).map(|e| e.trim().to_owned());
    if let Some(problem) = email.as_deref().and_then(check_email) {
        errors.insert("email".into(), problem.into());
    }
    match email {
        Some(email) if errors.is_empty() => Ok(ResendRequest { email }),
        _ => Err(errors),
    }
}

fn string_field<'a>(object: &'a Map<String, Value>, field: &str, errors: &mut FieldErrors) -> Option<&'a str> {
    match object.get(field) {
        Some(Value::String(s)) => Some(s),
        None | Some(Value::Null) => {
            errors.insert(field.into(), "is required".into());
            None
        }
        Some(_) => {
            errors.insert(field.into(), "must be a string".into());
            None
        }
    }
}

/// The form a name is checked and stored in: trimmed, then NFC. (NFC never turns a character
/// into white space that was not white space already, so the result is still trimmed.)
fn normalise_name(name: &str) -> String {
    ComposingNormalizerBorrowed::new_nfc()
        .normalize(name.trim())
        .into_owned()
}

/// Characters a name may not contain: they render as nothing, reorder or break the text
/// around them, or mean nothing yet, so a name made of (or salted with) them looks empty or
/// spoofs another.
///
/// - General categories Cc (controls), Cf (formats: zero-width and bidi controls, U+061C,
///   U+FEFF, the tag characters U+E0000-U+E007F...), Co (private use), Cn (unassigned and
///   noncharacters), Cs (surrogates), Zl (U+2028) and Zp (U+2029).
/// - Fillers: every Default_Ignorable_Code_Point, which is what renders as nothing although
///   its category says letter or mark (the Hangul fillers U+115F, U+1160, U+3164, U+FFA0,
///   U+034F, U+17B4, U+17B5...), except the variation selectors, which pick the glyph of the
///   character before them (the U+FE0F of "❤️"); and the blank glyphs that are not
///   default-ignorable: U+2800 BRAILLE PATTERN BLANK, U+16FE4 KHITAN SMALL SCRIPT FILLER,
///   U+1D159 MUSICAL SYMBOL NULL NOTEHEAD.
fn is_forbidden_in_name(c: char) -> bool {
    use GeneralCategory as Gc;
    let category = CodePointMapData::<GeneralCategory>::new().get(c);
    let filler = CodePointSetData::new::<DefaultIgnorableCodePoint>().contains(c)
        && !CodePointSetData::new::<VariationSelector>().contains(c);
    matches!(
        category,
        Gc::Control
            | Gc::Format
            | Gc::PrivateUse
            | Gc::Unassigned
            | Gc::Surrogate
            | Gc::LineSeparator
            | Gc::ParagraphSeparator
    ) || filler
        || matches!(c, '\u{2800}' | '\u{16FE4}' | '\u{1D159}')
}

/// A character that shows on its own: a letter, number, punctuation or symbol. Marks and
/// variation selectors only change the character before them, and spaces show nothing.
fn is_visible(c: char) -> bool {
    let category = CodePointMapData::<GeneralCategory>::new().get(c);
    [
        GeneralCategoryGroup::Letter,
        GeneralCategoryGroup::Number,
        GeneralCategoryGroup::Punctuation,
        GeneralCategoryGroup::Symbol,
    ]
    .iter()
    .any(|group| group.contains(category))
        && !is_forbidden_in_name(c)
}

/// Checks a name already in its stored form ([`normalise_name`]): the length limit counts
/// the characters that are stored.
fn check_name(name: &str) -> Option<&'static str> {
    let chars = name.chars().count();
    if chars == 0 {
        Some("must not be empty")
    } else if chars > NAME_MAX_CHARS {
        Some("must be at most 100 characters")
    } else if name.chars().any(is_forbidden_in_name) {
        Some("must not contain control or invisible characters")
    } else if !name.chars().any(is_visible) {
        Some("must contain a visible character")
    } else {
        None
    }
}

fn check_password(password: &str) -> Option<&'static str> {
    if password.chars().count() < PASSWORD_MIN_CHARS {
        Some("must be at least 8 characters")
    } else if password.len() > PASSWORD_MAX_BYTES {
        Some("must be at most 72 bytes (bcrypt's limit; it is never truncated)")
    } else if password.contains('\0') {
        Some("must not contain NUL")
    } else {
        None
    }
}

/// Echoing a hostile key back whole would let a client make our error body huge.
fn truncate(s: &str, max_chars: usize) -> String {
    s.chars().take(max_chars).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn errors(body: Value) -> FieldErrors {
        validate(&body).expect_err("should be invalid")
    }

    #[test]
    fn accepts_a_good_request_and_trims() {
        let ok =
            validate(&json!({"name": "  Ann Lee ", "email": " Ann@Example.io ", "password": "correct horse"})).unwrap();
        assert_eq!(ok.name, "Ann Lee");
        assert_eq!(ok.email, "Ann@Example.io");
        assert_eq!(ok.email_key(), "ann@example.io");
        assert_eq!(ok.password, "correct horse");
        let shown = format!("{ok:?}");
        assert!(
            !shown.contains("correct horse") && !shown.contains("Ann") && !shown.contains("Example.io"),
            "Debug must show neither the password nor personal data: {shown}"
        );
    }

    #[test]
    fn a_resend_is_one_email_by_the_sign_ups_rules() {
        let ok = validate_resend(&json!({"email": " Ann@X.io "})).unwrap();
        assert_eq!((ok.email.as_str(), ok.email_key().as_str()), ("Ann@X.io", "ann@x.io"));
        assert!(!format!("{ok:?}").contains("Ann"));
        let e = validate_resend(&json!({"email": "nope", "name": "x"})).unwrap_err();
        assert_eq!(e.keys().collect::<Vec<_>>(), ["email", "name"]);
        assert_eq!(validate_resend(&json!({})).unwrap_err()["email"], "is required");
        assert!(validate_resend(&json!(["a@b.io"])).unwrap_err().contains_key("body"));
    }

    #[test]
    fn reports_every_problem_at_once() {
        let e = errors(json!({"name": "", "email": "nope", "password": "short", "admin": true}));
        assert_eq!(e.keys().collect::<Vec<_>>(), ["admin", "email", "name", "password"]);
    }

    #[test]
    fn missing_null_and_wrongly_typed_fields() {
        let e = errors(json!({"name": null, "email": 7}));
        assert_eq!(e["name"], "is required");
        assert_eq!(e["email"], "must be a string");
        assert_eq!(e["password"], "is required");
        assert!(errors(json!([1, 2])).contains_key("body"));
        assert!(errors(json!("text")).contains_key("body"));
    }

    #[test]
    fn name_rules() {
        let with = |name: &str| validate(&json!({"name": name, "email": "a@b.io", "password": "12345678"}));
        assert!(with(&"é".repeat(100)).is_ok(), "100 characters, 200 bytes");
        assert!(with(&"a".repeat(101)).is_err());
        assert!(with("   ").is_err());
        assert!(with("Ann\u{0007}").is_err());
        assert!(with("Ann\u{200B}Lee").is_err());
        assert!(with("\u{202E}nnA").is_err());
    }

    fn name_of(name: &str) -> Result<String, FieldErrors> {
        validate(&json!({"name": name, "email": "a@b.io", "password": "12345678"})).map(|ok| ok.name)
    }

    #[test]
    fn names_are_stored_in_nfc_and_measured_so() {
        assert_eq!(name_of("Rene\u{301}e").unwrap(), "Ren\u{e9}e");
        assert_eq!(
            name_of(" \u{212B}ngstr\u{f6}m ").unwrap(),
            "\u{c5}ngstr\u{f6}m",
            "ANGSTROM SIGN is Å; trimmed too"
        );
        assert_eq!(
            name_of("\u{1100}\u{1161}").unwrap(),
            "\u{ac00}",
            "conjoining jamo compose"
        );
        assert_eq!(
            name_of(&"e\u{301}".repeat(100)).unwrap(),
            "\u{e9}".repeat(100),
            "200 characters sent, 100 stored: the limit counts the stored form"
        );
        assert!(name_of(&"e\u{301}".repeat(101)).is_err());
        assert_eq!(name_of("Ann Lee").unwrap(), "Ann Lee");
    }

    #[test]
    fn names_that_render_blank_or_reorder_text_are_refused() {
        // Cs (a lone surrogate) cannot be in a Rust string: JSON's "\ud800" fails to parse.
        let bad = [
            // Fillers: letters by category that render as nothing.
            ("Hangul filler", "\u{3164}"),
            ("Hangul filler in a name", "Ann\u{3164}Lee"),
            ("Hangul choseong filler", "\u{115F}"),
            ("Hangul jungseong filler", "\u{1160}"),
            ("halfwidth Hangul filler", "\u{FFA0}"),
            ("braille blank", "\u{2800}"),
            ("braille blanks around a name", "\u{2800}Ann\u{2800}"),
            ("Khitan filler", "\u{16FE4}"),
            ("musical null notehead", "\u{1D159}"),
            ("combining grapheme joiner", "Ann\u{034F}"),
            ("Khmer inherent vowel", "\u{17B4}"),
            // Cf
            ("Arabic letter mark", "\u{061C}Ann"),
            ("soft hyphen", "An\u{00AD}n"),
            ("word joiner", "Ann\u{2060}"),
            ("bidi isolate", "\u{2067}Ann\u{2069}"),
            ("tag characters", "Ann\u{E0041}\u{E007F}"),
            ("language tag", "\u{E0001}"),
            ("musical format control", "\u{1D173}"),
            ("zero-width joiner", "Ann\u{200D}Lee"),
            (
                "ZWJ emoji sequence (Cf; the price of refusing U+200D)",
                "Ann \u{1F469}\u{200D}\u{1F4BB}",
            ),
            // Cc, Zl, Zp
            ("next line", "Ann\u{0085}Lee"),
            ("line separator", "Ann\u{2028}Lee"),
            ("paragraph separator", "Ann\u{2029}Lee"),
            // Co, Cn
            ("private use", "Ann\u{E000}"),
            ("supplementary private use", "\u{F0000}"),
            ("unassigned", "Ann\u{0378}"),
            ("noncharacter", "Ann\u{FFFF}"),
            ("noncharacter in the Arabic block", "\u{FDD0}"),
            // Nothing visible.
            ("only a variation selector", "\u{FE0F}"),
            ("only a combining mark", "\u{0301}"),
            ("only marks and selectors", "\u{0301}\u{20DD}\u{FE0F}"),
            ("only a Mongolian variation selector", "\u{180B}"),
            ("only an ideographic variation selector", "\u{E0100}"),
            ("a mark between spaces", " \u{0301} "),
        ];
        for (what, name) in bad {
            assert!(name_of(name).is_err(), "{what} ({name:?}) should be refused");
        }
    }

    #[test]
    fn real_names_with_marks_selectors_and_emoji_pass() {
        for good in [
            "Ann \u{2764}\u{FE0F}",
            "Ann \u{1F600}",
            "Jos\u{e9}",
            "Zo\u{eb} O'Neil-Smith",
            "\u{674e}\u{5c0f}\u{9f8d}",
            "\u{845b}\u{E0100}",
            "\u{1820}\u{180B}",
            "\u{92e}\u{939}\u{93e}\u{924}\u{94d}\u{92e}\u{93e}",
            "\u{645}\u{62d}\u{645}\u{62f}",
            "Nguy\u{1ec5}n",
            "1\u{FE0F}\u{20E3}",
            "A\u{301}",
            "Ann\u{3000}Lee",
        ] {
            assert!(name_of(good).is_ok(), "{good:?} should pass");
        }
    }

    #[test]
    fn email_rules() {
        let with = |email: &str| validate(&json!({"name": "A", "email": email, "password": "12345678"})).is_ok();
        for good in [
            "a@b.io",
            "first.last+tag@sub.example.co",
            "o'neil@x-y.org",
            &format!("{}@b.io", "a".repeat(64)),
        ] {
            assert!(with(good), "{good} should pass");
        }
        let long_domain = format!("a@{}.io", vec!["b".repeat(63); 4].join("."));
        for bad in [
            "",
            "a",
            "@b.io",
            "a@",
            "a@b",
            "a@@b.io",
            "a@b@c.io",
            ".a@b.io",
            "a..b@c.io",
            "a b@c.io",
            "a@-b.io",
            "a@b_.io",
            "a@b..io",
            "ä@b.io",
            &format!("{}@b.io", "a".repeat(65)),
            &format!("a@{}.io", "b".repeat(64)),
            &long_domain,
        ] {
            assert!(!with(bad), "{bad} should fail");
        }
    }

    #[test]
    fn password_rules_count_bytes_for_bcrypt() {
        let with = |pw: &str| validate(&json!({"name": "A", "email": "a@b.io", "password": pw})).is_ok();
        assert!(with(&"x".repeat(72)));
        assert!(
            !with(&"x".repeat(73)),
            "73 bytes: bcrypt would silently drop the last one"
        );
        assert!(!with(&"é".repeat(37)), "37 characters but 74 bytes");
        assert!(!with("1234567"));
        assert!(with("  spaces  "), "passwords are not trimmed");
        assert!(!with("12345678\0"));
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use icu_normalizer::DecomposingNormalizerBorrowed;
    use proptest::prelude::*;
    use serde_json::json;

    fn name_of(name: &str) -> Result<String, FieldErrors> {
        validate(&json!({"name": name, "email": "a@b.io", "password": "12345678"})).map(|ok| ok.name)
    }

    /// Letters, precomposed and not, and the characters that compose, hide or join.
    fn name_char() -> impl Strategy<Value = char> {
        prop_oneof![
            4 => prop::char::range('a', 'e'),
            2 => prop::sample::select(vec!['\u{e9}', '\u{c5}', '\u{212b}', '\u{1100}', '\u{1161}', '\u{ac00}', '\u{2764}', '\u{845b}']),
            2 => prop::sample::select(vec![' ', '\u{3000}', '\u{0301}', '\u{0308}', '\u{20dd}', '\u{fe0f}', '\u{e0100}', '\u{180b}']),
            1 => prop::sample::select(vec!['\u{3164}', '\u{115f}', '\u{2800}', '\u{200d}', '\u{061c}', '\u{2028}', '\u{e0041}', '\u{e000}']),
            1 => any::<char>(),
        ]
    }

    fn any_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<f64>().prop_map(|f| json!(f)),
            ".*".prop_map(Value::from),
        ];
        leaf.prop_recursive(4, 32, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
                prop::collection::hash_map("[a-z_]{0,8}", inner, 0..4).prop_map(|m| json!(m)),
            ]
        })
    }

    proptest! {
        /// Whatever the input, validation answers; what it accepts keeps every rule.
        #[test]
        fn accepted_requests_keep_the_rules(name in ".{0,120}", email in ".{0,80}", password in ".{0,80}") {
            if let Ok(ok) = validate(&json!({"name": name, "email": email, "password": password})) {
                prop_assert_eq!(ok.name.trim(), ok.name.as_str());
                prop_assert!((1..=NAME_MAX_CHARS).contains(&ok.name.chars().count()));
                prop_assert!(!ok.name.chars().any(is_forbidden_in_name));
                prop_assert!(ok.name.chars().any(is_visible));
                prop_assert_eq!(ok.email.matches('@').count(), 1);
                prop_assert!(ok.email.len() <= EMAIL_MAX && ok.email.is_ascii());
                prop_assert!(ok.password.len() <= PASSWORD_MAX_BYTES && ok.password.chars().count() >= PASSWORD_MIN_CHARS);
                prop_assert_eq!(ok.password, password);
            }
        }

        /// Names mixing letters with the characters the rules are about. What is accepted is
        /// NFC, a fixed point (validating the stored name stores it unchanged), and the same
        /// for every canonically equivalent spelling (its NFD twin).
        #[test]
        fn names_normalise_once_and_canonical_twins_agree(chars in prop::collection::vec(name_char(), 0..60)) {
            let name: String = chars.into_iter().collect();
            let result = name_of(&name);
            let nfd = DecomposingNormalizerBorrowed::new_nfd().normalize(&name);
            prop_assert_eq!(&name_of(&nfd), &result);
            if let Ok(stored) = result {
                prop_assert!(ComposingNormalizerBorrowed::new_nfc().is_normalized(&stored));
                prop_assert_eq!(name_of(&stored), Ok(stored.clone()));
                prop_assert!(stored.chars().count() <= NAME_MAX_CHARS);
                prop_assert!(!stored.chars().any(is_forbidden_in_name));
                prop_assert!(stored.chars().any(is_visible));
            }
        }

        #[test]
        fn never_panics_and_names_a_field_for_any_json(body in any_json()) {
            if let Err(errors) = validate(&body) {
                prop_assert!(!errors.is_empty());
            }
        }

        /// Emails built from the accepted alphabet pass, whatever their case, and collide
        /// with their other-case twins.
        #[test]
        fn plausible_emails_pass_and_normalise(local in "[a-zA-Z0-9][a-zA-Z0-9+_-]{0,20}", domain in "[a-zA-Z0-9]{1,20}\\.[a-z]{2,6}") {
            let email = format!("{local}@{domain}");
            let lower = validate(&json!({"name": "A", "email": email.to_lowercase(), "password": "12345678"}));
            let upper = validate(&json!({"name": "A", "email": email.to_uppercase(), "password": "12345678"}));
            prop_assert_eq!(lower.unwrap().email_key(), upper.unwrap().email_key());
        }
    }
}
