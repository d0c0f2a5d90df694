//! A real SMTP server for the mail suite: Python's `aiosmtpd` as a child process, writing every
//! message it receives into a maildir the test reads back. Without aiosmtpd the suite says
//! plainly that it is skipped (`SKIPPED: mail suite`), and under CI (`CI` set) it fails instead;
//! `.ci/run` installs it.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Whether `python3 -m aiosmtpd` can run here; says so loudly when it cannot.
pub fn aiosmtpd_available() -> bool {
    let ok = Command::new("python3")
        .args(["-c", "import aiosmtpd"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        crate::skipped("mail suite", "python3 -m pip install aiosmtpd");
    }
    ok
}

/// A free loopback port (nothing listens on it once this returns, until a server takes it).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

/// An `aiosmtpd` server on a loopback port with a maildir of its own; stopped when dropped.
pub struct SmtpServer {
    pub port: u16,
    pub maildir: PathBuf,
    child: Option<Child>,
}

impl SmtpServer {
    /// A server on a free port; `None` (after saying so) without aiosmtpd.
    pub fn start() -> Option<SmtpServer> {
        if !aiosmtpd_available() {
            return None;
        }
        let maildir = std::env::temp_dir().join("afterclass-tests").join(crate::unique("maildir"));
        let mut server = SmtpServer { port: free_port(), maildir, child: None };
        server.up();
        Some(server)
    }

    /// `smtp://127.0.0.1:PORT`, for `AFTERCLASS_SMTP_URL`.
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Starts the server (again) on its port, and waits until it accepts connections.
    pub fn up(&mut self) {
        assert!(self.child.is_none(), "the SMTP server is already up");
        for sub in ["tmp", "new", "cur"] {
            std::fs::create_dir_all(self.maildir.join(sub)).expect("creating the maildir");
        }
        let child = Command::new("python3")
            .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{}", self.port)])
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(&self.maildir)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("starting aiosmtpd");
        self.child = Some(child);
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            assert!(Instant::now() < deadline, "aiosmtpd did not listen on {addr}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops the server; what it received stays in the maildir.
    pub fn down(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Every message received so far, raw, oldest first (by file time, then name).
    pub fn messages(&self) -> Vec<Vec<u8>> {
        let mut files = Vec::new();
        for sub in ["new", "cur"] {
            if let Ok(entries) = std::fs::read_dir(self.maildir.join(sub)) {
                for entry in entries.flatten() {
                    let modified = entry.metadata().and_then(|m| m.modified()).ok();
                    files.push((modified, entry.path()));
                }
            }
        }
        files.sort();
        files.into_iter().map(|(_, path)| std::fs::read(path).expect("reading a received message")).collect()
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        self.down();
        let _ = std::fs::remove_dir_all(&self.maildir);
    }
}
