//! A bounded pool of [`Session`]s, handed out synchronously.
//!
//! The seam above is synchronous, so the pool is too: a read takes a connection, runs its
//! snapshot and gives it back. Connections that broke are dropped on return and a new one is
//! opened on the next demand, so a database that went away and came back is picked up again
//! without a restart. Every connection's socket runs on one small I/O runtime shared by all
//! pools ([`io`]); it lives as long as the process, so dropping a store inside an async context
//! never has to shut a runtime down.

use std::sync::{Condvar, Mutex, OnceLock};
use std::time::Duration;

use tokio_postgres_rustls::MakeRustlsConnect;

use super::session::{Driver, Session};
use crate::storage::StorageError;

/// How long a caller waits for a free connection before the request is answered 503.
const WAIT_FOR_CONNECTION: Duration = Duration::from_secs(10);

pub struct Pool {
    config: tokio_postgres::Config,
    tls: MakeRustlsConnect,
    max: usize,
    /// Each connection's socket is driven by the thread waiting on it ([`open_here`]).
    on_own_thread: bool,
    state: Mutex<State>,
    freed: Condvar,
}

struct State {
    idle: Vec<Session>,
    /// Connections handed out plus idle ones.
    open: usize,
}

/// A connection on loan; it goes back to the pool when dropped.
pub struct Lease<'p> {
    pool: &'p Pool,
    session: Option<Session>,
}

impl std::ops::Deref for Lease<'_> {
    type Target = Session;
    fn deref(&self) -> &Session {
        self.session
            .as_ref()
            .unwrap_or_else(|| unreachable!("taken only on drop"))
    }
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        let Some(session) = self.session.take() else {
            return;
        };
        let mut state = self.pool.lock();
        if !session.is_reusable() {
            state.open -= 1;
        } else {
            state.idle.push(session);
        }
        drop(state);
        self.pool.freed.notify_one();
    }
}

impl Pool {
    pub fn new(config: tokio_postgres::Config, tls: MakeRustlsConnect, max: usize) -> Self {
        Self::with(config, tls, max, false)
    }

    /// A pool for one thread that is never a tokio worker (the writer's): its connections'
    /// sockets are driven by that thread while it waits, with no hop through the I/O runtime
    /// (two thread wake-ups fewer per statement).
    pub fn on_own_thread(
        config: tokio_postgres::Config,
        tls: MakeRustlsConnect,
        max: usize,
    ) -> Self {
        Self::with(config, tls, max, true)
    }

    fn with(
        config: tokio_postgres::Config,
        tls: MakeRustlsConnect,
        max: usize,
        on_own_thread: bool,
    ) -> Self {
        Self {
            config,
            tls,
            max: max.max(1),
            on_own_thread,
            state: Mutex::new(State {
                idle: Vec::new(),
                open: 0,
            }),
            freed: Condvar::new(),
        }
    }

    /// The most connections it opens.
    /// Where this pool's connections go, for a connection of another kind to the same
    /// database (the policy change listener).
    pub fn target(&self) -> (&tokio_postgres::Config, &MakeRustlsConnect) {
        (&self.config, &self.tls)
    }

    pub fn size(&self) -> usize {
        self.max
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn get(&self) -> Result<Lease<'_>, StorageError> {
        let mut state = self.lock();
        loop {
            if let Some(session) = state.idle.pop() {
                if session.is_closed() {
                    state.open -= 1;
                    continue;
                }
                return Ok(self.lease(session));
            }
            if state.open < self.max {
                state.open += 1;
                drop(state);
                let opened = if self.on_own_thread {
                    open_here(&self.config, &self.tls)
                } else {
                    open(&self.config, &self.tls)
                };
                return match opened {
                    Ok(session) => Ok(self.lease(session)),
                    Err(error) => {
                        self.lock().open -= 1;
                        self.freed.notify_one();
                        tracing::warn!(%error, "cannot open a database connection");
                        Err(StorageError::Unavailable)
                    }
                };
            }
            let (next, waited) = self
                .freed
                .wait_timeout(state, WAIT_FOR_CONNECTION)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            state = next;
            if waited.timed_out() && state.idle.is_empty() && state.open >= self.max {
                return Err(StorageError::Unavailable);
            }
        }
    }

    fn lease(&self, session: Session) -> Lease<'_> {
        Lease {
            pool: self,
            session: Some(session),
        }
    }
}

/// Opens one connection, its socket driven by the I/O runtime. The error says why, without
/// the connection's password (the client's errors never carry it).
pub fn open(config: &tokio_postgres::Config, tls: &MakeRustlsConnect) -> Result<Session, String> {
    let (config, tls) = (config.clone(), tls.clone());
    let connecting = io()?.spawn(async move {
        let (client, connection) = config.connect(tls).await?;
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::warn!(%error, "a database connection closed");
            }
        });
        Ok::<_, tokio_postgres::Error>(client)
    });
    match futures_executor::block_on(connecting) {
        Ok(Ok(client)) => Ok(Session::new(client, Driver::Shared)),
        Ok(Err(error)) => Err(why(&error)),
        Err(join) => Err(format!("the database I/O runtime failed: {join}")),
    }
}

fn why(error: &tokio_postgres::Error) -> String {
    match std::error::Error::source(error) {
        Some(cause) => format!("{error}: {cause}"),
        None => error.to_string(),
    }
}

/// Opens one connection whose socket is driven by a runtime of its own, on whichever thread
/// waits on it; for a thread outside every tokio runtime.
pub fn open_here(
    config: &tokio_postgres::Config,
    tls: &MakeRustlsConnect,
) -> Result<Session, String> {
    let driver = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start a database connection's runtime: {e}"))?;
    let (client, connection) = driver
        .block_on(config.connect(tls.clone()))
        .map_err(|e| why(&e))?;
    driver.spawn(async move {
        if let Err(error) = connection.await {
            tracing::warn!(%error, "a database connection closed");
        }
    });
    Ok(Session::new(client, Driver::Own(driver)))
}

/// TLS as the URL's `sslmode` asks (`prefer` by default: TLS when the server offers it;
/// `require` to refuse a server without it; `disable`), the server's certificate checked
/// against Mozilla's roots and the PEM certificates of `ca_file` (a private CA).
pub fn tls(ca_file: Option<&std::path::Path>) -> Result<MakeRustlsConnect, String> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    if let Some(path) = ca_file {
        let certificates = CertificateDer::pem_file_iter(path)
            .map_err(|e| format!("database CA file `{}`: {e}", path.display()))?;
        for certificate in certificates {
            let certificate =
                certificate.map_err(|e| format!("database CA file `{}`: {e}", path.display()))?;
            roots
                .add(certificate)
                .map_err(|e| format!("database CA file `{}`: {e}", path.display()))?;
        }
    }
    let config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| format!("TLS to the database: {e}"))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(MakeRustlsConnect::new(config))
}

/// The runtime every database connection's socket runs on.
pub(super) fn io() -> Result<&'static tokio::runtime::Handle, String> {
    static IO: OnceLock<Result<tokio::runtime::Runtime, String>> = OnceLock::new();
    IO.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("tenantry-postgres")
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the database I/O runtime: {e}"))
    })
    .as_ref()
    .map(tokio::runtime::Runtime::handle)
    .map_err(Clone::clone)
}
