//! `edigate serve`: the gateway assembled. Loads mappings and profiles (refusing to start on a
//! fault), opens the journal, starts the processing threads, the HTTP listener (intake and operator
//! API), the SFTP server, the watched directories and delivery, processes what a previous run left, and stops cleanly
//! on SIGINT/SIGTERM (journal synced).

use crate::api::{self, Api};
use crate::config::Config;
use crate::delivery::{erp::Erp, Delivery, RetryPolicy};
use crate::journal::{Journal, SledJournal};
use crate::listeners;
use crate::mapping::Library;
use crate::pipeline::Pipeline;
use crate::profiles::Profiles;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// Sets up logging: `RUST_LOG` filters (default `info`), text or JSON lines on standard error.
pub fn init_logging(format: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    use std::io::IsTerminal;
    let b = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(std::io::stderr().is_terminal());
    let _ = if format == "json" { b.json().try_init() } else { b.try_init() };
}

pub async fn serve(config: Config, with_dev_erp: bool) -> anyhow::Result<()> {
    let library = Library::load(&config.mappings_dir).map_err(|e| anyhow::anyhow!("mappings in {}: {e}", config.mappings_dir.display()))?;
    let profiles = Profiles::load(&config.profiles_dir)
        .map_err(|e| anyhow::anyhow!("partner profiles have errors:\n{}", e.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("\n")))?;
    let faults = profiles.check(&library);
    if !faults.is_empty() {
        anyhow::bail!("partner profiles have errors (see `edigate profiles check`):\n{}", faults.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("\n"));
    }
    let (library, profiles) = (Arc::new(library), Arc::new(profiles));
    let journal_dir = config.data_dir.join("journal");
    let journal: Arc<dyn Journal> = Arc::new(SledJournal::open(&journal_dir).map_err(|e| anyhow::anyhow!("journal in {}: {e}", journal_dir.display()))?);
    tracing::info!(journal = %journal_dir.display(), instance = journal.instance(), partners = profiles.partners.len(), "journal open");

    let (stop_tx, stop_rx) = watch::channel(false);
    let mailer = crate::delivery::email::Mailer::new(&config.notify, &profiles)?;
    let notices = match mailer {
        Some(m) => {
            let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
            tokio::spawn(m.run(rx, stop_rx.clone()));
            Some(tx)
        }
        None => {
            tracing::info!("no notify.smtp_host: rejected inputs and dead letters are not emailed");
            None
        }
    };
    let pipeline = Pipeline::start(journal.clone(), library, profiles, config.data_dir.join("outbox"), config.http.max_body_bytes, processing_threads(config.intake.processing_threads), notices.clone());
    let erp = Erp::new(&config.erp)?;
    let policy = RetryPolicy {
        max_attempts: config.erp.max_attempts.max(1),
        initial: Duration::from_millis(config.erp.backoff_initial_ms),
        max: Duration::from_millis(config.erp.backoff_max_ms),
    };
    let delivery = Delivery::new(journal.clone(), pipeline.canonicals.clone(), erp, policy, config.erp.concurrency, pipeline.delivery.clone(), notices.clone());

    if with_dev_erp {
        let dev = crate::dev_erp::DevErp::new(config.dev_erp.store.clone(), None, None, None)?;
        let listen = config.dev_erp.listen;
        tokio::spawn(async move {
            if let Err(e) = crate::dev_erp::serve(listen, dev, None).await {
                tracing::error!("dev-erp: {e:#}");
            }
        });
    }

    let sftp = if config.sftp.enabled {
        Some(listeners::sftp::SftpListener::bind(pipeline.clone(), &config.sftp, &config.data_dir).await?)
    } else {
        None
    };

    let as2 = if config.as2.enabled { Some(Arc::new(listeners::as2::As2::new(pipeline.clone(), &config.as2)?)) } else { None };

    let api = Arc::new(Api {
        journal: journal.clone(),
        pipeline: pipeline.clone(),
        delivery: delivery.clone(),
        ready: false.into(),
        operator_token_sha256: config.http.operator_token_sha256.clone(),
        sftp: sftp.as_ref().map(|s| s.info.clone()),
        as2: as2.as_ref().map(|a| api::As2Info {
            id: config.as2.id.clone(),
            listen: config.as2.listen,
            path: config.as2.path.clone(),
            expiry_warning_days: config.as2.expiry_warning_days,
            certificates: a.certificates(),
        }),
    });
    let limits = listeners::http::Limits {
        max_size: config.http.max_body_bytes,
        max_concurrent: config.http.max_concurrent_uploads,
        body_timeout: Duration::from_millis(config.http.body_timeout_ms),
    };
    let app = listeners::http::routes(pipeline.clone(), limits).merge(api::routes(api.clone()));
    let listener = tokio::net::TcpListener::bind(config.http.listen).await.map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", config.http.listen))?;
    tracing::info!(listen = %config.http.listen, erp = %config.erp.base_url, "edigate listening");
    let mut stop_server = stop_rx.clone();
    let server = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = stop_server.wait_for(|s| *s).await;
            })
            .await
    });

    // What the last run left: processed before anything new is delivered.
    pipeline.recover().await?;
    api.ready.store(true, Ordering::Relaxed);
    let deliver = tokio::spawn(delivery.clone().run(stop_rx.clone()));
    if let Some(sftp) = sftp {
        tokio::spawn(sftp.run(stop_rx.clone()));
    }
    if let Some(as2) = as2 {
        tokio::spawn(listeners::as2::watch_expiry(as2.certificates(), config.as2.expiry_warning_days, stop_rx.clone()));
        let as2_policy = RetryPolicy { max_attempts: u32::MAX, initial: Duration::from_millis(config.erp.backoff_initial_ms), max: Duration::from_millis(config.erp.backoff_max_ms) };
        if let Some(sender) = crate::delivery::as2::As2Sender::new(
            journal.clone(),
            &pipeline.profiles,
            as2.identity(),
            &config.as2.id,
            &config.as2.public_url.clone().unwrap_or_else(|| format!("http://{}{}", config.as2.listen, config.as2.path)),
            &config.data_dir,
            as2_policy,
            Duration::from_millis(config.intake.poll_ms.max(10)),
            notices.clone(),
        )? {
            tokio::spawn(sender.run(stop_rx.clone()));
        }
        let partners = as2.partners();
        let app = as2.routes(&config.as2.path);
        let listener = tokio::net::TcpListener::bind(config.as2.listen).await.map_err(|e| anyhow::anyhow!("AS2: cannot listen on {}: {e}", config.as2.listen))?;
        let tls = match (&config.as2.tls_cert_file, &config.as2.tls_key_file) {
            (Some(c), Some(k)) => Some(crate::tls::server_config(c, k, None)?),
            _ => None,
        };
        tracing::info!(listen = %config.as2.listen, path = %config.as2.path, id = %config.as2.id, https = tls.is_some(), partners, "AS2 listening");
        let mut stop_as2 = stop_rx.clone();
        tokio::spawn(async move {
            let served = match tls {
                Some(tls) => tokio::select! {
                    r = crate::tls::serve(listener, tls, app) => r,
                    _ = async { let _ = stop_as2.wait_for(|s| *s).await; } => Ok(()),
                },
                None => axum::serve(listener, app).with_graceful_shutdown(async move { let _ = stop_as2.wait_for(|s| *s).await; }).await,
            };
            if let Err(e) = served {
                tracing::error!("AS2 listener: {e}");
            }
        });
    }
    let push_policy = RetryPolicy { max_attempts: u32::MAX, initial: Duration::from_millis(config.erp.backoff_initial_ms), max: Duration::from_millis(config.erp.backoff_max_ms) };
    if let Some(pusher) = crate::delivery::sftp::Pusher::new(journal.clone(), &pipeline.profiles, &config.data_dir, push_policy, Duration::from_millis(config.intake.poll_ms.max(10)))? {
        tokio::spawn(pusher.run(stop_rx.clone()));
    }
    if config.intake.watch {
        tokio::spawn(listeners::dir::watch(pipeline.clone(), config.data_dir.join("inbound"), Duration::from_millis(config.intake.poll_ms.max(10)), stop_rx.clone()));
    }

    shutdown_signal().await;
    tracing::info!("stopping");
    let _ = stop_tx.send(true);
    let _ = server.await;
    let _ = deliver.await;
    let j = journal.clone();
    tokio::task::spawn_blocking(move || j.sync()).await??;
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => {
                let _ = ctrl_c.await;
                return;
            }
        };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

/// Processing threads: as configured, or one per CPU (0).
fn processing_threads(configured: usize) -> usize {
    match configured {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    }
}
