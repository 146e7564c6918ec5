//! Email digests through a real SMTP server (aiosmtpd from PyPI, installed by `.ci/run`).

use crate::harness::*;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

struct Smtp(std::process::Child);

impl Drop for Smtp {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Every message the server received: (To header, whole text).
fn mails(maildir: &std::path::Path) -> Vec<(String, String)> {
    let Ok(rd) = std::fs::read_dir(maildir.join("new")) else { return vec![] };
    rd.flatten()
        .map(|e| {
            // Quoted-printable soft line breaks undone.
            let text = std::fs::read_to_string(e.path()).unwrap_or_default().replace("=\n", "").replace("=3D", "=");
            let to = text.lines().find_map(|l| l.strip_prefix("To: ")).unwrap_or_default().to_string();
            (to, text)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_inputs_and_dead_letters_reach_people_as_digests() {
    let ok = Command::new("python3").args(["-c", "import aiosmtpd"]).status().is_ok_and(|s| s.success());
    assert!(ok, "this test needs the aiosmtpd SMTP server: pip install aiosmtpd (.ci/run does)");
    let port = free_port();
    let mut h = Harness::new(
        "notify",
        Options {
            max_attempts: 2,
            extra: format!(
                "[notify]\nsmtp_host = \"127.0.0.1\"\nsmtp_port = {port}\ntls = \"none\"\nfrom = \"edigate@acme-mfg.example\"\nb2b_team = [\"b2b@acme-mfg.example\"]\ndigest_ms = 300\n"
            ),
            ..Options::default()
        },
    );
    let maildir = h.dir.join("maildir");
    let _smtp = Smtp(
        Command::new("python3")
            .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}"), "-c", "aiosmtpd.handlers.Mailbox"])
            .arg(&maildir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start aiosmtpd"),
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "aiosmtpd did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    h.start_erp(&["--status", "400"]);
    h.start_gateway().await;
    // A rejected input and a refused (dead-lettered) order from Wayne Retail.
    let (s, _) = h.upload("wayne-retail", b"not EDI at all".to_vec()).await.unwrap();
    assert_eq!(s, 422);
    let (s, _) = h.upload("wayne-retail", wayne_order(77)).await.unwrap();
    assert_eq!(s, 202);
    let deadline = Instant::now() + Duration::from_secs(30);
    let (mut b2b, mut wayne) = (String::new(), String::new());
    while Instant::now() < deadline {
        let all = mails(&maildir);
        b2b = all.iter().filter(|(to, _)| to.contains("b2b@acme-mfg.example")).map(|(_, t)| t.clone()).collect::<Vec<_>>().join("\n");
        wayne = all.iter().filter(|(to, _)| to.contains("edi-support@wayne-retail.example")).map(|(_, t)| t.clone()).collect::<Vec<_>>().join("\n");
        if b2b.contains("dead letter") && b2b.contains("rejected") && wayne.contains("dead letter") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(b2b.contains("rejected") && b2b.contains("intake 1"), "the B2B team hears of the rejected input:\n{b2b}");
    assert!(b2b.contains("no-interchange") && b2b.contains("GET /api/v1/intakes/1/raw"), "with the reason and where the bytes are:\n{b2b}");
    assert!(b2b.contains("dead letter") && b2b.contains("WR-000077"), "and of the dead letter:\n{b2b}");
    assert!(b2b.contains("/api/v1/documents/2-1/replay"), "with how to replay it:\n{b2b}");
    assert!(wayne.contains("dead letter"), "Wayne's exception contact too:\n{wayne}");
    // Digests: far fewer mails than notices would be one each (2 notices x 3 recipients).
    let n = mails(&maildir).len();
    assert!(n <= 6, "{n} mails");
}
