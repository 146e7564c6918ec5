//! Email to people (lettre, SMTP with STARTTLS): rejected inputs and dead letters go to the partner's
//! exception contacts (its profile) and to the B2B team (the config).
//!
//! Notices are batched: each recipient gets at most one digest per `digest_seconds`, listing what
//! happened since the last one (at most `max_items`, then a count), which is also the rate limit. A
//! digest the SMTP server does not take is kept and tried again with the next one. Partner contacts
//! see only their own partner's notices.

use crate::config::{NotifyConfig, SmtpTls};
use crate::profiles::Profiles;
use chrono::{DateTime, Utc};
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use std::collections::BTreeMap;
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// Something a person should look at.
#[derive(Clone, Debug)]
pub struct Notice {
    pub at: DateTime<Utc>,
    pub partner: String,
    pub kind: NoticeKind,
    /// `intake 42`, `document 42-1`.
    pub subject: String,
    /// What went wrong, in words.
    pub text: String,
    /// Where the operator API shows it.
    pub link: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum NoticeKind {
    Rejected,
    DeadLetter,
    /// A file that could not be sent to the partner (SFTP push, AS2: no answer, negative MDN).
    Transport,
}

impl NoticeKind {
    fn label(self) -> &'static str {
        match self {
            NoticeKind::Rejected => "rejected",
            NoticeKind::DeadLetter => "dead letter",
            NoticeKind::Transport => "not sent to the partner",
        }
    }
}

pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    b2b: Vec<Mailbox>,
    /// Partner code → its exception contacts.
    contacts: BTreeMap<String, Vec<Mailbox>>,
    interval: Duration,
    max_items: usize,
}

fn mailbox(s: &str, what: &str) -> anyhow::Result<Mailbox> {
    s.parse().map_err(|e| anyhow::anyhow!("{what}: {s:?} is not an email address: {e}"))
}

impl Mailer {
    /// `None` when no SMTP host is configured (notices are then only logged).
    pub fn new(c: &NotifyConfig, profiles: &Profiles) -> anyhow::Result<Option<Mailer>> {
        let Some(host) = &c.smtp_host else { return Ok(None) };
        let tls_params = || -> anyhow::Result<TlsParameters> {
            let mut b = TlsParameters::builder(host.clone());
            if let Some(ca) = &c.ca_file {
                let pem = std::fs::read(ca).map_err(|e| anyhow::anyhow!("notify.ca_file {}: {e}", ca.display()))?;
                b = b.add_root_certificate(Certificate::from_pem(&pem).map_err(|e| anyhow::anyhow!("notify.ca_file {}: {e}", ca.display()))?);
            }
            Ok(b.build_rustls()?)
        };
        let tls = match c.tls {
            SmtpTls::None => Tls::None,
            SmtpTls::Starttls => Tls::Required(tls_params()?),
            SmtpTls::Tls => Tls::Wrapper(tls_params()?),
        };
        let mut b = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host.as_str())
            .port(c.smtp_port)
            .tls(tls)
            .timeout(Some(Duration::from_secs(30)));
        if let (Some(user), Some(pass)) = (&c.username, &c.password) {
            b = b.credentials(Credentials::new(user.clone(), pass.load()?.expose().to_string()));
        }
        let mut contacts = BTreeMap::new();
        for p in &profiles.partners {
            let list = p.profile.contacts.exceptions.iter().map(|a| mailbox(a, &format!("{}: contacts.exceptions", p.file.path))).collect::<anyhow::Result<Vec<_>>>()?;
            contacts.insert(p.profile.code.clone(), list);
        }
        Ok(Some(Mailer {
            transport: b.build(),
            from: mailbox(&c.from, "notify.from")?,
            b2b: c.b2b_team.iter().map(|a| mailbox(a, "notify.b2b_team")).collect::<anyhow::Result<_>>()?,
            contacts,
            interval: Duration::from_millis(c.digest_ms.max(10)),
            max_items: c.max_items.max(1),
        }))
    }

    /// Collects notices and sends digests until `stop`; what is pending then is sent once more.
    pub async fn run(self, mut rx: mpsc::UnboundedReceiver<Notice>, mut stop: watch::Receiver<bool>) {
        // Recipient → its pending notices.
        let mut pending: BTreeMap<Mailbox, Vec<Notice>> = BTreeMap::new();
        let mut tick = tokio::time::interval(self.interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                n = rx.recv() => match n {
                    Some(n) => self.add(&mut pending, n),
                    None => break,
                },
                _ = tick.tick() => self.flush(&mut pending).await,
                _ = stop.changed() => break,
            }
        }
        while let Ok(n) = rx.try_recv() {
            self.add(&mut pending, n);
        }
        self.flush(&mut pending).await;
    }

    fn add(&self, pending: &mut BTreeMap<Mailbox, Vec<Notice>>, n: Notice) {
        let partner = self.contacts.get(&n.partner).into_iter().flatten();
        for to in partner.chain(&self.b2b) {
            let list = pending.entry(to.clone()).or_default();
            // Bounded while the SMTP server is away: the oldest go first.
            if list.len() >= 10_000 {
                list.remove(0);
            }
            list.push(n.clone());
        }
    }

    async fn flush(&self, pending: &mut BTreeMap<Mailbox, Vec<Notice>>) {
        let recipients: Vec<Mailbox> = pending.keys().cloned().collect();
        for to in recipients {
            let Some(items) = pending.remove(&to) else { continue };
            if items.is_empty() {
                continue;
            }
            let msg = match self.digest(&to, &items) {
                Ok(m) => m,
                Err(e) => {
                    tracing::error!("notify: cannot write the digest: {e}");
                    continue;
                }
            };
            match self.transport.send(msg).await {
                Ok(_) => tracing::info!(to = %to.email, notices = items.len(), "notify: digest sent"),
                Err(e) => {
                    tracing::warn!(to = %to.email, "notify: SMTP refused or unreachable, kept for the next digest: {e}");
                    pending.insert(to, items);
                }
            }
        }
    }

    fn digest(&self, to: &Mailbox, items: &[Notice]) -> anyhow::Result<Message> {
        let mut counts: BTreeMap<NoticeKind, usize> = BTreeMap::new();
        let mut partners: Vec<&str> = Vec::new();
        for n in items {
            *counts.entry(n.kind).or_default() += 1;
            if !partners.contains(&n.partner.as_str()) {
                partners.push(&n.partner);
            }
        }
        let what = counts.iter().map(|(k, c)| format!("{c} {}", k.label())).collect::<Vec<_>>().join(", ");
        let subject = format!("edigate: {what} ({})", partners.join(", "));
        let mut body = format!("{what} since the last digest.\n\n");
        for n in items.iter().take(self.max_items) {
            body.push_str(&format!("- [{}] {} {} at {}\n  {}\n  {}\n\n", n.kind.label(), n.partner, n.subject, n.at.format("%Y-%m-%d %H:%M:%S UTC"), n.text.replace('\n', "\n  "), n.link));
        }
        if items.len() > self.max_items {
            body.push_str(&format!("... and {} more: see the operator API.\n", items.len() - self.max_items));
        }
        Ok(Message::builder().from(self.from.clone()).to(to.clone()).subject(subject).body(body)?)
    }
}
