//! Every message the daemon sends (see README, "Email"): a subject, a text/plain part holding
//! the link, and an HTML alternative (an askama template, escaped by default). `app`
//! is the display name of `mail.from`.

use super::Mail;
use askama::Template;

/// The HTML alternative of a message with a link (`daemon/templates/mail/link.html`).
#[derive(Template)]
#[template(path = "mail/link.html")]
struct LinkHtml<'a> {
    app: &'a str,
    intro: &'a str,
    link: &'a str,
    action: &'a str,
    outro: &'a str,
}

impl LinkHtml<'_> {
    /// The rendered HTML; none if it does not render (the text part still goes).
    fn html(&self) -> Option<String> {
        self.render()
            .inspect_err(|e| tracing::error!(error = %e, "a message's HTML did not render"))
            .ok()
    }
}

/// Text parts are wrapped at this width; a longer word (a link) keeps its own line.
const WIDTH: usize = 72;

/// Wraps each paragraph line of `text` at [`WIDTH`] between words.
fn wrap(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / WIDTH);
    for line in text.split('\n') {
        let mut width = 0;
        for word in line.split(' ').filter(|w| !w.is_empty()) {
            if width > 0 && width + 1 + word.len() > WIDTH {
                out.push('\n');
                width = 0;
            } else if width > 0 {
                out.push(' ');
                width += 1;
            }
            out.push_str(word);
            width += word.len();
        }
        out.push('\n');
    }
    out.pop();
    out
}

/// A verification message: the link confirms `to`.
pub fn verification(app: &str, to: &str, link: &str, valid_for: &str) -> Mail {
    Mail {
        to: to.to_owned(),
        subject: format!("Confirm your email address for {app}"),
        text: wrap(&format!(
            "Hello,\n\nconfirm that {to} is your address for {app} by opening this link:\n\n{link}\n\n\
             The link works for {valid_for}. If you did not ask for it, ignore this message.\n\n{app}\n"
        )),
        html: LinkHtml {
            app,
            intro: &format!("Confirm that {to} is your address for {app} by opening this link:"),
            link,
            action: "Confirm my address",
            outro: &format!("The link works for {valid_for}. If you did not ask for it, ignore this message."),
        }
        .html(),
    }
}

/// A password-reset message: the link opens the reset form.
pub fn reset(app: &str, to: &str, link: &str, valid_for: &str) -> Mail {
    Mail {
        to: to.to_owned(),
        subject: format!("Reset your {app} password"),
        text: wrap(&format!(
            "Hello,\n\nsomeone asked to reset the password of the {app} account of {to}. To choose a new \
             password, open this link:\n\n{link}\n\nThe link works for {valid_for} and only once. If you \
             did not ask for it, ignore this message: your password stays as it is.\n\n{app}\n"
        )),
        html: LinkHtml {
            app,
            intro: &format!("Someone asked to reset the password of the {app} account of {to}."),
            link,
            action: "Choose a new password",
            outro: &format!(
                "The link works for {valid_for} and only once. If you did not ask for it, ignore this message: \
                 your password stays as it is."
            ),
        }
        .html(),
    }
}

/// The notice of a password change (by reset or by an operator): no link.
pub fn password_changed(app: &str, to: &str) -> Mail {
    Mail {
        to: to.to_owned(),
        subject: format!("Your {app} password was changed"),
        text: wrap(&format!(
            "Hello,\n\nthe password of the {app} account of {to} was just changed, and every session \
             signed in with the old one was ended.\n\nIf this was not you, contact the people who run \
             {app} at once.\n\n{app}\n"
        )),
        html: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_text_part_holds_the_link_and_html_is_escaped() {
        let link = "https://auth.example.com/reset-password?token=tsr_pr_abc";
        let mail = reset("Acme <Corp>", "a@example.com", link, "1 hour");
        assert!(mail.text.contains(link));
        let html = mail.html.unwrap();
        assert!(
            html.contains("Acme &#60;Corp&#62;") || html.contains("Acme &lt;Corp&gt;"),
            "{html}"
        );
        assert!(
            html.contains(&format!("href=\"{}\"", link.replace('=', "&#61;"))) || html.contains(link),
            "{html}"
        );
        assert!(!html.contains("<Corp>"));
        assert!(
            verification("Acme", "a@example.com", link, "24 hours")
                .text
                .contains(link)
        );
        assert!(!password_changed("Acme", "a@example.com").text.contains("http"));
        assert!(
            mail.text.lines().all(|l| l.len() <= WIDTH || !l.contains(' ')),
            "{}",
            mail.text
        );
    }

    #[test]
    fn wrapping_keeps_paragraphs_and_long_words() {
        let long = "x".repeat(100);
        assert_eq!(wrap(&format!("a b\n\n{long} c")), format!("a b\n\n{long}\nc"));
        let words = "word ".repeat(30);
        assert!(wrap(&words).lines().all(|l| l.len() <= WIDTH));
    }
}
