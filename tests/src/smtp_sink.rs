//! A real SMTP server for e-mail tests: it speaks enough of RFC 5321 for lettre (EHLO, MAIL,
//! RCPT, DATA, RSET, NOOP, QUIT), keeps every message it accepted, and can refuse the next
//! ones with a temporary error, as a mail relay that is down does.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// One accepted message.
#[derive(Debug, Clone)]
pub struct Mail {
    pub to: Vec<String>,
    /// The message as sent: headers, a blank line, the body (transfer-encoded).
    pub data: String,
}

impl Mail {
    pub fn header(&self, name: &str) -> String {
        let head = self.data.split("\r\n\r\n").next().unwrap_or_default();
        let prefix = format!("{}:", name.to_lowercase());
        head.lines()
            .find(|line| line.to_lowercase().starts_with(&prefix))
            .map(|line| line[prefix.len()..].trim().to_owned())
            .unwrap_or_default()
    }

    /// The body, quoted-printable decoded (lettre encodes long lines so).
    pub fn body(&self) -> String {
        let body = self
            .data
            .split_once("\r\n\r\n")
            .map_or("", |(_, b)| b)
            .replace("=\r\n", "");
        let mut out = Vec::new();
        let bytes = body.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'='
                && let Some(hex) = body.get(i + 1..i + 3)
                && let Ok(byte) = u8::from_str_radix(hex, 16)
            {
                out.push(byte);
                i += 3;
                continue;
            }
            out.push(bytes[i]);
            i += 1;
        }
        String::from_utf8_lossy(&out).replace("\r\n", "\n")
    }
}

#[derive(Debug, Default)]
struct State {
    mails: Vec<Mail>,
    /// Transactions to refuse with `451` before accepting again.
    refuse: usize,
    refused: usize,
}

#[derive(Clone)]
pub struct SmtpSink {
    pub port: u16,
    state: Arc<Mutex<State>>,
}

impl SmtpSink {
    pub async fn start() -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let state = Arc::new(Mutex::new(State::default()));
        let shared = Arc::clone(&state);
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let state = Arc::clone(&shared);
                tokio::spawn(async move {
                    let _ = session(stream, state).await;
                });
            }
        });
        Ok(Self { port, state })
    }

    /// `smtp://127.0.0.1:PORT`, for `[smtp] url`.
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Refuses the next `n` messages with a temporary error.
    pub fn refuse_next(&self, n: usize) {
        self.state.lock().unwrap().refuse = n;
    }

    pub fn refused(&self) -> usize {
        self.state.lock().unwrap().refused
    }

    pub fn mails(&self) -> Vec<Mail> {
        self.state.lock().unwrap().mails.clone()
    }

    /// The messages to `to`.
    pub fn mails_to(&self, to: &str) -> Vec<Mail> {
        self.mails()
            .into_iter()
            .filter(|m| m.to.iter().any(|t| t.eq_ignore_ascii_case(to)))
            .collect()
    }

    /// Waits up to `timeout` for `count` messages to `to`.
    pub async fn wait_for(&self, to: &str, count: usize, timeout: Duration) -> Vec<Mail> {
        let until = tokio::time::Instant::now() + timeout;
        loop {
            let found = self.mails_to(to);
            if found.len() >= count || tokio::time::Instant::now() >= until {
                return found;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

async fn session(stream: tokio::net::TcpStream, state: Arc<Mutex<State>>) -> anyhow::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read);
    write.write_all(b"220 sink ESMTP\r\n").await?;
    let mut to = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        if lines.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let command = line.trim_end().to_owned();
        let verb = command
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_uppercase();
        let answer: &[u8] = match verb.as_str() {
            "EHLO" => b"250-sink\r\n250 8BITMIME\r\n",
            "HELO" | "NOOP" => b"250 ok\r\n",
            "RSET" => {
                to.clear();
                b"250 ok\r\n"
            }
            "MAIL" => {
                let mut s = state.lock().unwrap();
                if s.refuse > 0 {
                    s.refuse -= 1;
                    s.refused += 1;
                    b"451 try again later\r\n"
                } else {
                    b"250 ok\r\n"
                }
            }
            "RCPT" => {
                let address = command
                    .split_once('<')
                    .and_then(|(_, rest)| rest.split_once('>'))
                    .map(|(address, _)| address.to_owned())
                    .unwrap_or_default();
                to.push(address);
                b"250 ok\r\n"
            }
            "DATA" => {
                write.write_all(b"354 go on\r\n").await?;
                let mut data = String::new();
                loop {
                    line.clear();
                    if lines.read_line(&mut line).await? == 0 {
                        return Ok(());
                    }
                    if line == ".\r\n" {
                        break;
                    }
                    let text = line.strip_prefix('.').unwrap_or(&line);
                    data.push_str(text);
                }
                state.lock().unwrap().mails.push(Mail {
                    to: std::mem::take(&mut to),
                    data,
                });
                b"250 queued\r\n"
            }
            "QUIT" => {
                write.write_all(b"221 bye\r\n").await?;
                return Ok(());
            }
            _ => b"502 not implemented\r\n",
        };
        write.write_all(answer).await?;
    }
}
