//! Whole-process benchmark of the AS2 listener: signed (SHA-256) and encrypted (AES-256-CBC) 10 KB
//! messages built by pyas2lib, each answered with a signed synchronous MDN, posted by 32 concurrent
//! clients; and, in the same run, the bare RSA-2048 operations every message costs the gateway (the
//! floor): one private-key decryption of the content key, one public-key signature check, one
//! private-key signature of the MDN.
//!
//! `cargo bench --bench as2` (environment: EDIGATE_BENCH_MESSAGES, default 3000). Needs python3 with
//! pyas2lib (see .ci/run). See BENCHMARKS.md.

mod common;

use common::*;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let messages = env_or("EDIGATE_BENCH_MESSAGES", 3000) as usize;
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let dir: PathBuf = std::env::temp_dir().join(format!("edigate-bench-as2-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("msgs")).unwrap();
    // One partner, bench-0, whose AS2 id is "bench-0" and certificate the sample partner's.
    write_profiles(&dir.join("profiles"), 1);
    let profile = dir.join("profiles/bench-0.toml");
    let mut text = std::fs::read_to_string(&profile).unwrap();
    text.push_str(&format!("\n[transport.as2]\nid = \"bench-0\"\ncertificates = [\"{}/samples/as2/partner.cert.pem\"]\n", root.display()));
    std::fs::write(&profile, text).unwrap();
    let (port, erp_port, as2_port) = (free_port(), free_port(), free_port());
    std::fs::write(
        dir.join("edigate.toml"),
        format!(
            "data_dir = \"{d}/data\"\nprofiles_dir = \"{d}/profiles\"\nmappings_dir = \"{m}/mappings\"\n[http]\nlisten = \"127.0.0.1:{port}\"\n[intake]\nwatch = false\n[sftp]\nenabled = false\n[as2]\nlisten = \"127.0.0.1:{as2_port}\"\ncert_file = \"{m}/samples/as2/edigate.cert.pem\"\nkey_file = \"{m}/samples/as2/edigate.key.pem\"\n[erp]\nbase_url = \"http://127.0.0.1:{erp_port}\"\n",
            d = dir.display(),
            m = root.display(),
        ),
    )
    .unwrap();

    // The messages, built by pyas2lib before the clock starts.
    let keycert = dir.join("partner-keycert.pem");
    std::fs::write(&keycert, [std::fs::read(root.join("samples/as2/partner.key.pem")).unwrap(), std::fs::read(root.join("samples/as2/partner.cert.pem")).unwrap()].concat()).unwrap();
    let mut batch = String::new();
    for i in 0..messages {
        let payload = dir.join(format!("msgs/{i}.edi"));
        std::fs::write(&payload, order(0, 3_000_000 + i as u64)).unwrap();
        batch.push_str(&format!(
            "{{\"payload\": \"{}\", \"sign\": \"sha256\", \"encrypt\": \"aes_256_cbc\", \"signed_mdn\": true, \"as2_from\": \"bench-0\", \"out\": \"{}\"}}\n",
            payload.display(),
            dir.join(format!("msgs/{i}")).display()
        ));
    }
    let built = Instant::now();
    let mut py = Command::new("python3")
        .arg(root.join("tests/as2/partner.py"))
        .args(["--batch", "--url", "unused", "--partner-key"])
        .arg(&keycert)
        .arg("--our-cert")
        .arg(root.join("samples/as2/edigate.cert.pem"))
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("python3 with pyas2lib");
    {
        use std::io::Write;
        py.stdin.take().unwrap().write_all(batch.as_bytes()).unwrap();
    }
    assert!(py.wait().unwrap().success(), "pyas2lib could not build the messages");
    println!("as2: {messages} messages built by pyas2lib in {:.1} s", built.elapsed().as_secs_f64());

    let store = dir.join("erp-store");
    let _processes = start_gateway(&dir, erp_port);
    // Each message: its HTTP headers and its body.
    type Built = (Vec<(String, String)>, Vec<u8>);
    let msgs: Vec<Built> = (0..messages)
        .map(|i| {
            let h: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(&std::fs::read(dir.join(format!("msgs/{i}.headers.json"))).unwrap()).unwrap();
            (h.into_iter().map(|(k, v)| (k, v.as_str().unwrap_or_default().to_string())).collect(), std::fs::read(dir.join(format!("msgs/{i}.body"))).unwrap())
        })
        .collect();
    let body_len = msgs[0].1.len();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let (rate, lat) = rt.block_on(async move {
        let client = reqwest::Client::builder().pool_max_idle_per_host(64).build().unwrap();
        let url = format!("http://127.0.0.1:{as2_port}/as2");
        let ready = format!("http://127.0.0.1:{port}/readyz");
        while !client.get(&ready).send().await.is_ok_and(|r| r.status().is_success()) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let msgs = Arc::new(msgs);
        let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let start = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..32 {
            let (client, url, msgs, next) = (client.clone(), url.clone(), msgs.clone(), next.clone());
            tasks.push(tokio::spawn(async move {
                let mut lat = Vec::new();
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if i >= msgs.len() {
                        break;
                    }
                    let (headers, body) = &msgs[i];
                    let mut req = client.post(&url).body(body.clone());
                    for (k, v) in headers {
                        req = req.header(k.as_str(), v.as_str());
                    }
                    let t = Instant::now();
                    let r = req.send().await.unwrap();
                    assert_eq!(r.status().as_u16(), 200);
                    let ct = r.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
                    let mdn = r.bytes().await.unwrap();
                    lat.push(t.elapsed());
                    let text = String::from_utf8_lossy(&mdn);
                    assert!(ct.starts_with("multipart/signed") && text.contains("; processed\r\n"), "not a signed processed MDN: {ct}\n{text}");
                }
                lat
            }));
        }
        let mut lat = Vec::new();
        for t in tasks {
            lat.extend(t.await.unwrap());
        }
        let rate = messages as f64 / start.elapsed().as_secs_f64();
        lat.sort();
        (rate, lat)
    });
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "as2: {messages} signed+encrypted messages of {body_len} bytes, signed sync MDNs: {rate:.0} messages/s; p50 {:.1} ms, p99 {:.1} ms",
        ms(percentile(&lat, 0.5)),
        ms(percentile(&lat, 0.99))
    );
    let deadline = Instant::now() + Duration::from_secs(300);
    while delivered(&store) < messages {
        assert!(Instant::now() < deadline, "not all delivered: {}", delivered(&store));
        std::thread::sleep(Duration::from_millis(20));
    }
    println!("as2: all {messages} delivered to dev-erp once");

    // The floor, measured now on the same machine: what RSA alone costs per message.
    floor(&root);
    let _ = std::fs::remove_dir_all(&dir);
}

fn floor(root: &std::path::Path) {
    use rsa::pkcs8::{DecodePrivateKey, EncodePrivateKey};
    use sha2::Digest;
    let pem = std::fs::read_to_string(root.join("samples/as2/edigate.key.pem")).unwrap();
    let key = rsa::RsaPrivateKey::from_pkcs8_pem(&pem).unwrap();
    let public = rsa::RsaPublicKey::from(&key);
    let mut rng = edigate::as2::smime::SystemRng;
    let cek = [7u8; 32];
    let wrapped = public.encrypt(&mut rng, rsa::Pkcs1v15Encrypt, &cek).unwrap();
    let digest = sha2::Sha256::digest(b"signed attributes");
    let sig = key.sign(rsa::Pkcs1v15Sign::new::<sha2::Sha256>(), &digest).unwrap();
    let ring_key = ring::signature::RsaKeyPair::from_pkcs8(key.to_pkcs8_der().unwrap().as_bytes()).unwrap();
    let n = 300;
    let time = |f: &mut dyn FnMut()| {
        let t = Instant::now();
        for _ in 0..n {
            f();
        }
        t.elapsed() / n
    };
    let decrypt = time(&mut || {
        key.decrypt(rsa::Pkcs1v15Encrypt, &wrapped).unwrap();
    });
    let verify = time(&mut || {
        public.verify(rsa::Pkcs1v15Sign::new::<sha2::Sha256>(), &digest, &sig).unwrap();
    });
    let mut out = vec![0u8; ring_key.public().modulus_len()];
    let rng_ring = ring::rand::SystemRandom::new();
    let sign = time(&mut || {
        ring_key.sign(&ring::signature::RSA_PKCS1_SHA256, &rng_ring, b"signed attributes", &mut out).unwrap();
    });
    let rsa_sign = time(&mut || {
        key.sign(rsa::Pkcs1v15Sign::new::<sha2::Sha256>(), &digest).unwrap();
    });
    let per = decrypt + verify + sign;
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "floor: RSA-2048 decrypt (rsa crate) {:.3} ms + verify (rsa crate) {:.3} ms + sign (ring) {:.3} ms = {:.3} ms per message: at most {:.0} messages/s on 2 cores (rsa crate sign, not used: {:.3} ms)",
        ms(decrypt),
        ms(verify),
        ms(sign),
        ms(per),
        2.0 / per.as_secs_f64(),
        ms(rsa_sign)
    );
}
