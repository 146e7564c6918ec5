//! The SFTP server with the real OpenSSH client (`sftp -b`): uploads to delivery, acknowledgments
//! picked up from outbound/, strangers and escapes refused, a connection killed mid-upload, and many
//! sessions at once.

use crate::harness::*;
use crate::intake::INBOUND;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The sample partners' development key, copied with the mode OpenSSH wants.
fn dev_key(h: &Harness) -> PathBuf {
    let key = h.dir.join("dev_ed25519");
    if !key.exists() {
        std::fs::copy(root().join("samples/sftp/dev_ed25519"), &key).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    key
}

/// A key no profile knows.
fn stranger_key(h: &Harness) -> PathBuf {
    let key = h.dir.join("stranger_ed25519");
    let out = Command::new("ssh-keygen").args(["-q", "-t", "ed25519", "-N", "", "-f"]).arg(&key).output().expect("ssh-keygen");
    assert!(out.status.success());
    key
}

/// `known_hosts` with the gateway's host key as `GET /api/v1/sftp` tells it: the client checks it
/// strictly, as a partner that pinned it would.
async fn known_hosts(h: &Harness) -> PathBuf {
    let info = h.get_json("/api/v1/sftp").await;
    let key = info["host_key"].as_str().unwrap();
    assert!(info["host_key_fingerprint"].as_str().unwrap().starts_with("SHA256:"));
    let path = h.dir.join("known_hosts");
    std::fs::write(&path, format!("[127.0.0.1]:{} {key}\n", h.sftp_port)).unwrap();
    path
}

fn sftp_command(h: &Harness, user: &str, key: &Path, known: &Path, options: &[&str]) -> Command {
    let mut c = Command::new("sftp");
    c.args(options).args(["-b", "-", "-P", &h.sftp_port.to_string(), "-i"])
        .arg(key)
        .args(["-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes", "-o", "LogLevel=ERROR", "-o"])
        .arg(format!("UserKnownHostsFile={}", known.display()))
        .arg(format!("{user}@127.0.0.1"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

/// Runs a batch (`sftp -b -`): each line a command; a `-` before one lets it fail.
fn sftp(h: &Harness, user: &str, key: &Path, known: &Path, batch: &str) -> Output {
    let mut child = sftp_command(h, user, key, known, &[]).spawn().expect("OpenSSH sftp (apt-get install openssh-client)");
    use std::io::Write;
    child.stdin.take().unwrap().write_all(batch.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

async fn intake_count(h: &Harness) -> usize {
    h.get_json("/api/v1/intakes?limit=10000").await.as_array().map_or(0, |a| a.len())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_sample_over_sftp_is_delivered_and_acknowledged_in_outbound() {
    let mut h = Harness::new("sftp-samples", Options::default());
    h.start_erp(&[]);
    h.start_gateway().await;
    let (key, known) = (dev_key(&h), known_hosts(&h).await);
    // Each partner uploads its samples in one session, the common way: `put` into inbound/.
    let mut by_partner: Vec<(&str, Vec<&str>)> = Vec::new();
    for (p, path) in INBOUND {
        match by_partner.iter_mut().find(|(q, _)| q == p) {
            Some((_, v)) => v.push(path),
            None => by_partner.push((p, vec![path])),
        }
    }
    for (partner, paths) in &by_partner {
        let mut batch = String::from("cd inbound\n");
        for (i, p) in paths.iter().enumerate() {
            // Distinct names: the same file name twice would still be two inputs.
            batch.push_str(&format!("put {} {i}-{}\n", root().join(p).display(), Path::new(p).file_name().unwrap().to_string_lossy()));
        }
        batch.push_str("ls -l\n");
        let out = sftp(&h, partner, &key, &known, &batch);
        assert!(out.status.success(), "{partner}: {}", text(&out));
        // `ls` in inbound/ shows what this session handed over.
        let listed = String::from_utf8_lossy(&out.stdout).lines().filter(|l| l.starts_with("-r")).count();
        assert_eq!(listed, paths.len(), "{}", text(&out));
    }
    // Every document delivered once (the samples make 18 documents: one per file).
    let delivered = h.wait_delivered(INBOUND.len(), Duration::from_secs(60)).await;
    assert_eq!(delivered.len(), INBOUND.len(), "each document exactly once");
    let intakes = h.get_json("/api/v1/intakes?limit=100").await;
    for i in intakes.as_array().unwrap() {
        assert_eq!(i["channel"], "sftp", "{i:#}");
        assert!(i["filename"].as_str().unwrap().ends_with(".edi"));
    }
    // Each partner finds its acknowledgments in outbound/, gets them, and removes them: they move to archive/.
    for (partner, paths) in &by_partner {
        let deadline = Instant::now() + Duration::from_secs(20);
        while files(&h.outbox(partner)).len() < paths.len() {
            assert!(Instant::now() < deadline, "{partner}: acks in outbox: {:?}", files(&h.outbox(partner)));
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let acks = files(&h.outbox(partner));
        let local = h.dir.join(format!("got-{partner}"));
        std::fs::create_dir_all(&local).unwrap();
        let mut batch = format!("ls -l outbound\nlcd {}\ncd outbound\nget *\n", local.display());
        for a in &acks {
            batch.push_str(&format!("rm {a}\n"));
        }
        batch.push_str("ls -l /archive\n");
        let out = sftp(&h, partner, &key, &known, &batch);
        assert!(out.status.success(), "{partner}: {}", text(&out));
        let listing = String::from_utf8_lossy(&out.stdout).into_owned();
        for a in &acks {
            let got = std::fs::read(local.join(a)).unwrap_or_else(|e| panic!("{partner}: {a} not downloaded: {e}\n{listing}"));
            let ack = ack_text(&got);
            assert!(ack_accepts(&ack), "{partner}: {a} does not accept:\n{ack}");
            assert!(h.dir.join("data/archive").join(partner).join(a).exists(), "{partner}: {a} archived");
        }
        assert!(files(&h.outbox(partner)).is_empty(), "{partner}: outbound emptied by rm");
        let listed = listing.lines().filter(|l| l.starts_with("-r") && l.contains("ack-")).count();
        assert_eq!(listed, acks.len() * 2, "{partner}: listed in outbound, then in archive:\n{listing}");
    }
    // A download resumed from where it stopped (`reget`) ends with the whole file.
    let (partner, ack) = ("globex", files(&h.dir.join("data/archive/globex"))[0].clone());
    let whole = std::fs::read(h.dir.join("data/archive/globex").join(&ack)).unwrap();
    let partial = h.dir.join("partial.edi");
    std::fs::write(&partial, &whole[..whole.len() / 2]).unwrap();
    let out = sftp(&h, partner, &key, &known, &format!("reget /archive/{ack} {}\n", partial.display()));
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(std::fs::read(&partial).unwrap(), whole, "resumed download");
    assert!(!h.store().join("replays.log").exists(), "nothing was sent to the ERP twice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strangers_escapes_and_oversized_files_are_refused_and_nothing_is_taken() {
    let mut h = Harness::new("sftp-refusals", Options { sftp: "max_file_bytes = 4000\nmax_auth_failures = 50".into(), ..Options::default() });
    h.start_erp(&[]);
    h.start_gateway().await;
    let (key, known) = (dev_key(&h), known_hosts(&h).await);
    let sample = root().join("samples/x12/004010/850-wayne-retail-store-order.edi");

    // A key no profile has, and a user that is no partner: refused at login.
    let stranger = stranger_key(&h);
    let out = sftp(&h, "wayne-retail", &stranger, &known, "ls\n");
    assert!(!out.status.success() && text(&out).contains("Permission denied"), "wrong key: {}", text(&out));
    let out = sftp(&h, "nobody", &key, &known, "ls\n");
    assert!(!out.status.success() && text(&out).contains("Permission denied"), "unknown user: {}", text(&out));
    let log = h.log();
    assert!(log.contains("is not in partner wayne-retail's profile"), "the refusal is logged with the key's fingerprint:\n{log}");
    assert!(log.contains("unknown user"), "{log}");

    // Escapes: each command fails on its own (`-` lets the batch go on). OpenSSH shows the status
    // code of a refused open (its text only for realpath).
    let batch = format!(
        "-put {s} ../escape.edi\n-put {s} /etc/escape.edi\n-put {s} /inbound/../../escape.edi\n-get /etc/passwd {d}/passwd\n-get ../../../../etc/passwd {d}/passwd\n-cd ..\n-put {s} /outbound/x.edi\n-mkdir /inbound/sub\n-symlink /inbound /inbound/link\n-put {s} x.edi\nls /\n",
        s = sample.display(),
        d = h.dir.display()
    );
    let out = sftp(&h, "wayne-retail", &key, &known, &batch);
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    for refused in [
        "dest open \"/../escape.edi\": Permission denied",
        "dest open \"/etc/escape.edi\": No such file",
        "dest open \"/inbound/../../escape.edi\": Permission denied",
        "File \"/etc/passwd\" not found",
        "File \"/../../../../etc/passwd\" not found",
        "\"/..\" leads above your root",
        "dest open \"/outbound/x.edi\": Permission denied",
        "remote mkdir \"/inbound/sub\": Permission denied",
        "Permission denied",
        "dest open \"/x.edi\": No such file",
    ] {
        assert!(t.contains(refused), "wanted {refused:?} in:\n{t}");
    }
    assert!(t.contains("/archive") && t.contains("/inbound") && t.contains("/outbound"), "the root lists the three directories: {t}");
    assert!(!h.dir.join("passwd").exists(), "nothing outside the root was served");
    assert!(!root().join("escape.edi").exists() && !Path::new("/etc/escape.edi").exists());

    // Over the size limit: the transfer fails with the limit in the message, nothing is kept.
    let big = h.dir.join("big.edi");
    std::fs::write(&big, vec![b'X'; 6000]).unwrap();
    let out = sftp(&h, "wayne-retail", &key, &known, &format!("put {} /inbound/big.edi\n", big.display()));
    assert!(!out.status.success() && text(&out).contains("write remote \"/inbound/big.edi\": Failure"), "{}", text(&out));
    assert!(h.log().contains("over the size limit of 4000 bytes"), "the reason is logged for operators:\n{}", h.log());

    // A staged upload (temporary name) that is never renamed is never taken.
    let out = sftp(&h, "wayne-retail", &key, &known, &format!("put {} /inbound/po.edi.filepart\nls -l /inbound\n", sample.display()));
    assert!(out.status.success() && text(&out).contains("po.edi.filepart"), "{}", text(&out));

    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(intake_count(&h).await, 0, "nothing refused was taken in");

    // A file that does not parse is still a transfer taken; its negative acknowledgment comes back in outbound/.
    let bad = h.dir.join("bad.edi");
    std::fs::write(&bad, String::from_utf8(wayne_order(77)).unwrap().replace("\nSE*", "\nSE*999").into_bytes()).unwrap();
    let out = sftp(&h, "wayne-retail", &key, &known, &format!("put {} /inbound/bad.edi\n", bad.display()));
    assert!(out.status.success(), "{}", text(&out));
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while files(&h.outbox("wayne-retail")).is_empty() {
        assert!(std::time::Instant::now() < deadline, "no acknowledgment for the bad file:\n{}", h.log());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let got = h.dir.join("got");
    std::fs::create_dir_all(&got).unwrap();
    let out = sftp(&h, "wayne-retail", &key, &known, &format!("lcd {}\nget /outbound/*\n", got.display()));
    assert!(out.status.success(), "{}", text(&out));
    let ack = ack_text(&std::fs::read(got.join(&files(&got)[0])).unwrap());
    assert!(!ack_accepts(&ack), "a negative acknowledgment: {ack}");
    assert!(h.delivered().is_empty(), "nothing of it reaches the ERP");
    let intakes = h.get_json("/api/v1/intakes?limit=10").await;
    assert_eq!(intakes[0]["state"], "rejected", "{intakes:#}");

    // The same client, with a temporary name and a rename: taken once, at the rename.
    let out = sftp(&h, "wayne-retail", &key, &known, &format!("cd inbound\nput {} po.edi.part\nrename po.edi.part po.edi\nls -l\n", sample.display()));
    assert!(out.status.success(), "{}", text(&out));
    let delivered = h.wait_delivered(1, Duration::from_secs(30)).await;
    assert_eq!(delivered.len(), 1);
    assert_eq!(intake_count(&h).await, 2);
    assert_eq!(h.get_json("/api/v1/intakes?limit=1").await[0]["filename"], "po.edi");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_killed_mid_upload_leaves_nothing_behind() {
    let mut h = Harness::new("sftp-killed", Options::default());
    h.start_erp(&[]);
    h.start_gateway().await;
    let (key, known) = (dev_key(&h), known_hosts(&h).await);
    // 400 interchanges in one file (~1.2 MB), sent at 1 Mbit/s: about 10 s, killed after 1.5 s.
    let mut big = Vec::new();
    for n in 0..400 {
        big.extend(wayne_order(n));
    }
    let file = h.dir.join("orders.edi");
    std::fs::write(&file, &big).unwrap();
    let mut child = sftp_command(&h, "wayne-retail", &key, &known, &["-l", "1000"]).spawn().unwrap();
    {
        use std::io::Write;
        child.stdin.take().unwrap().write_all(format!("put {} /inbound/orders.edi\n", file.display()).as_bytes()).unwrap();
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(child.try_wait().unwrap().is_none(), "the upload should still be running");
    child.kill().unwrap();
    let _ = child.wait();
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(intake_count(&h).await, 0, "a partial upload is not an input");
    assert!(h.delivered().is_empty());

    // The partner sends it again, whole: taken once, all 400 orders delivered.
    let out = sftp(&h, "wayne-retail", &key, &known, &format!("put {} /inbound/orders.edi\n", file.display()));
    assert!(out.status.success(), "{}", text(&out));
    let delivered = h.wait_delivered(400, Duration::from_secs(120)).await;
    assert_eq!(delivered.len(), 400);
    assert_eq!(intake_count(&h).await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_sessions_of_twenty_files_each_deliver_every_file_exactly_once() {
    let mut h = Harness::new("sftp-concurrent", Options::default());
    h.start_erp(&[]);
    h.start_gateway().await;
    let (key, known) = (dev_key(&h), known_hosts(&h).await);
    let (sessions, per) = (50u32, 20u32);
    let src = h.dir.join("files");
    std::fs::create_dir_all(&src).unwrap();
    let mut children = Vec::new();
    for s in 0..sessions {
        let mut batch = String::from("cd inbound\n");
        for f in 0..per {
            let n = s * per + f;
            let path = src.join(format!("po-{n:04}.edi"));
            std::fs::write(&path, wayne_order(n)).unwrap();
            batch.push_str(&format!("put {}\n", path.display()));
        }
        let mut child = sftp_command(&h, "wayne-retail", &key, &known, &[]).spawn().unwrap();
        use std::io::Write;
        child.stdin.take().unwrap().write_all(batch.as_bytes()).unwrap();
        children.push(child);
    }
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", text(&out));
    }
    let total = (sessions * per) as usize;
    let delivered = h.wait_delivered(total, Duration::from_secs(180)).await;
    assert_eq!(delivered.len(), total, "every file delivered");
    let mut numbers: Vec<String> = delivered.iter().map(order_number).collect();
    numbers.sort();
    numbers.dedup();
    assert_eq!(numbers.len(), total, "each order exactly once");
    assert_eq!(intake_count(&h).await, total);
    assert!(!h.store().join("replays.log").exists());
}

/// A throwaway OpenSSH server on a loopback port, with its own config and host key, serving SFTP
/// to the user running the tests with one authorized key. Killed when dropped.
struct Sshd {
    child: std::process::Child,
    port: u16,
    host_key: String,
    user: String,
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn keygen(path: &Path) -> String {
    let out = Command::new("ssh-keygen").args(["-q", "-t", "ed25519", "-N", "", "-f"]).arg(path).output().expect("ssh-keygen");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let public = std::fs::read_to_string(path.with_extension("pub")).unwrap();
    public.split_whitespace().take(2).collect::<Vec<_>>().join(" ")
}

fn start_sshd(dir: &Path, authorized: &str) -> Sshd {
    let sshd = Path::new("/usr/sbin/sshd");
    assert!(sshd.exists(), "OpenSSH server missing: apt-get install openssh-server (.ci/run does)");
    let host_key = keygen(&dir.join("sshd_host_ed25519"));
    std::fs::write(dir.join("authorized_keys"), format!("{authorized}\n")).unwrap();
    let user = String::from_utf8(Command::new("id").arg("-un").output().unwrap().stdout).unwrap().trim().to_string();
    // sshd run by root wants its privilege separation directory.
    let _ = std::fs::create_dir_all("/run/sshd");
    let port = free_port();
    let config = format!(
        "Port {port}\nListenAddress 127.0.0.1\nHostKey {d}/sshd_host_ed25519\nPidFile {d}/sshd.pid\nAuthorizedKeysFile {d}/authorized_keys\nStrictModes no\nUsePAM no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\nPubkeyAuthentication yes\nPermitRootLogin prohibit-password\nAllowUsers {user}\nSubsystem sftp internal-sftp\nLogLevel VERBOSE\n",
        d = dir.display()
    );
    std::fs::write(dir.join("sshd_config"), config).unwrap();
    let log = std::fs::File::create(dir.join("sshd.log")).unwrap();
    let child = Command::new(sshd).args(["-D", "-e", "-f"]).arg(dir.join("sshd_config")).stdin(Stdio::null()).stdout(Stdio::null()).stderr(log).spawn().expect("start sshd");
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "sshd did not start: {}", std::fs::read_to_string(dir.join("sshd.log")).unwrap_or_default());
        std::thread::sleep(Duration::from_millis(20));
    }
    Sshd { child, port, host_key, user }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledgments_are_pushed_to_the_partners_own_sftp_server_with_its_host_key_pinned() {
    let dir = std::env::temp_dir().join(format!("edigate-sshd-{}-{}", std::process::id(), fastrand::u32(..)));
    std::fs::create_dir_all(dir.join("remote-in")).unwrap();
    let client_key = dir.join("push_ed25519");
    let client_public = keygen(&client_key);
    let sshd = start_sshd(&dir, &client_public);
    // The repository's profiles, with Wayne Retail pushed to this server (its key pinned) and
    // Globex pushed to the same server with a key that is not the server's.
    let profiles = copy_profiles(&dir);
    let push = |host_key: &str| {
        format!(
            "\n[transport.sftp.push]\nhost = \"127.0.0.1\"\nport = {}\nuser = \"{}\"\nhost_keys = [\"{host_key}\"]\nkey_file = \"{}\"\ndir = \"{}\"\n",
            sshd.port,
            sshd.user,
            client_key.display(),
            dir.join("remote-in").display()
        )
    };
    let append = |partner: &str, text: String| {
        let p = profiles.join(format!("{partner}.toml"));
        let mut s = std::fs::read_to_string(&p).unwrap();
        s.push_str(&text);
        std::fs::write(p, s).unwrap();
    };
    append("wayne-retail", push(&sshd.host_key));
    let impostor = keygen(&dir.join("not_the_server"));
    append("globex", push(&impostor));

    let mut h = Harness::new("sftp-push", Options { profiles_dir: Some(profiles), ..Options::default() });
    h.start_erp(&[]);
    h.start_gateway().await;
    let (status, body) = h.upload("wayne-retail", wayne_order(1)).await.unwrap();
    assert_eq!(status, 202, "{body:#}");
    let intake = body["intake"].as_u64().unwrap();
    let (status, body) = h.upload("globex", sample("samples/x12/004010/856-globex-pick-pack.edi")).await.unwrap();
    assert_eq!(status, 202, "{body:#}");
    let globex_intake = body["intake"].as_u64().unwrap();

    // Wayne's 997 arrives on its server under its final name, whole; it leaves the outbox for the archive.
    let name = format!("ack-{intake}-1.edi");
    let remote = dir.join("remote-in").join(&name);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !remote.exists() {
        assert!(Instant::now() < deadline, "not pushed:\n{}\nsshd:\n{}", h.log(), std::fs::read_to_string(dir.join("sshd.log")).unwrap_or_default());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let ack_id = format!("{intake}-a1");
    let (_, kept) = h.get_bytes(&format!("/api/v1/acks/{ack_id}")).await;
    // The rename comes after the whole file is written: what is there under the final name is whole.
    assert_eq!(std::fs::read(&remote).unwrap(), kept, "the pushed file is the acknowledgment kept in the journal");
    assert!(ack_text(&kept).contains("ST*997*"));
    let deadline = Instant::now() + Duration::from_secs(10);
    while !files(&h.outbox("wayne-retail")).is_empty() {
        assert!(Instant::now() < deadline, "outbox not emptied");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(h.dir.join("data/archive/wayne-retail").join(&name).exists());
    assert!(!dir.join("remote-in").join(format!("{name}.part")).exists());
    let detail = h.get_json(&format!("/api/v1/intakes/{intake}")).await;
    let sent = &detail["acknowledgments"][0]["sent"];
    assert_eq!(sent[0]["state"], "delivered", "{detail:#}");
    assert!(sent[0]["cause"].as_str().unwrap().contains(&format!("sftp://{}@127.0.0.1:{}", sshd.user, sshd.port)), "{detail:#}");

    // Globex pins another key: nothing is sent, the file waits, and the attempt says why.
    let gname = format!("ack-{globex_intake}-1.edi");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let d = h.get_json(&format!("/api/v1/intakes/{globex_intake}")).await;
        if let Some(e) = d["acknowledgments"][0]["sent"].as_array().and_then(|a| a.first().cloned()) {
            assert_eq!(e["state"], "failed", "{d:#}");
            assert!(e["cause"].as_str().unwrap().contains("is not one the profile pins"), "{d:#}");
            break;
        }
        assert!(Instant::now() < deadline, "no failed push recorded:\n{}", h.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(files(&h.outbox("globex")).contains(&gname), "kept for the next try");
    assert!(!dir.join("remote-in").join(&gname).exists());
    let sshd_log = std::fs::read_to_string(dir.join("sshd.log")).unwrap_or_default();
    assert!(sshd_log.contains("Accepted publickey for"), "the push logged in to OpenSSH's sshd:\n{sshd_log}");
    drop(sshd);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The repository's profiles in a directory of their own, with `edit` applied to one of them.
fn profiles_with(dir: &Path, partner: &str, edit: impl Fn(String) -> String) -> PathBuf {
    let profiles = copy_profiles(dir);
    let p = profiles.join(format!("{partner}.toml"));
    std::fs::write(&p, edit(std::fs::read_to_string(&p).unwrap())).unwrap();
    profiles
}

fn keygen_kind(path: &Path, kind: &[&str]) -> String {
    let out = Command::new("ssh-keygen").args(["-q", "-N", ""]).args(kind).arg("-f").arg(path).output().expect("ssh-keygen");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    std::fs::read_to_string(path.with_extension("pub")).unwrap().trim().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rsa_ecdsa_and_password_logins_session_limits_and_failed_login_limits() {
    let work = std::env::temp_dir().join(format!("edigate-sftp-auth-{}-{}", std::process::id(), fastrand::u32(..)));
    std::fs::create_dir_all(&work).unwrap();
    let rsa = work.join("rsa");
    let ecdsa = work.join("ecdsa");
    let (rsa_pub, ecdsa_pub) = (keygen_kind(&rsa, &["-t", "rsa", "-b", "3072"]), keygen_kind(&ecdsa, &["-t", "ecdsa", "-b", "256"]));
    // The password's hash, made by the command analysts use; only the hash goes in the profile.
    let mut hp = Command::new(env!("CARGO_BIN_EXE_edigate")).arg("hash-password").stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
    {
        use std::io::Write;
        hp.stdin.take().unwrap().write_all(b"s3cret-for-tests\n").unwrap();
    }
    let hash = String::from_utf8(hp.wait_with_output().unwrap().stdout).unwrap().trim().to_string();
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    let profiles = profiles_with(&work, "wayne-retail", |s| {
        s.replace("public_keys = [", &format!("password_hash = \"{hash}\"\npublic_keys = [\"{rsa_pub}\", \"{ecdsa_pub}\", "))
    });
    let mut h = Harness::new(
        "sftp-auth",
        Options { profiles_dir: Some(profiles), sftp: "max_sessions_per_partner = 1\nmax_auth_failures = 4\nauth_window_secs = 3600".into(), ..Options::default() },
    );
    h.start_erp(&[]);
    h.start_gateway().await;
    let known = known_hosts(&h).await;

    for key in [&rsa, &ecdsa] {
        let out = sftp(&h, "wayne-retail", key, &known, "ls /\n");
        assert!(out.status.success() && text(&out).contains("/outbound"), "{}: {}", key.display(), text(&out));
    }

    // A password, asked for by OpenSSH through SSH_ASKPASS (as a person would type it).
    let askpass = work.join("askpass.sh");
    let login = |password: &str| {
        std::fs::write(&askpass, format!("#!/bin/sh\necho '{password}'\n")).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&askpass, std::fs::Permissions::from_mode(0o700)).unwrap();
        // Not `-b`: sftp's batch mode forbids asking for a password; commands come on standard input.
        let mut c = Command::new("sftp");
        c.args(["-P", &h.sftp_port.to_string(), "-o", "PubkeyAuthentication=no", "-o", "PreferredAuthentications=password", "-o", "NumberOfPasswordPrompts=1", "-o", "StrictHostKeyChecking=yes", "-o", "LogLevel=ERROR", "-o"])
            .arg(format!("UserKnownHostsFile={}", known.display()))
            .arg("wayne-retail@127.0.0.1")
            .env("SSH_ASKPASS", &askpass)
            .env("SSH_ASKPASS_REQUIRE", "force")
            .env("DISPLAY", ":0")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = c.spawn().unwrap();
        use std::io::Write;
        child.stdin.take().unwrap().write_all(b"ls /\n").unwrap();
        child.wait_with_output().unwrap()
    };
    let out = login("s3cret-for-tests");
    assert!(out.status.success() && text(&out).contains("/inbound"), "password login: {}", text(&out));
    let out = login("wrong");
    assert!(!out.status.success(), "a wrong password is refused: {}", text(&out));
    assert!(!h.log().contains("s3cret-for-tests") && !h.log().contains("wrong'"), "no password in the log");

    // One session per partner here: a second one, while the first is open, is turned away with the reason.
    let mut first = sftp_command(&h, "wayne-retail", &ecdsa, &known, &[]).spawn().unwrap();
    let mut first_in = first.stdin.take().unwrap();
    {
        use std::io::Write;
        first_in.write_all(b"ls /\n").unwrap();
    }
    tokio::time::sleep(Duration::from_millis(800)).await;
    let out = sftp(&h, "wayne-retail", &rsa, &known, "ls /\n");
    assert!(!out.status.success() && text(&out).contains("too many sessions for wayne-retail (limit 1)"), "{}", text(&out));
    drop(first_in);
    assert!(first.wait_with_output().unwrap().status.success());

    // Failed logins from one address: after the limit, even the right key is refused for the window.
    let stranger = stranger_key(&h);
    for _ in 0..4 {
        let out = sftp(&h, "wayne-retail", &stranger, &known, "ls\n");
        assert!(!out.status.success());
    }
    let out = sftp(&h, "wayne-retail", &rsa, &known, "ls /\n");
    assert!(!out.status.success() && text(&out).contains("Permission denied"), "refused during the window: {}", text(&out));
    assert!(h.log().contains("too many failed logins"), "{}", h.log());
    let _ = std::fs::remove_dir_all(&work);
}
