//! A wake-up when another server changes the policy bindings: LISTEN/NOTIFY, where the engine
//! has it.
//!
//! Polling the stored policy generation ([`crate::app::follow`]) is what guarantees that a
//! binding made through one server decides on the others within a second, on every
//! PostgreSQL-compatible engine. Where `NOTIFY` works (PostgreSQL itself; CockroachDB and
//! YugabyteDB refuse it, which [`supported`] finds out when the store connects), a write batch
//! that raised the generation also notifies [`CHANNEL`] in its own transaction, so the notice
//! goes out when it commits, and a connection of each following server that listens on the
//! channel wakes its follower at once.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio_postgres::AsyncMessage;
use tokio_postgres_rustls::MakeRustlsConnect;

use super::pool;
use super::session::Session;

/// The channel a commit that raised the policy generation notifies.
pub const CHANNEL: &str = "tenantry_policies";

/// How long a listener that lost its connection waits before it connects again.
const RECONNECT_AFTER: Duration = Duration::from_secs(1);

/// Whether the engine takes `NOTIFY` (tried on a channel nobody listens to).
pub fn supported(session: &Session) -> bool {
    session.simple("NOTIFY tenantry_probe").is_ok()
}

/// Keeps a connection listening on [`CHANNEL`] and signals `notice` for every notification,
/// and once after each (re)connection (a notice may have been missed while it was down). Runs
/// until the returned handle is aborted.
pub fn listen(
    config: tokio_postgres::Config,
    tls: MakeRustlsConnect,
    notice: Arc<Notify>,
) -> Result<tokio::task::AbortHandle, String> {
    let task = pool::io()?.spawn(async move {
        loop {
            if let Err(error) = listen_once(&config, &tls, &notice).await {
                tracing::warn!(%error, "the policy change listener lost its connection; polling goes on");
            }
            tokio::time::sleep(RECONNECT_AFTER).await;
        }
    });
    Ok(task.abort_handle())
}

async fn listen_once(
    config: &tokio_postgres::Config,
    tls: &MakeRustlsConnect,
    notice: &Arc<Notify>,
) -> Result<(), tokio_postgres::Error> {
    let (client, mut connection) = config.connect(tls.clone()).await?;
    let notices = Arc::clone(notice);
    // Driving the connection through its messages is what hands over the notifications.
    let driver = tokio::spawn(async move {
        loop {
            match std::future::poll_fn(|cx| connection.poll_message(cx)).await {
                Some(Ok(AsyncMessage::Notification(_))) => notices.notify_one(),
                Some(Ok(_)) => {}
                Some(Err(error)) => return Err(error),
                None => return Ok(()),
            }
        }
    });
    client.batch_execute(&format!("LISTEN {CHANNEL}")).await?;
    notice.notify_one();
    let ended = driver.await;
    drop(client);
    match ended {
        Ok(result) => result,
        Err(_) => Ok(()),
    }
}
