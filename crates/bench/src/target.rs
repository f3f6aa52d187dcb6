//! The server under test: a Convene or Janus process the bench starts (on a fresh data or
//! config directory, loopback only, optionally pinned to CPUs with `taskset`), or a Convene
//! already running whose pid the caller names.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::scenario::{Estimate, Scenario};
use crate::{Error, Result};

/// Which SFU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Convene,
    Janus,
    /// The plain UDP forwarder of [`crate::ceiling`].
    Ceiling,
}

/// A server to benchmark.
pub struct Target {
    pub kind: Kind,
    /// Convene: its HTTP base URL. Janus: its WebSocket API URL. Ceiling: the forwarder's
    /// UDP address.
    pub url: String,
    /// The process whose CPU and memory count.
    pub pid: u32,
    /// The address simulated peers use: 127.0.0.1, or for Janus (whose ICE never offers a
    /// loopback candidate) this host's own IPv4 address, which the kernel delivers through
    /// the loopback device just the same.
    pub client_ip: IpAddr,
    /// Convene started here: the bearer token its `/metrics` asks for.
    pub metrics_token: Option<String>,
    child: Option<Child>,
    _dir: Option<tempfile::TempDir>,
}

impl Target {
    /// A Convene server already running at `url` (e.g. `http://127.0.0.1:8080`) as `pid`.
    pub fn external(url: &str, pid: u32) -> Target {
        Target {
            kind: Kind::Convene,
            url: url.trim_end_matches('/').to_owned(),
            pid,
            client_ip: LOOPBACK,
            metrics_token: None,
            child: None,
            _dir: None,
        }
    }

    /// Starts `bin` (a release build of `convene`) on free loopback ports with a fresh SQLite
    /// database, pinned to `cpus` (a `taskset -c` list) if given, forwarding at most `s`'s
    /// `audible` microphones in a crowded meeting (0: all), with its overload `admission` on
    /// (its default high-water marks) or off, taking subscribers' downlink estimates from
    /// `estimate`, reading publishers with the uplink `s` says, and waits until it is ready.
    pub fn start_convene(bin: &Path, cpus: Option<&str>, s: &Scenario, estimate: Estimate) -> Result<Target> {
        let (audible, admission) = (s.audible, s.admission);
        let dir = tempfile::tempdir()?;
        let http = free_tcp_port()?;
        let media = free_udp_port()?;
        let token = {
            use rand::distributions::{Alphanumeric, DistString};
            Alphanumeric.sample_string(&mut rand::thread_rng(), 32)
        };
        let mut cmd = pinned(bin, cpus);
        cmd.args(["--listen", &format!("127.0.0.1:{http}")])
            // Its own account of the latency it adds, read from /metrics (crate::sojourn).
            .args(["--metrics-token", &token])
            .arg("--data-dir")
            .arg(dir.path())
            .args(["--media-listen", &format!("127.0.0.1:{media}")])
            .args(["--max-participants", "1000", "--log-format", "text"])
            // Every simulated participant comes from loopback: one address, so its socket cap
            // (200 by default, for NAT'd offices) goes up to the scenarios' largest meeting.
            .args(["--max-sockets-per-ip", "2000"])
            .args(["--audible-speakers", &audible.to_string()])
            .args(["--downlink-estimate", estimate.flag()])
            .args(["--downlink-transport", estimate.transport_flag()])
            .args(["--uplink-transport", if s.own_uplink { "own" } else { "str0m" }]);
        if !admission {
            // The scenarios measure the forwarding path up to and past its limit, as Janus's
            // (which has no admission control): overload admission and shedding off.
            cmd.args(["--media-high-water-busy-pct", "100", "--media-high-water-delay-ms", "60000"]);
        }
        // The log goes to stdout; a panic's message to stderr.
        cmd.env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(log_file(dir.path(), "convene.log")?)
            .stderr(log_file(dir.path(), "convene.err")?);
        let child = cmd.spawn().map_err(|e| Error::setup(format!("cannot start {}: {e}", bin.display())))?;
        let mut t = Target {
            kind: Kind::Convene,
            url: format!("http://127.0.0.1:{http}"),
            pid: child.id(),
            client_ip: LOOPBACK,
            metrics_token: Some(token),
            child: Some(child),
            _dir: None,
        };
        t.wait_ready(SocketAddr::from(([127, 0, 0, 1], http)), dir.path().join("convene.err"))?;
        if std::env::var_os("BENCH_KEEP_LOGS").is_some() {
            // Kept for reading after the run (the shedding steps are logged as warnings).
            eprintln!("convene's log: {}", dir.keep().join("convene.log").display());
        } else {
            t._dir = Some(dir);
        }
        Ok(t)
    }

    /// Starts Janus (`bin`, e.g. /usr/bin/janus) with a config directory written here:
    /// VideoRoom as the only plugin, WebSocket transport on loopback, ICE on loopback only,
    /// warnings-only logging.
    pub fn start_janus(bin: &Path, cpus: Option<&str>) -> Result<Target> {
        let dir = tempfile::tempdir()?;
        let ws = free_tcp_port()?;
        let ip = host_ipv4()?;
        crate::janus::write_config(dir.path(), ws, ip)?;
        let mut cmd = pinned(bin, cpus);
        cmd.arg("--configs-folder")
            .arg(dir.path())
            .arg("--config")
            .arg(dir.path().join("janus.jcfg"))
            .stdin(Stdio::null())
            .stdout(log_file(dir.path(), "janus.log")?)
            .stderr(log_file(dir.path(), "janus.err")?);
        let child = cmd.spawn().map_err(|e| Error::setup(format!("cannot start {}: {e}", bin.display())))?;
        let mut t = Target {
            kind: Kind::Janus,
            url: format!("ws://127.0.0.1:{ws}"),
            pid: child.id(),
            client_ip: ip,
            metrics_token: None,
            child: Some(child),
            _dir: None,
        };
        t.wait_ready(SocketAddr::from(([127, 0, 0, 1], ws)), dir.path().join("janus.log"))?;
        t._dir = Some(dir);
        Ok(t)
    }

    /// Starts the plain UDP forwarder (`convene-bench forwarder`, this same program) pinned
    /// to `cpus` if given, and waits until it answers a ping.
    pub fn start_ceiling(cpus: Option<&str>) -> Result<Target> {
        let me = std::env::current_exe()?;
        let port = free_udp_port()?;
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let mut cmd = pinned(&me, cpus);
        cmd.args(["forwarder", "--listen", &addr.to_string()]).stdin(Stdio::null()).stdout(Stdio::null());
        let child = cmd.spawn().map_err(|e| Error::setup(format!("cannot start the forwarder: {e}")))?;
        let t = Target {
            kind: Kind::Ceiling,
            url: addr.to_string(),
            pid: child.id(),
            client_ip: LOOPBACK,
            metrics_token: None,
            child: Some(child),
            _dir: None,
        };
        ping(addr)?;
        Ok(t)
    }

    /// The plain UDP forwarder on a thread of this process (for tests: its CPU is this
    /// whole process's).
    pub fn ceiling_in_process() -> Result<Target> {
        let socket = crate::ceiling::bind(SocketAddr::from(([127, 0, 0, 1], 0)))?;
        let addr = socket.local_addr()?;
        std::thread::Builder::new().name("ceiling".into()).spawn(move || crate::ceiling::serve(&socket))?;
        ping(addr)?;
        Ok(Target {
            kind: Kind::Ceiling,
            url: addr.to_string(),
            pid: std::process::id(),
            client_ip: LOOPBACK,
            metrics_token: None,
            child: None,
            _dir: None,
        })
    }

    /// Waits until the server accepts TCP connections on `addr` (then gives it a moment).
    fn wait_ready(&mut self, addr: SocketAddr, log: PathBuf) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                std::thread::sleep(Duration::from_millis(300));
                return Ok(());
            }
            if let Some(Ok(Some(status))) = self.child.as_mut().map(|c| c.try_wait()) {
                let tail = std::fs::read_to_string(&log).unwrap_or_default();
                let tail: String =
                    tail.lines().rev().take(20).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n");
                return Err(Error::setup(format!("{:?} exited with {status} before it was ready:\n{tail}", self.kind)));
            }
            if Instant::now() > deadline {
                return Err(Error::setup(format!("{:?} not ready on {addr} within 30 s", self.kind)));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Stops a process the bench started.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            // SAFETY: kill(2) on our own child's pid.
            unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = c.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Target {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `bin`, or `taskset -c cpus bin` (taskset execs the program, so the pid stays the server's).
fn pinned(bin: &Path, cpus: Option<&str>) -> Command {
    match cpus {
        Some(cpus) => {
            let mut c = Command::new("taskset");
            c.arg("-c").arg(cpus).arg(bin);
            c
        }
        None => Command::new(bin),
    }
}

fn log_file(dir: &Path, name: &str) -> Result<Stdio> {
    Ok(Stdio::from(std::fs::File::create(dir.join(name))?))
}

const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// This host's IPv4 address on its default route (a connected UDP socket sends nothing).
fn host_ipv4() -> Result<IpAddr> {
    let s = UdpSocket::bind("0.0.0.0:0")?;
    s.connect("192.0.2.1:9").or_else(|_| s.connect("1.1.1.1:9")).map_err(|e| {
        Error::setup(format!("Janus needs a non-loopback IPv4 address (it never offers loopback ICE candidates): {e}"))
    })?;
    let ip = s.local_addr()?.ip();
    if ip.is_loopback() || ip.is_unspecified() {
        return Err(Error::setup("Janus needs a non-loopback IPv4 address (it never offers loopback ICE candidates)"));
    }
    Ok(ip)
}

/// Waits until the forwarder at `addr` echoes a ping.
fn ping(addr: SocketAddr) -> Result<()> {
    let s = UdpSocket::bind("127.0.0.1:0")?;
    s.set_read_timeout(Some(Duration::from_millis(100)))?;
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut buf = [0u8; 64];
    while Instant::now() < deadline {
        s.send_to(&crate::ceiling::header(crate::ceiling::KIND_PING, 0, 0, 0), addr)?;
        if s.recv(&mut buf).is_ok() {
            return Ok(());
        }
    }
    Err(Error::setup(format!("the forwarder at {addr} did not answer")))
}

fn free_tcp_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn free_udp_port() -> Result<u16> {
    Ok(UdpSocket::bind("127.0.0.1:0")?.local_addr()?.port())
}
