//! Every message the daemon sends (contract §8): a subject, a text/plain part holding
//! the link, and an HTML alternative. `app` is the display name of `mail.from`.

use super::Mail;

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
        html: Some(page(
            app,
            &format!(
                "<p>Confirm that {} is your address for {} by opening this link:</p>\
                 <p><a href=\"{link_attr}\">Confirm my address</a></p>\
                 <p>The link works for {valid_for}. If you did not ask for it, ignore this message.</p>",
                escape(to),
                escape(app),
                link_attr = escape(link),
            ),
        )),
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
        html: Some(page(
            app,
            &format!(
                "<p>Someone asked to reset the password of the {} account of {}.</p>\
                 <p><a href=\"{link_attr}\">Choose a new password</a></p>\
                 <p>The link works for {valid_for} and only once. If you did not ask for it, ignore \
                 this message: your password stays as it is.</p>",
                escape(app),
                escape(to),
                link_attr = escape(link),
            ),
        )),
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

fn page(app: &str, body: &str) -> String {
    format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{app}</title></head>\
         <body>{body}<p>{app}</p></body></html>",
        app = escape(app)
    )
}

/// Escapes text for HTML content and attribute values.
pub fn escape(text: &str) -> String {
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
    fn the_text_part_holds_the_link_and_html_is_escaped() {
        let link = "https://auth.example.com/reset-password?token=tsr_pr_abc";
        let mail = reset("Acme <Corp>", "a@example.com", link, "1 hour");
        assert!(mail.text.contains(link));
        let html = mail.html.unwrap();
        assert!(html.contains("Acme &lt;Corp&gt;"), "{html}");
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
