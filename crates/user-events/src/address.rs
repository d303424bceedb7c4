//! What an email address is, for everyone who takes one: the sign-up, the resend, the sign-in.

/// RFC 5321 limits: the whole path, the local part, one domain label, the domain.
pub const EMAIL_MAX: usize = 254;
pub const EMAIL_LOCAL_MAX: usize = 64;
pub const EMAIL_LABEL_MAX: usize = 63;
pub const EMAIL_DOMAIN_MAX: usize = 253;

/// A practical check, not RFC 5322's full grammar: one `@`, a dot-atom local part, a domain of
/// LDH labels with a dot, and RFC 5321's length limits.
pub fn check(email: &str) -> Option<&'static str> {
    if email.is_empty() {
        return Some("must not be empty");
    }
    if email.len() > EMAIL_MAX {
        return Some("must be at most 254 characters");
    }
    let Some((local, domain)) = email.split_once('@') else {
        return Some("must contain @");
    };
    if domain.contains('@') {
        return Some("must contain exactly one @");
    }
    if local.is_empty() || local.len() > EMAIL_LOCAL_MAX {
        return Some("the part before @ must be 1-64 characters");
    }
    let atext = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c);
    if local.split('.').any(|atom| atom.is_empty() || !atom.chars().all(atext)) {
        return Some("the part before @ has an invalid character or dot");
    }
    if domain.len() > EMAIL_DOMAIN_MAX || !domain.contains('.') {
        return Some("the domain must be a name like example.com");
    }
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= EMAIL_LABEL_MAX
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if !domain.split('.').all(label_ok) {
        return Some("the domain has an invalid label");
    }
    None
}
