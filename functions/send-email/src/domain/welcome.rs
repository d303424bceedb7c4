//! The welcome email. User-supplied text never goes into the subject (a name such as "Account
//! locked - verify at evil.example" would make our email to someone else's address read as a
//! phishing lure in their inbox list); in the body it stays, escaped in the HTML part.

use user_events::PublicUser;

#[derive(Clone, PartialEq, Eq)]
pub struct Email {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// The subject only: the address is in `to` and in both bodies (with the name), and a `{:?}`
/// in a log line must carry neither.
impl std::fmt::Debug for Email {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Email")
            .field("subject", &self.subject)
            .finish_non_exhaustive()
    }
}

/// The subject of every welcome email: fixed, whoever signs up.
pub const SUBJECT: &str = "Welcome! Your account is ready";

pub fn welcome(user: &PublicUser) -> Email {
    let name = &user.name;
    let html_name = escape_html(name);
    Email {
        to: user.email.clone(),
        subject: SUBJECT.to_owned(),
        text: format!(
            "Hi {name},\n\nWelcome aboard: your account for {email} is ready.\n\nIf you did not sign up, ignore this email.\n",
            email = user.email
        ),
        html: format!(
            "<!doctype html><html><body><p>Hi {html_name},</p>\
             <p>Welcome aboard: your account for {email} is ready.</p>\
             <p>If you did not sign up, ignore this email.</p></body></html>",
            email = escape_html(&user.email)
        ),
    }
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

    #[test]
    fn escapes_user_text_in_html_only() {
        let user = user_events::testing::user("<script>alert('x')</script> & co", "a@b.io");
        let email = welcome(&user);
        assert_eq!(email.to, "a@b.io");
        assert!(
            email
                .html
                .contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; co")
        );
        assert!(!email.html.contains("<script>"));
        assert!(
            email.text.contains("<script>alert('x')</script> & co"),
            "plain text stays as typed"
        );
        assert_eq!(email.subject, SUBJECT, "no user text in the subject");
        let shown = format!("{email:?}");
        assert!(!shown.contains("a@b.io") && !shown.contains("script"), "Debug: {shown}");
    }

    #[test]
    fn the_subject_is_the_same_whatever_the_name() {
        let lure = "Account locked - verify at evil.example";
        let user = user_events::testing::user(lure, "victim@b.io");
        let email = welcome(&user);
        assert_eq!(email.subject, SUBJECT);
        assert!(!email.subject.contains("evil.example"));
        assert!(email.text.contains(lure), "the name stays in the body");
    }
}
