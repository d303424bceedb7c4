//! The emails send-email sends. Not one carries text a requester typed: the recipient's address
//! is the only user data in them (a name such as "Your account is locked, call +1 555..." in an
//! email from our domain to someone else's address is a phishing mail signed by us). Subjects
//! are fixed.

use user_events::Recipient;

#[derive(Clone, PartialEq, Eq)]
pub struct Email {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// The subject only: the address is in `to` and in both bodies (with the link), and a `{:?}`
/// in a log line must carry neither.
impl std::fmt::Debug for Email {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Email")
            .field("subject", &self.subject)
            .finish_non_exhaustive()
    }
}

/// The subject of every verification email.
pub const VERIFICATION_SUBJECT: &str = "Confirm your email address";
/// The subject of every notice to a verified owner.
pub const NOTICE_SUBJECT: &str = "Someone tried to sign up with your email address";

/// The link to prove the address, for a user who signed up (or asked again): `link` carries
/// the one-time token, good for `ttl_seconds`.
pub fn verification(to: &Recipient, link: &str, ttl_seconds: i64) -> Email {
    let expiry = in_words(ttl_seconds);
    let email = &to.email;
    Email {
        to: email.clone(),
        subject: VERIFICATION_SUBJECT.to_owned(),
        text: format!(
            "Confirm that {email} is your address to finish signing up:\n\n{link}\n\n\
             The link works once and expires in {expiry}. If you did not sign up, ignore this \
             email: nothing happens until the address is confirmed.\n"
        ),
        html: format!(
            "<!doctype html><html><body><p>Confirm that {email} is your address to finish signing up:</p>\
             <p><a href=\"{link}\">Confirm my address</a></p>\
             <p>The link works once and expires in {expiry}. If you did not sign up, ignore this \
             email: nothing happens until the address is confirmed.</p></body></html>",
            email = escape_html(email),
            link = escape_html(link),
        ),
    }
}

/// The notice to the owner of a verified address that someone tried to sign up with it: no
/// link, nothing to do.
pub fn notice(to: &Recipient) -> Email {
    let email = &to.email;
    Email {
        to: email.clone(),
        subject: NOTICE_SUBJECT.to_owned(),
        text: format!(
            "Someone tried to create an account with {email}, which already has one.\n\n\
             If it was you, sign in with your password instead. If it was not, you can ignore \
             this email: your account has not changed.\n"
        ),
        html: format!(
            "<!doctype html><html><body><p>Someone tried to create an account with {email}, which already has one.</p>\
             <p>If it was you, sign in with your password instead. If it was not, you can ignore \
             this email: your account has not changed.</p></body></html>",
            email = escape_html(email)
        ),
    }
}

/// A lifetime as the email says it: "24 hours", "1 hour", "90 minutes", "30 seconds".
pub fn in_words(seconds: i64) -> String {
    let (n, unit) = if seconds % 3600 == 0 {
        (seconds / 3600, "hour")
    } else if seconds % 60 == 0 {
        (seconds / 60, "minute")
    } else {
        (seconds, "second")
    };
    format!("{n} {unit}{}", if n == 1 { "" } else { "s" })
}

fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn to(email: &str) -> Recipient {
        Recipient {
            id: uuid::Uuid::new_v4(),
            email: email.into(),
        }
    }

    #[test]
    fn the_verification_email_has_the_link_its_expiry_and_a_fixed_subject() {
        let email = verification(&to("a@b.io"), "https://x.example/users/verify?token=t.o.k", 24 * 3600);
        assert_eq!(
            (email.to.as_str(), email.subject.as_str()),
            ("a@b.io", VERIFICATION_SUBJECT)
        );
        for body in [&email.text, &email.html] {
            assert!(body.contains("https://x.example/users/verify?token=t.o.k"), "{body}");
            assert!(body.contains("expires in 24 hours"), "{body}");
            assert!(body.contains("a@b.io"));
        }
        assert!(!format!("{email:?}").contains("a@b.io") && !format!("{email:?}").contains("token"));
    }

    #[test]
    fn the_notice_has_no_link() {
        let email = notice(&to("a@b.io"));
        assert_eq!(email.subject, NOTICE_SUBJECT);
        assert!(
            !email.text.contains("http") && !email.html.contains("href"),
            "{email:?}"
        );
    }

    #[test]
    fn markup_in_an_address_or_a_link_is_escaped() {
        let email = verification(&to("a<b>@x.io"), "https://x/?token=\"><script>", 60);
        assert!(
            !email.html.contains("<script>") && !email.html.contains("a<b>"),
            "{}",
            email.html
        );
        assert!(email.html.contains("a&lt;b&gt;@x.io"));
    }

    #[test]
    fn lifetimes_in_words() {
        assert_eq!(in_words(24 * 3600), "24 hours");
        assert_eq!(in_words(3600), "1 hour");
        assert_eq!(in_words(5400), "90 minutes");
        assert_eq!(in_words(60), "1 minute");
        assert_eq!(in_words(30), "30 seconds");
    }
}
