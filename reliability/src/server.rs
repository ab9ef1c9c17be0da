//! The server under test: the real binary in its own process, on its own port.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

pub struct Server {
    pub base: String,
    /// From spawn to the first ready answer: opening (and after a kill, repairing) the file,
    /// loading policies and plugins.
    pub startup: Duration,
    child: Child,
}

impl Server {
    /// Starts `binary` on `data`, its log appended to `log`.
    pub async fn start(binary: &Path, data: &Path, log_path: &Path) -> anyhow::Result<Self> {
        Self::start_with(binary, data, log_path, "").await
    }

    /// [`Self::start`] with `config` (TOML) added to the harness's settings.
    pub async fn start_with(
        binary: &Path,
        data: &Path,
        log_path: &Path,
        config: &str,
    ) -> anyhow::Result<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let base = format!("http://127.0.0.1:{port}");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log_path)?;
        // One provider token drives every client's organization creation: no per-token quota.
        let settings = format!("{config}\n[rate_limit]\nper_second = 0\n");
        let config = data.join("harness.toml");
        std::fs::write(&config, settings)?;
        let began = Instant::now();
        let child = Command::new(binary)
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .arg("--data-dir")
            .arg(data)
            .arg("--config")
            .arg(&config)
            .arg("--policies")
            .arg(tenantry_e2e::policies_dir())
            .env("TENANTRY_OPERATOR_TOKEN", tenantry_e2e::OPERATOR_TOKEN)
            // The regions the end-to-end bodies use.
            .env("TENANTRY_REGIONS", "eu-central,us-east")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .with_context(|| format!("cannot run `{}`", binary.display()))?;
        let mut server = Self {
            base,
            startup: Duration::ZERO,
            child,
        };
        let client = reqwest::Client::new();
        loop {
            if let Some(status) = server.child.try_wait()? {
                bail!(
                    "the server exited with {status} while starting; see {}",
                    log_path.display()
                );
            }
            let ready = client
                .get(format!("{}/readyz", server.base))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if ready {
                server.startup = began.elapsed();
                return Ok(server);
            }
            if began.elapsed() > Duration::from_secs(60) {
                bail!("the server did not become ready within 60 s");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Resident memory now.
    pub fn rss_kib(&self) -> anyhow::Result<u64> {
        self.status_kib("VmRSS:")
    }

    /// The most resident memory so far.
    pub fn peak_kib(&self) -> anyhow::Result<u64> {
        self.status_kib("VmHWM:")
    }

    fn status_kib(&self, field: &str) -> anyhow::Result<u64> {
        tenantry_e2e::memory::status_kib(&self.pid().to_string(), field)
    }

    /// SIGKILL: no shutdown code runs, whatever was in flight is cut off.
    pub fn kill(mut self) -> anyhow::Result<()> {
        self.child.kill()?;
        self.child.wait()?;
        Ok(())
    }
}

impl Drop for Server {
    /// A harness that stops early (an error) leaves no server behind.
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
