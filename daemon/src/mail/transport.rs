//! Where messages go: an SMTP relay (lettre, rustls, STARTTLS or implicit TLS, AUTH
//! with the password from `password_file`, a private CA from `ca_file`), or a
//! directory that gets one RFC 5322 `.eml` file per message (mode 0600, written under
//! a temporary name and renamed, so a reader never sees half a message).

use super::Mail;
use crate::config::{MailConfig, MailTransport, SmtpConfig, SmtpTls};
use lettre::message::header::{ContentTransferEncoding, ContentType};
use lettre::message::{Body, Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tessera_common::files::{WriteError, write_private};

/// How long one SMTP conversation may take.
const SMTP_TIMEOUT: Duration = Duration::from_secs(30);

/// Why a message was not sent, or a transport could not be set up.
#[derive(Debug, thiserror::Error)]
#[error("{detail}")]
pub struct TransportError {
    /// Retrying cannot help (a refused recipient, a malformed address).
    pub permanent: bool,
    /// What happened.
    pub detail: String,
}

impl TransportError {
    fn transient(detail: impl Into<String>) -> Self {
        Self {
            permanent: false,
            detail: detail.into(),
        }
    }

    fn permanent(detail: impl Into<String>) -> Self {
        Self {
            permanent: true,
            detail: detail.into(),
        }
    }
}

/// A configured transport and the `From` mailbox.
#[derive(Debug)]
pub struct Transport {
    from: Mailbox,
    to: Destination,
}

#[derive(Debug)]
enum Destination {
    File(PathBuf),
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
}

impl Transport {
    /// Sets up what `config` names: creates the file transport's directory (0700), or
    /// reads the SMTP password and CA files.
    pub fn open(config: &MailConfig) -> Result<Self, TransportError> {
        let from: Mailbox = config
            .from
            .parse()
            .map_err(|e| TransportError::permanent(format!("mail.from: {e}")))?;
        let to = match &config.transport {
            MailTransport::File(dir) => {
                create_private_dir(dir)?;
                Destination::File(dir.clone())
            }
            MailTransport::Smtp(smtp) => Destination::Smtp(smtp_transport(smtp)?),
        };
        Ok(Self { from, to })
    }

    /// The name messages are signed with: the display name of `mail.from`, else its
    /// address.
    pub fn app_name(&self) -> String {
        self.from.name.clone().unwrap_or_else(|| self.from.email.to_string())
    }

    /// Sends one message.
    pub async fn send(&self, mail: &Mail) -> Result<(), TransportError> {
        let message = self.message(mail)?;
        match &self.to {
            Destination::File(dir) => {
                let (dir, bytes) = (dir.clone(), message.formatted());
                tokio::task::spawn_blocking(move || write_eml(&dir, &bytes))
                    .await
                    .map_err(|e| TransportError::transient(e.to_string()))?
            }
            Destination::Smtp(smtp) => smtp.send(message).await.map(drop).map_err(|e| TransportError {
                permanent: e.is_permanent(),
                detail: format!("smtp: {e}"),
            }),
        }
    }

    fn message(&self, mail: &Mail) -> Result<Message, TransportError> {
        let to: Mailbox = mail
            .to
            .parse()
            .map_err(|e| TransportError::permanent(format!("recipient: {e}")))?;
        let builder = Message::builder().from(self.from.clone()).to(to).subject(&mail.subject);
        let text = SinglePart::builder()
            .header(ContentType::TEXT_PLAIN)
            .body(readable(&mail.text));
        let built = match &mail.html {
            Some(html) => builder.multipart(
                MultiPart::alternative().singlepart(text).singlepart(
                    SinglePart::builder()
                        .header(ContentType::TEXT_HTML)
                        .body(readable(html)),
                ),
            ),
            None => builder.singlepart(text),
        };
        built.map_err(|e| TransportError::permanent(format!("building the message: {e}")))
    }
}

/// A body sent as it is written when RFC 5322 allows it (7bit: ASCII, no NUL or bare
/// CR, lines of at most 998 bytes), so a link line longer than lettre's preferred 76
/// reads and copies whole in any mail reader and in the file transport's files;
/// anything else as lettre chooses (quoted-printable or base64).
fn readable(text: &str) -> Body {
    let seven_bit = text.is_ascii() && !text.contains(['\0', '\r']) && text.lines().all(|line| line.len() <= 998);
    if seven_bit {
        Body::dangerous_pre_encoded(
            text.replace('\n', "\r\n").into_bytes(),
            ContentTransferEncoding::SevenBit,
        )
    } else {
        Body::new(text.to_owned())
    }
}

fn smtp_transport(config: &SmtpConfig) -> Result<AsyncSmtpTransport<Tokio1Executor>, TransportError> {
    let setup = |what: &str, e: &dyn std::fmt::Display| TransportError::permanent(format!("mail.smtp.{what}: {e}"));
    let tls = match config.tls {
        SmtpTls::None => Tls::None,
        SmtpTls::StartTls | SmtpTls::Tls => {
            let mut parameters = TlsParameters::builder(config.host.clone());
            if let Some(ca) = &config.ca_file {
                let pem = std::fs::read(ca).map_err(|e| setup("ca_file", &format!("{}: {e}", ca.display())))?;
                let cert = Certificate::from_pem(&pem).map_err(|e| setup("ca_file", &e))?;
                parameters = parameters.add_root_certificate(cert);
            }
            let parameters = parameters.build_rustls().map_err(|e| setup("tls", &e))?;
            if config.tls == SmtpTls::Tls {
                Tls::Wrapper(parameters)
            } else {
                Tls::Required(parameters)
            }
        }
    };
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&config.host)
        .port(config.port)
        .tls(tls)
        .timeout(Some(SMTP_TIMEOUT));
    if let (Some(user), Some(file)) = (&config.username, &config.password_file) {
        let password =
            std::fs::read_to_string(file).map_err(|e| setup("password_file", &format!("{}: {e}", file.display())))?;
        let password = password.trim_end_matches(['\r', '\n']).to_owned();
        builder = builder.credentials(Credentials::new(user.clone(), password));
    }
    Ok(builder.build())
}

/// Creates `dir` mode 0700 if missing.
fn create_private_dir(dir: &Path) -> Result<(), TransportError> {
    use std::os::unix::fs::DirBuilderExt;
    if dir.is_dir() {
        return Ok(());
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| TransportError::permanent(format!("mail.dir: cannot create {}: {e}", dir.display())))
}

/// Writes one message as `<nanoseconds>-<uuid>.eml`, mode 0600, whole or not at all.
fn write_eml(dir: &Path, bytes: &[u8]) -> Result<(), TransportError> {
    use std::io::Write;
    let nanos = time::OffsetDateTime::now_utc().unix_timestamp_nanos();
    let out = dir.join(format!("{nanos}-{}.eml", uuid::Uuid::new_v4().simple()));
    write_private(&out, false, |mut file| file.write_all(bytes)).map_err(|e| {
        TransportError::transient(match e {
            WriteError::Refused(m) | WriteError::Io(m) => m,
            WriteError::Inner(e) => format!("writing {}: {e}", out.display()),
        })
    })
}
