//! How edigate proves itself to the ERP: HTTPS with a private CA and a client certificate (mTLS;
//! dev-erp serves TLS with rustls and asks for client certificates; certificates are made by the
//! OpenSSL command line), and a bearer token read from a secret file.

use crate::harness::*;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl").current_dir(dir).args(args).output().expect("the openssl command (Debian package openssl)");
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// A CA, a server certificate for 127.0.0.1 and a client certificate, all EC P-256.
pub fn make_certificates(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
    openssl(dir, &[&["req", "-x509"][..], &ec, &["-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=edigate test CA", "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"]].concat());
    for (name, cn, ext) in [("server", "127.0.0.1", "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n"), ("client", "edigate", "extendedKeyUsage=clientAuth\n")] {
        std::fs::write(dir.join(format!("{name}.ext")), format!("basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n{ext}")).unwrap();
        openssl(dir, &[&["req"][..], &ec, &["-keyout", &format!("{name}.key"), "-out", &format!("{name}.csr"), "-subj", &format!("/CN={cn}")]].concat());
        openssl(dir, &["x509", "-req", "-in", &format!("{name}.csr"), "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out", &format!("{name}.pem"), "-days", "2", "-extfile", &format!("{name}.ext")]);
    }
}

fn tls_options(certs: &Path, with_client_cert: bool) -> Options {
    let mut extra = format!("[erp.tls]\nca_file = \"{}\"\n", certs.join("ca.pem").display());
    if with_client_cert {
        extra.push_str(&format!("client_cert_file = \"{}\"\nclient_key_file = \"{}\"\n", certs.join("client.pem").display(), certs.join("client.key").display()));
    }
    Options { erp_https: true, extra, ..Options::default() }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivery_over_mutual_tls_with_a_private_ca() {
    let certs = std::env::temp_dir().join(format!("edigate-it-certs-{}-{}", std::process::id(), fastrand::u32(..)));
    make_certificates(&certs);
    let erp_args = |dir: &Path| {
        vec![
            "--tls-cert".to_string(),
            dir.join("server.pem").display().to_string(),
            "--tls-key".to_string(),
            dir.join("server.key").display().to_string(),
            "--client-ca".to_string(),
            dir.join("ca.pem").display().to_string(),
        ]
    };
    let args = erp_args(&certs);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();

    // With our client certificate: delivered.
    let mut h = Harness::new("mtls", tls_options(&certs, true));
    h.start_erp(&args);
    h.start_gateway().await;
    let (s, b) = h.upload("wayne-retail", wayne_order(1)).await.unwrap();
    assert_eq!(s, 202, "{b}");
    let got = h.wait_delivered(1, Duration::from_secs(30)).await;
    assert_eq!(order_number(&got[0]), "WR-000001");

    // Without one: the ERP refuses the handshake; the document waits (failed, retried), not lost.
    let mut h2 = Harness::new("mtls-no-cert", tls_options(&certs, false));
    h2.start_erp(&args);
    h2.start_gateway().await;
    let (_, b) = h2.upload("wayne-retail", wayne_order(2)).await.unwrap();
    let d = h2.wait_state(b["documents"][0].as_str().unwrap(), "failed", Duration::from_secs(20)).await;
    let error = d["attempts"][0]["error"].as_str().unwrap_or_default().to_lowercase();
    assert!(error.contains("certificate") || error.contains("handshake") || error.contains("tls") || error.contains("connection"), "{d:#}");
    assert!(h2.delivered().is_empty());
    let _ = std::fs::remove_dir_all(&certs);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_erp_token_comes_from_a_secret_file_and_a_wrong_one_dead_letters() {
    let dir = std::env::temp_dir().join(format!("edigate-it-secret-{}-{}", std::process::id(), fastrand::u32(..)));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("erp-token"), "s3cret-erp-token\n").unwrap();
    std::fs::write(dir.join("wrong-token"), "not-it\n").unwrap();
    let erp_token = dir.join("erp-token").display().to_string();
    let auth = |file: &Path| format!("[erp.auth]\nkind = \"bearer\"\ntoken = {{ file = \"{}\" }}\n", file.display());

    let mut h = Harness::new("bearer", Options { extra: auth(&dir.join("erp-token")), ..Options::default() });
    h.start_erp(&["--token-file", &erp_token]);
    h.start_gateway().await;
    assert_eq!(h.upload("wayne-retail", wayne_order(1)).await.unwrap().0, 202);
    assert_eq!(h.wait_delivered(1, Duration::from_secs(30)).await.len(), 1);
    assert!(!h.log().contains("s3cret"), "the token is never logged");

    let mut h2 = Harness::new("bearer-wrong", Options { extra: auth(&dir.join("wrong-token")), ..Options::default() });
    h2.start_erp(&["--token-file", &erp_token]);
    h2.start_gateway().await;
    let (_, b) = h2.upload("wayne-retail", wayne_order(2)).await.unwrap();
    let d = h2.wait_state(b["documents"][0].as_str().unwrap(), "dead_lettered", Duration::from_secs(20)).await;
    assert_eq!(d["attempts"][0]["status"], 401, "{d:#}");
    let _ = std::fs::remove_dir_all(&dir);
}
