//! The welcome email. User-supplied text goes into the HTML part escaped.

use user_events::PublicUser;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
}

pub fn welcome(user: &PublicUser) -> Email {
    let name = &user.name;
    let html_name = escape_html(name);
    Email {
        to: user.email.clone(),
        subject: format!("Welcome, {name}!"),
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
        let user = PublicUser {
            id: uuid::Uuid::nil(),
            name: "<script>alert('x')</script> & co".into(),
            email: "a@b.io".into(),
            created_at: time::OffsetDateTime::UNIX_EPOCH,
        };
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
        assert_eq!(email.subject, "Welcome, <script>alert('x')</script> & co!");
    }
}
