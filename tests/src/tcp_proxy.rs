//! A TCP proxy a test can cut and restore, to take a database away from a running server
//! and give it back, as a network partition or a database restart would.
//!
//! It runs on a runtime of its own: the server's storage calls block their thread while they
//! wait for the database, and an in-process server shares the test's thread.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

pub struct TcpProxy {
    /// `127.0.0.1:port` the proxy listens on.
    pub address: String,
    up: Arc<AtomicBool>,
    cut: watch::Sender<u64>,
}

impl TcpProxy {
    /// Forwards every connection to `target` (`host:port`) until cut.
    pub fn start(target: String) -> anyhow::Result<Self> {
        let up = Arc::new(AtomicBool::new(true));
        let (cut, cuts) = watch::channel(0_u64);
        let accepting = Arc::clone(&up);
        let (bound, address) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
                bound
                    .send(listener.local_addr().unwrap().to_string())
                    .unwrap();
                while let Ok((mut client, _)) = listener.accept().await {
                    if !accepting.load(Ordering::SeqCst) {
                        continue; // dropped: the connection is refused at once
                    }
                    let target = target.clone();
                    let mut cuts = cuts.clone();
                    cuts.mark_unchanged();
                    tokio::spawn(async move {
                        let Ok(mut server) = TcpStream::connect(&target).await else {
                            return;
                        };
                        tokio::select! {
                            _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                            _ = cuts.changed() => {}
                        }
                    });
                }
            });
        });
        Ok(Self {
            address: address.recv()?,
            up,
            cut,
        })
    }

    /// Drops every open connection and refuses new ones.
    pub fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        self.cut.send_modify(|n| *n += 1);
    }

    pub fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}
