//! An SMTP server for tests: a real conversation on 127.0.0.1 (EHLO, STARTTLS with a
//! certificate the test made, AUTH PLAIN or LOGIN, MAIL, RCPT, DATA), recording every
//! message it accepts. It can refuse the first attempt with a transient 451, or every
//! recipient with a permanent 550.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// A message the sink accepted.
#[derive(Debug, Clone, Default)]
pub struct Delivered {
    /// Whether the conversation had switched to TLS.
    pub tls: bool,
    /// AUTH user and password, if the client authenticated.
    pub auth: Option<(String, String)>,
    /// MAIL FROM and RCPT TO arguments.
    pub envelope: Vec<String>,
    /// The message as sent after DATA (dot-stuffing undone).
    pub data: String,
}

/// How the sink answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    /// Answer the first MAIL FROM with 451, then accept.
    RefuseFirst,
    /// Answer every RCPT TO with 550.
    RejectRecipients,
}

/// TLS of the sink: a certificate chain and key (PEM), offered by STARTTLS or from
/// the first byte.
#[derive(Debug, Clone)]
pub enum SinkTls {
    /// Plain, upgraded on STARTTLS.
    StartTls(String, String),
    /// TLS from the first byte (SMTPS).
    Implicit(String, String),
}

/// A running sink.
pub struct Sink {
    /// Its address.
    pub addr: SocketAddr,
    /// Messages accepted so far.
    pub delivered: Arc<Mutex<Vec<Delivered>>>,
    /// Connections opened so far.
    pub connections: Arc<Mutex<usize>>,
}

impl Sink {
    /// Starts a sink, plain without `tls`.
    pub async fn start(behaviour: Behaviour, tls: Option<SinkTls>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let implicit = matches!(tls, Some(SinkTls::Implicit(..)));
        let acceptor =
            tls.map(|(SinkTls::StartTls(chain, key) | SinkTls::Implicit(chain, key))| acceptor(&chain, &key));
        let delivered = Arc::new(Mutex::new(Vec::new()));
        let connections = Arc::new(Mutex::new(0usize));
        let (seen, count) = (Arc::clone(&delivered), Arc::clone(&connections));
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let nth = {
                    let mut count = count.lock().unwrap();
                    *count += 1;
                    *count
                };
                let refuse = match behaviour {
                    Behaviour::RefuseFirst => nth == 1,
                    _ => false,
                };
                let (seen, acceptor) = (Arc::clone(&seen), acceptor.clone());
                tokio::spawn(async move {
                    let mut state = Conversation {
                        refuse_mail: refuse,
                        reject_rcpt: behaviour == Behaviour::RejectRecipients,
                        offer_tls: acceptor.is_some() && !implicit,
                        current: Delivered::default(),
                        seen,
                    };
                    if implicit && let Some(acceptor) = acceptor {
                        let Ok(tls) = acceptor.accept(stream).await else { return };
                        state.current.tls = true;
                        let mut reader = BufReader::new(tls);
                        reader.get_mut().write_all(b"220 sink ESMTP\r\n").await.unwrap();
                        state.talk(&mut reader).await;
                        return;
                    }
                    let mut reader = BufReader::new(stream);
                    reader.get_mut().write_all(b"220 sink ESMTP\r\n").await.unwrap();
                    if state.talk(&mut reader).await == Next::StartTls
                        && let Some(acceptor) = acceptor
                    {
                        let Ok(tls) = acceptor.accept(reader.into_inner()).await else {
                            return;
                        };
                        state.current.tls = true;
                        state.offer_tls = false;
                        state.talk(&mut BufReader::new(tls)).await;
                    }
                });
            }
        });
        Self {
            addr,
            delivered,
            connections,
        }
    }

    /// The messages accepted so far.
    pub fn delivered(&self) -> Vec<Delivered> {
        self.delivered.lock().unwrap().clone()
    }
}

fn acceptor(chain: &str, key: &str) -> tokio_rustls::TlsAcceptor {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let certs = CertificateDer::pem_slice_iter(chain.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_slice(key.as_bytes()).unwrap();
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let config = tokio_rustls::rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
    tokio_rustls::TlsAcceptor::from(Arc::new(config))
}

#[derive(Debug, PartialEq, Eq)]
enum Next {
    StartTls,
    Done,
}

struct Conversation {
    refuse_mail: bool,
    reject_rcpt: bool,
    offer_tls: bool,
    current: Delivered,
    seen: Arc<Mutex<Vec<Delivered>>>,
}

async fn line<S: AsyncRead + Unpin>(reader: &mut BufReader<S>) -> Option<String> {
    let mut line = String::new();
    match reader.read_line(&mut line).await {
        Ok(0) | Err(_) => None,
        Ok(_) => Some(line.trim_end_matches(['\r', '\n']).to_owned()),
    }
}

impl Conversation {
    async fn talk<S: AsyncRead + AsyncWrite + Unpin>(&mut self, reader: &mut BufReader<S>) -> Next {
        while let Some(command) = line(reader).await {
            let upper = command.to_ascii_uppercase();
            let reply: String = if upper.starts_with("EHLO") || upper.starts_with("HELO") {
                if self.offer_tls {
                    "250-sink\r\n250-STARTTLS\r\n250 8BITMIME".into()
                } else {
                    "250-sink\r\n250-AUTH PLAIN LOGIN\r\n250 8BITMIME".into()
                }
            } else if upper == "STARTTLS" && self.offer_tls {
                let _ = reader.get_mut().write_all(b"220 go ahead\r\n").await;
                return Next::StartTls;
            } else if let Some(initial) = upper
                .strip_prefix("AUTH PLAIN")
                .map(|_| command[10..].trim().to_owned())
            {
                let response = if initial.is_empty() {
                    let _ = reader.get_mut().write_all(b"334 \r\n").await;
                    line(reader).await.unwrap_or_default()
                } else {
                    initial
                };
                let decoded = STANDARD.decode(response).unwrap_or_default();
                let parts: Vec<String> = decoded
                    .split(|b| *b == 0)
                    .map(|p| String::from_utf8_lossy(p).into_owned())
                    .collect();
                self.current.auth = parts.get(1).zip(parts.get(2)).map(|(u, p)| (u.clone(), p.clone()));
                "235 2.7.0 authenticated".into()
            } else if upper.starts_with("AUTH LOGIN") {
                let mut answers = Vec::new();
                for prompt in ["334 VXNlcm5hbWU6\r\n", "334 UGFzc3dvcmQ6\r\n"] {
                    let _ = reader.get_mut().write_all(prompt.as_bytes()).await;
                    let answer = line(reader).await.unwrap_or_default();
                    answers.push(String::from_utf8_lossy(&STANDARD.decode(answer).unwrap_or_default()).into_owned());
                }
                self.current.auth = Some((answers[0].clone(), answers[1].clone()));
                "235 2.7.0 authenticated".into()
            } else if upper.starts_with("MAIL FROM:") {
                if self.refuse_mail {
                    "451 4.3.0 try again later".into()
                } else {
                    self.current.envelope.push(command.clone());
                    "250 2.1.0 ok".into()
                }
            } else if upper.starts_with("RCPT TO:") {
                if self.reject_rcpt {
                    "550 5.1.1 no such mailbox".into()
                } else {
                    self.current.envelope.push(command.clone());
                    "250 2.1.5 ok".into()
                }
            } else if upper == "DATA" {
                let _ = reader.get_mut().write_all(b"354 end with .\r\n").await;
                let mut data = String::new();
                while let Some(l) = line(reader).await {
                    if l == "." {
                        break;
                    }
                    data.push_str(l.strip_prefix('.').unwrap_or(&l));
                    data.push('\n');
                }
                self.current.data = data;
                self.seen.lock().unwrap().push(self.current.clone());
                "250 2.0.0 queued".into()
            } else if upper == "QUIT" {
                let _ = reader.get_mut().write_all(b"221 bye\r\n").await;
                return Next::Done;
            } else if upper == "RSET" || upper == "NOOP" {
                "250 ok".into()
            } else {
                "502 5.5.2 not implemented".into()
            };
            if reader
                .get_mut()
                .write_all(format!("{reply}\r\n").as_bytes())
                .await
                .is_err()
            {
                break;
            }
        }
        Next::Done
    }
}
