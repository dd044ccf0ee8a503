//! A real FreeRADIUS server for tests of netauth's RADIUS client.
//!
//! [`FreeRadius::start`] writes a small, self-contained configuration directory (nothing
//! is copied from /etc/freeradius) and runs `freeradius -f -xx` inside a namespace: in the
//! foreground, with its thread pool (`-X` would make it single-threaded) and full debug
//! logging to a file. What the server received and answered is read back from `detail`
//! files with fixed names:
//!
//! - `radacct/detail`: every Accounting-Request ([`FreeRadius::accounting`]);
//! - `radacct/auth-detail`: every Access-Request, without User-Password
//!   ([`FreeRadius::auth_requests`]);
//! - `radacct/reply-detail`: every reply to an Access-Request, Access-Reject included
//!   ([`FreeRadius::replies`]; `Packet-Type` tells which).
//!
//! Users come from a raw `users` file; `Simultaneous-Use` is enforced with `radutmp`
//! (fed by accounting Start/Stop, keyed by NAS-IP-Address + NAS-Port, `check_with_nas =
//! no`). [`radclient`] plays a NAS (or a CoA client) from any namespace.
//!
//! With [`FreeRadiusConfig::shipped`], the virtual server, policy, sql module, schema and
//! dictionary are netauth's shipped `examples/freeradius/` files themselves, included
//! from where they are: the harness writes only what an installation already has (the
//! global settings, clients, and the stock modules those files use: `files`, `pap`,
//! `detail`, `radutmp`, `attr_filter.access_reject`, `always ok/reject`), so a test
//! proves the configuration operators install. The roaming sessions are then in
//! [`FreeRadius::roaming_db`]; `auth_requests` and `replies` stay empty.

use std::{
    fmt::Write as _,
    fs::OpenOptions,
    net::{IpAddr, Ipv4Addr, SocketAddr},
    os::unix::fs::PermissionsExt as _,
    path::{Path, PathBuf},
    process::{Child, Stdio},
    sync::atomic::Ordering,
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail};

use crate::{COUNTER, Ns, sh};

/// Where the FreeRADIUS dictionaries are (Debian's `freeradius-common`).
pub const DICT_DIR: &str = "/usr/share/freeradius";
/// Where the FreeRADIUS modules are.
pub const LIB_DIR: &str = "/usr/lib/freeradius";

/// A RADIUS client (NAS) the server accepts requests from.
#[derive(Clone, Debug)]
pub struct RadiusClientDef {
    /// A short name: letters, digits, `-`, `_`, `.`.
    pub name: String,
    pub addr: IpAddr,
    pub secret: String,
}

impl RadiusClientDef {
    pub fn new(
        name: impl Into<String>,
        addr: impl Into<IpAddr>,
        secret: impl Into<String>,
    ) -> Self {
        RadiusClientDef {
            name: name.into(),
            addr: addr.into(),
            secret: secret.into(),
        }
    }
}

/// What to run FreeRADIUS with.
#[derive(Clone, Debug)]
pub struct FreeRadiusConfig {
    /// Address to bind (`0.0.0.0` or `::` for all addresses of that family).
    pub listen: IpAddr,
    /// Authentication port, 1812 normally; 0 for no authentication listener.
    pub auth_port: u16,
    /// Accounting port, 1813 normally; 0 for no accounting listener.
    pub acct_port: u16,
    pub clients: Vec<RadiusClientDef>,
    /// The raw `users` file (the `files` module's syntax): check items on the first line
    /// of an entry, reply items on tab-indented continuation lines, separated by commas.
    pub users: String,
    /// Run netauth's shipped `examples/freeradius/` site instead of the harness's own.
    pub shipped: bool,
}

impl Default for FreeRadiusConfig {
    /// Listens on 0.0.0.0:1812 and :1813, no clients, no users.
    fn default() -> Self {
        FreeRadiusConfig {
            listen: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            auth_port: 1812,
            acct_port: 1813,
            clients: Vec::new(),
            users: String::new(),
            shipped: false,
        }
    }
}

/// A running FreeRADIUS (killed on drop).
pub struct FreeRadius {
    /// The configuration directory; also holds logs, detail files and radutmp.
    pub dir: PathBuf,
    pub ns: Ns,
    pub cfg: FreeRadiusConfig,
    child: Option<Child>,
}

const LOG_FILE: &str = "radius.log";
const OUT_FILE: &str = "radiusd.out";
const READY: &str = "Ready to process requests";

impl FreeRadius {
    /// Writes the config under `dir` (created) and starts freeradius inside `ns`; returns
    /// once it has bound its sockets and logged "Ready to process requests".
    pub fn start(ns: &Ns, dir: &Path, cfg: &FreeRadiusConfig) -> anyhow::Result<Self> {
        write_config(dir, cfg)?;
        let mut server = FreeRadius {
            dir: dir.to_path_buf(),
            ns: ns.clone(),
            cfg: cfg.clone(),
            child: None,
        };
        server.spawn()?;
        Ok(server)
    }

    /// Starts the server again (after [`kill`](Self::kill)) with the same configuration
    /// and state: detail files and radutmp are kept.
    pub fn restart(&mut self) -> anyhow::Result<()> {
        self.kill();
        self.spawn()
    }

    fn spawn(&mut self) -> anyhow::Result<()> {
        let log = self.dir.join(LOG_FILE);
        let start_len = std::fs::metadata(&log)
            .map(|m| m.len() as usize)
            .unwrap_or(0);
        let out = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join(OUT_FILE))?;
        // Debian installs it in /usr/sbin, which a non-login PATH may lack.
        let mut cmd = self.ns.command("/usr/sbin/freeradius");
        // -f: foreground (and `ip netns exec` execs it, so the child's pid is radiusd's);
        // -xx: full debug output but keep the thread pool (-X would be single-threaded).
        cmd.arg("-f")
            .arg("-xx")
            .arg("-l")
            .arg(&log)
            .arg("-d")
            .arg(&self.dir)
            .arg("-D")
            .arg(DICT_DIR)
            .arg("-n")
            .arg("radiusd")
            // Dates in the detail files (Event-Timestamp) are printed in local time.
            .env("TZ", "UTC")
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out);
        let child = cmd.spawn().context("starting freeradius")?;
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(status) = self.child.as_mut().expect("just set").try_wait()? {
                self.child = None;
                bail!("freeradius exited early ({status}):\n{}", self.log_text());
            }
            let text = std::fs::read(&log).unwrap_or_default();
            if text
                .get(start_len..)
                .is_some_and(|t| String::from_utf8_lossy(t).contains(READY))
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                self.kill();
                bail!("freeradius did not become ready:\n{}", self.log_text());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The address radclient should use for authentication (loopback when listening on
    /// all addresses).
    pub fn auth_addr(&self) -> SocketAddr {
        SocketAddr::new(connect_addr(self.cfg.listen), self.cfg.auth_port)
    }

    /// The address radclient should use for accounting.
    pub fn acct_addr(&self) -> SocketAddr {
        SocketAddr::new(connect_addr(self.cfg.listen), self.cfg.acct_port)
    }

    /// Every Accounting-Request FreeRADIUS received, from its `detail` file, in order.
    pub fn accounting(&self) -> Vec<DetailRecord> {
        read_detail(&self.dir.join("radacct/detail"))
    }

    /// The shipped configuration's session database (`netauth_sql`).
    pub fn roaming_db(&self) -> PathBuf {
        self.dir.join("netauth-sessions.sqlite")
    }

    /// Rows of the shipped configuration's `netauth_sessions` table, `columns` of each
    /// joined by `|`, in the order they started (empty before the first Start).
    pub fn roaming_sessions(&self, columns: &str) -> Vec<String> {
        let out = std::process::Command::new("sqlite3")
            .arg("-readonly")
            .arg(self.roaming_db())
            .arg(format!(
                "SELECT {columns} FROM netauth_sessions ORDER BY started, rowid"
            ))
            .output();
        match out {
            Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout)
                .lines()
                .map(str::to_string)
                .collect(),
            _ => Vec::new(),
        }
    }

    /// Every Access-Request it received (User-Password suppressed), in order.
    pub fn auth_requests(&self) -> Vec<DetailRecord> {
        read_detail(&self.dir.join("radacct/auth-detail"))
    }

    /// Every reply it sent to Access-Requests, in order; `Packet-Type` is Access-Accept or
    /// Access-Reject.
    pub fn replies(&self) -> Vec<DetailRecord> {
        read_detail(&self.dir.join("radacct/reply-detail"))
    }

    /// Polls [`accounting`](Self::accounting) until `pred` matches a record (the first
    /// such is returned) or `timeout` passes.
    pub fn wait_accounting(
        &self,
        pred: impl Fn(&DetailRecord) -> bool,
        timeout: Duration,
    ) -> Option<DetailRecord> {
        wait_for(|| self.accounting(), pred, timeout)
    }

    /// Polls [`auth_requests`](Self::auth_requests) like `wait_accounting`.
    pub fn wait_auth_request(
        &self,
        pred: impl Fn(&DetailRecord) -> bool,
        timeout: Duration,
    ) -> Option<DetailRecord> {
        wait_for(|| self.auth_requests(), pred, timeout)
    }

    /// radiusd's log (its debug output), preceded by anything it wrote to stdout/stderr.
    pub fn log_text(&self) -> String {
        let out = std::fs::read(self.dir.join(OUT_FILE)).unwrap_or_default();
        let log = std::fs::read(self.dir.join(LOG_FILE)).unwrap_or_default();
        format!(
            "{}{}",
            String::from_utf8_lossy(&out),
            String::from_utf8_lossy(&log)
        )
    }

    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// SIGKILL (for server-down tests); also done on drop.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for FreeRadius {
    fn drop(&mut self) {
        self.kill();
    }
}

fn connect_addr(listen: IpAddr) -> IpAddr {
    match listen {
        IpAddr::V4(a) if a.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(a) if a.is_unspecified() => IpAddr::V6(std::net::Ipv6Addr::LOCALHOST),
        a => a,
    }
}

fn wait_for(
    read: impl Fn() -> Vec<DetailRecord>,
    pred: impl Fn(&DetailRecord) -> bool,
    timeout: Duration,
) -> Option<DetailRecord> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(r) = read().into_iter().find(|r| pred(r)) {
            return Some(r);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A `"..."` config string.
fn quote(s: &str) -> String {
    let mut q = String::with_capacity(s.len() + 2);
    q.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            q.push('\\');
        }
        q.push(c);
    }
    q.push('"');
    q
}

fn addr_item(addr: IpAddr) -> String {
    match addr {
        IpAddr::V4(a) => format!("ipaddr = {a}"),
        IpAddr::V6(a) => format!("ipv6addr = {a}"),
    }
}

fn write_config(dir: &Path, cfg: &FreeRadiusConfig) -> anyhow::Result<()> {
    for sub in ["", "log", "run", "radacct"] {
        std::fs::create_dir_all(dir.join(sub))
            .with_context(|| format!("creating {}", dir.join(sub).display()))?;
    }
    // radiusd refuses a globally writable configuration directory.
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    let prefix = dir
        .to_str()
        .context("the FreeRADIUS directory must be valid UTF-8")?;
    if prefix.contains(['"', '\\', '$', ' ', '{', '}']) {
        bail!("unsupported characters in the FreeRADIUS directory {prefix:?}");
    }

    let modconfdir = shipped_dir().join("mods-config");
    let modconfdir = modconfdir.display();
    let mut clients = String::new();
    for c in &cfg.clients {
        if c.name.is_empty()
            || !c
                .name
                .chars()
                .all(|ch| ch.is_ascii_alphanumeric() || matches!(ch, '-' | '_' | '.'))
        {
            bail!("bad RADIUS client name {:?}", c.name);
        }
        writeln!(
            clients,
            "client {} {{\n\t{}\n\tsecret = {}\n\tnastype = other\n\trequire_message_authenticator = no\n}}",
            c.name,
            addr_item(c.addr),
            quote(&c.secret)
        )?;
    }

    let mut listens = String::new();
    for (kind, port) in [("auth", cfg.auth_port), ("acct", cfg.acct_port)] {
        if port != 0 {
            writeln!(
                listens,
                "\tlisten {{\n\t\ttype = {kind}\n\t\t{}\n\t\tport = {port}\n\t}}",
                addr_item(cfg.listen)
            )?;
        }
    }

    let rest = if cfg.shipped {
        shipped_server(dir)?
    } else {
        format!(
            r#"modules {{
	pap {{
		normalise = yes
	}}
	files {{
		filename = ${{confdir}}/users
	}}
	detail auth_log {{
		filename = ${{radacctdir}}/auth-detail
		escape_filenames = no
		permissions = 0600
		header = "%t"
		suppress {{
			User-Password
		}}
	}}
	detail reply_log {{
		filename = ${{radacctdir}}/reply-detail
		escape_filenames = no
		permissions = 0600
		header = "%t"
	}}
	detail {{
		filename = ${{radacctdir}}/detail
		escape_filenames = no
		permissions = 0600
		header = "%t"
	}}
	# As in a stock install: an Access-Reject carries no users-file reply items.
	attr_filter access_reject {{
		key = "%{{User-Name}}"
		filename = ${{confdir}}/attrs.access_reject
	}}
	radutmp {{
		filename = ${{logdir}}/radutmp
		username = %{{User-Name}}
		case_sensitive = yes
		check_with_nas = no
		permissions = 0600
		caller_id = yes
	}}
}}

server default {{
{listens}
	authorize {{
		auth_log
		files
		pap
	}}
	authenticate {{
		Auth-Type PAP {{
			pap
		}}
	}}
	preacct {{
	}}
	accounting {{
		detail
		radutmp
	}}
	session {{
		radutmp
	}}
	post-auth {{
		reply_log
		Post-Auth-Type REJECT {{
			access_reject
			reply_log
		}}
	}}
}}
"#
        )
    };
    let conf = format!(
        r#"# Written by netauth_lab::radius; a minimal, self-contained FreeRADIUS 3 config.
prefix = {prefix}
confdir = ${{prefix}}
raddbdir = ${{prefix}}
logdir = ${{prefix}}/log
radacctdir = ${{prefix}}/radacct
run_dir = ${{prefix}}/run
db_dir = ${{prefix}}
modconfdir = {modconfdir}
libdir = {LIB_DIR}
pidfile = ${{run_dir}}/radiusd.pid
name = radiusd
max_request_time = 30
cleanup_delay = 5
max_requests = 16384
hostname_lookups = no
proxy_requests = no

log {{
	destination = files
	file = ${{prefix}}/radius.log
	auth = yes
	auth_badpass = no
	auth_goodpass = no
}}

# No user/group: runs as whoever starts it (root in the tests).
security {{
	max_attributes = 200
	reject_delay = 0
	status_server = yes
	allow_core_dumps = no
}}

thread pool {{
	start_servers = 4
	max_servers = 32
	min_spare_servers = 2
	max_spare_servers = 16
	max_requests_per_server = 0
	auto_limit_acct = no
}}

{clients}
{rest}"#
    );
    std::fs::write(dir.join("radiusd.conf"), conf)?;
    std::fs::write(
        dir.join("attrs.access_reject"),
        "DEFAULT\n\tReply-Message =* ANY,\n\tError-Cause =* ANY,\n\tEAP-Message =* ANY,\n\tMessage-Authenticator =* ANY,\n\tProxy-State =* ANY\n",
    )?;
    let mut users = cfg.users.clone();
    if !users.ends_with('\n') {
        users.push('\n');
    }
    std::fs::write(dir.join("users"), users)?;
    Ok(())
}

/// Where netauth's shipped FreeRADIUS configuration is.
pub fn shipped_dir() -> PathBuf {
    crate::workspace_root().join("examples/freeradius")
}

/// The stock modules the shipped site uses, as a Debian install defines them (with the
/// harness's file locations), and the shipped module, policy and site themselves,
/// included from `examples/freeradius/`; the shipped dictionary through `dir`'s local
/// `dictionary`, as an install includes it from /etc/freeradius/3.0/dictionary.
fn shipped_server(dir: &Path) -> anyhow::Result<String> {
    let ex = shipped_dir();
    let ex = ex
        .to_str()
        .context("the workspace path must be valid UTF-8")?;
    if ex.contains(['"', '\\', '$', ' ', '{', '}']) {
        bail!("unsupported characters in the workspace path {ex:?}");
    }
    std::fs::write(
        dir.join("dictionary"),
        format!("$INCLUDE {ex}/dictionary.netauth\n"),
    )?;
    Ok(format!(
        r#"modules {{
	pap {{
		normalise = yes
	}}
	files {{
		filename = ${{confdir}}/users
	}}
	detail {{
		filename = ${{radacctdir}}/detail
		escape_filenames = no
		permissions = 0600
		header = "%t"
	}}
	attr_filter attr_filter.access_reject {{
		key = "%{{User-Name}}"
		filename = ${{confdir}}/attrs.access_reject
	}}
	radutmp {{
		filename = ${{logdir}}/radutmp
		username = %{{User-Name}}
		case_sensitive = yes
		check_with_nas = no
		permissions = 0600
		caller_id = yes
	}}
	always ok {{
		rcode = ok
	}}
	always reject {{
		rcode = reject
	}}
	$INCLUDE {ex}/mods-available/netauth_sql
}}

policy {{
	$INCLUDE {ex}/policy.d/netauth
}}

$INCLUDE {ex}/sites-available/netauth
"#
    ))
}

/// One record of a FreeRADIUS `detail` file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DetailRecord {
    /// Attributes in file order, values unquoted and unescaped. Octets are `0x...` hex,
    /// dates are `Mon DD YYYY HH:MM:SS UTC`, enumerated integers are their names.
    pub attrs: Vec<(String, String)>,
}

impl DetailRecord {
    /// The first value of attribute `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of attribute `name`, in order.
    pub fn get_all(&self, name: &str) -> Vec<&str> {
        self.attrs
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The value of `name` as a number (`None` if absent or not numeric).
    pub fn get_u64(&self, name: &str) -> Option<u64> {
        self.get(name)?.parse().ok()
    }

    /// A date attribute (e.g. Event-Timestamp, printed as `Nov 14 2023 22:13:20 UTC`) or
    /// a plain number (Timestamp) as seconds since the epoch.
    pub fn get_time(&self, name: &str) -> Option<u64> {
        let v = self.get(name)?;
        v.parse().ok().or_else(|| parse_detail_date(v))
    }

    /// Acct-Input-Gigawords * 2^32 + Acct-Input-Octets (gigawords default to 0).
    pub fn input_octets(&self) -> Option<u64> {
        let low = self.get_u64("Acct-Input-Octets")?;
        Some((self.get_u64("Acct-Input-Gigawords").unwrap_or(0) << 32) + low)
    }

    /// Acct-Output-Gigawords * 2^32 + Acct-Output-Octets (gigawords default to 0).
    pub fn output_octets(&self) -> Option<u64> {
        let low = self.get_u64("Acct-Output-Octets")?;
        Some((self.get_u64("Acct-Output-Gigawords").unwrap_or(0) << 32) + low)
    }
}

/// Reads a detail file; only complete records (ended by an empty line) are returned.
pub fn read_detail(path: &Path) -> Vec<DetailRecord> {
    let Ok(bytes) = std::fs::read(path) else {
        return Vec::new();
    };
    parse_detail(&String::from_utf8_lossy(&bytes))
}

/// Parses detail-file text: records are a header line (the time), `\tName = value`
/// lines and an empty line.
pub fn parse_detail(text: &str) -> Vec<DetailRecord> {
    let mut records = Vec::new();
    let mut current: Option<DetailRecord> = None;
    for line in text.split_inclusive('\n') {
        let complete = line.ends_with('\n');
        let line = line.trim_end_matches(['\n', '\r']);
        if line.is_empty() {
            if complete && let Some(r) = current.take() {
                records.push(r);
            }
        } else if let Some(attr) = line.strip_prefix('\t') {
            if let (Some(r), Some((name, value))) = (current.as_mut(), attr.split_once(" = ")) {
                r.attrs
                    .push((name.trim().to_string(), unquote(value.trim())));
            }
        } else {
            // A header line starts a new record (a record without its empty line is
            // incomplete and dropped).
            current = Some(DetailRecord::default());
        }
    }
    records
}

/// Removes FreeRADIUS quoting: `"..."` with `\"`, `\\`, `\n`, `\r`, `\t` and `\ooo`
/// (octal bytes) escapes. Unquoted values are returned as they are.
pub fn unquote(value: &str) -> String {
    let Some(inner) = value
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .or_else(|| value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
    else {
        return value.to_string();
    };
    let b = inner.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 1 < b.len() {
            let n = b[i + 1];
            match n {
                b'n' => out.push(b'\n'),
                b'r' => out.push(b'\r'),
                b't' => out.push(b'\t'),
                b'0'..=b'7'
                    if i + 3 < b.len()
                        && (b'0'..=b'7').contains(&b[i + 2])
                        && (b'0'..=b'7').contains(&b[i + 3]) =>
                {
                    let oct = |c: u8| (c - b'0') as u32;
                    let v = oct(n) * 64 + oct(b[i + 2]) * 8 + oct(b[i + 3]);
                    out.push(v as u8);
                    i += 4;
                    continue;
                }
                other => out.push(other),
            }
            i += 2;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `Nov 14 2023 22:13:20 UTC` (as FreeRADIUS prints dates with TZ=UTC) to epoch seconds.
fn parse_detail_date(v: &str) -> Option<u64> {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let mut it = v.split_whitespace();
    let month = it.next()?;
    let month = MONTHS.iter().position(|m| *m == month)? as i64 + 1;
    let day: i64 = it.next()?.parse().ok()?;
    let year: i64 = it.next()?.parse().ok()?;
    let mut hms = it.next()?.split(':').map(|x| x.parse::<i64>().ok());
    let (h, m, s) = (hms.next()??, hms.next()??, hms.next()??);
    if !matches!(it.next(), Some("UTC" | "GMT") | None) {
        return None;
    }
    // Days from civil (Howard Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    u64::try_from(days * 86_400 + h * 3600 + m * 60 + s).ok()
}

/// A value for radclient's input: as is when it is a single token, else quoted.
fn radclient_value(v: &str) -> String {
    let plain = !v.is_empty()
        && !v.starts_with(['"', '\''])
        && !v
            .chars()
            .any(|c| c.is_whitespace() || matches!(c, ',' | '#' | '\\' | '"' | '\''));
    if plain {
        return v.to_string();
    }
    if v.len() >= 2 && v.starts_with('"') && v.ends_with('"') {
        // Already quoted by the caller.
        return v.to_string();
    }
    let mut q = String::from("\"");
    for c in v.chars() {
        match c {
            '"' => q.push_str("\\\""),
            '\\' => q.push_str("\\\\"),
            '\n' => q.push_str("\\n"),
            '\r' => q.push_str("\\r"),
            '\t' => q.push_str("\\t"),
            c => q.push(c),
        }
    }
    q.push('"');
    q
}

/// Runs radclient inside `ns` (1 s timeout, 2 tries). `kind` is "auth", "acct", "status",
/// "coa" or "disconnect"; `attrs` are written as `Name = value` lines (values with spaces
/// or quotes are quoted for you; `0x..` octets, numbers and enum names pass as they are).
/// Returns the reply's code name ("Access-Accept", "Disconnect-ACK", "CoA-NAK", ...) and
/// its attributes (values unquoted); an error if nothing answered.
pub fn radclient(
    ns: &Ns,
    server: SocketAddr,
    kind: &str,
    secret: &str,
    attrs: &[(&str, &str)],
) -> anyhow::Result<(String, Vec<(String, String)>)> {
    radclient_with(ns, server, kind, secret, attrs, Duration::from_secs(1), 2)
}

/// [`radclient`] with an explicit per-try `timeout` and number of `tries` (radclient's
/// `-t` and `-r`).
pub fn radclient_with(
    ns: &Ns,
    server: SocketAddr,
    kind: &str,
    secret: &str,
    attrs: &[(&str, &str)],
    timeout: Duration,
    tries: u32,
) -> anyhow::Result<(String, Vec<(String, String)>)> {
    use std::io::Write as _;
    if !matches!(kind, "auth" | "acct" | "status" | "coa" | "disconnect") {
        bail!("unknown radclient request kind {kind:?}");
    }
    let mut input = String::new();
    for (name, value) in attrs {
        writeln!(input, "{name} = {}", radclient_value(value))?;
    }
    if kind == "status" && !attrs.iter().any(|(n, _)| *n == "Message-Authenticator") {
        input.push_str("Message-Authenticator = 0x00\n");
    }
    let mut child = ns
        .command("radclient")
        .arg("-x")
        .args(["-D", DICT_DIR])
        .arg("-r")
        .arg(tries.max(1).to_string())
        .arg("-t")
        .arg(format!("{:.3}", timeout.as_secs_f64()))
        .arg(server.to_string())
        .arg(kind)
        .arg(secret)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("starting radclient")?;
    child
        .stdin
        .take()
        .expect("piped")
        .write_all(input.as_bytes())?;
    let out = child.wait_with_output()?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let mut lines = stdout.lines().skip_while(|l| !l.starts_with("Received "));
    let Some(received) = lines.next() else {
        bail!(
            "radclient {kind} to {server}: no reply\n{}{}",
            stdout,
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let code = received
        .split_whitespace()
        .nth(1)
        .context("malformed radclient output")?
        .to_string();
    let reply = lines
        .map_while(|l| l.strip_prefix('\t'))
        .filter_map(|l| l.split_once(" = "))
        .map(|(n, v)| (n.trim().to_string(), unquote(v.trim())))
        .collect();
    Ok((code, reply))
}

/// Creates (once) a veth between gateway namespace `gw` and AAA namespace `aaa`, for
/// deployments where several gateways share one RADIUS server: the gateway side is `aaa0`
/// with 198.51.100.(128+4*index+1)/30, the AAA side `g{index}` with .(128+4*index+2)/30
/// (more specific than the lab's 198.51.100.0/24 uplink). Returns (gateway address, AAA
/// address). `index` is 0..=31.
pub fn link_to_aaa(aaa: &Ns, gw: &Ns, index: u8) -> anyhow::Result<(Ipv4Addr, Ipv4Addr)> {
    if index > 31 {
        bail!("link_to_aaa: index {index} out of 0..=31");
    }
    let base = 128 + 4 * index;
    let gw_addr = Ipv4Addr::new(198, 51, 100, base + 1);
    let aaa_addr = Ipv4Addr::new(198, 51, 100, base + 2);
    let peer = format!("g{index}");
    let gw_has = gw.ip(&["link", "show", "dev", "aaa0"]).is_ok();
    let aaa_has = aaa.ip(&["link", "show", "dev", &peer]).is_ok();
    if gw_has && aaa_has {
        return Ok((gw_addr, aaa_addr));
    }
    if gw_has || aaa_has {
        bail!(
            "link_to_aaa: {} has aaa0: {gw_has}, {} has {peer}: {aaa_has}",
            gw.name,
            aaa.name
        );
    }
    sh(
        "ip",
        &[
            "link", "add", "aaa0", "netns", &gw.name, "type", "veth", "peer", "name", &peer,
            "netns", &aaa.name,
        ],
    )?;
    gw.ip(&["addr", "add", &format!("{gw_addr}/30"), "dev", "aaa0"])?;
    gw.ip(&["link", "set", "aaa0", "up"])?;
    aaa.ip(&["addr", "add", &format!("{aaa_addr}/30"), "dev", &peer])?;
    aaa.ip(&["link", "set", &peer, "up"])?;
    Ok((gw_addr, aaa_addr))
}

/// A fresh directory under the temp dir for a server's config (removed on drop).
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> anyhow::Result<Self> {
        let p = std::env::temp_dir().join(format!(
            "netauth-radius-{}x{}-{tag}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p)?;
        Ok(TempDir(p))
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A MAC as RADIUS carries it in Calling-Station-Id (RFC 3580):
/// 02:00:00:00:01:0a -> 02-00-00-00-01-0A.
pub fn station(mac: &str) -> String {
    mac.replace(':', "-").to_uppercase()
}

/// Writes the shared secret where netauth's `--radius-secret-file` reads it; its path.
pub fn secret_file(dir: &std::path::Path, secret: &str) -> String {
    let p = dir.join("radius.secret");
    std::fs::write(&p, format!("{secret}\n")).unwrap();
    p.to_string_lossy().into_owned()
}

/// Whether `r` is the accounting request of `status` for `session_id`.
pub fn is_acct(r: &DetailRecord, status: &str, session_id: &str) -> bool {
    r.get("Acct-Status-Type") == Some(status) && r.get("Acct-Session-Id") == Some(session_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_detail() {
        let text = "Thu Nov 26 01:38:23 2026\n\tUser-Name = \"a b\\\"c\"\n\tAcct-Status-Type = Start\n\tClass = 0x01ff\n\tReply-Message = \"x\\ny\\001\"\n\tEvent-Timestamp = \"Nov 14 2023 22:13:20 UTC\"\n\tAcct-Input-Octets = 5\n\tAcct-Input-Gigawords = 1\n\n\
                    Thu Nov 26 01:38:24 2026\n\tUser-Name = \"partial\"\n";
        let r = parse_detail(text);
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].get("User-Name"), Some("a b\"c"));
        assert_eq!(r[0].get("Acct-Status-Type"), Some("Start"));
        assert_eq!(r[0].get("Class"), Some("0x01ff"));
        assert_eq!(r[0].get("Reply-Message"), Some("x\ny\u{1}"));
        assert_eq!(r[0].get_time("Event-Timestamp"), Some(1_700_000_000));
        assert_eq!(r[0].input_octets(), Some((1 << 32) + 5));
        assert_eq!(
            parse_detail_date("Feb  1 2024 00:00:00 UTC"),
            Some(1_706_745_600)
        );
    }

    #[test]
    fn radclient_values() {
        assert_eq!(radclient_value("alice"), "alice");
        assert_eq!(radclient_value("0x01"), "0x01");
        assert_eq!(radclient_value("a b"), "\"a b\"");
        assert_eq!(radclient_value("\"q\""), "\"q\"");
        assert_eq!(radclient_value(""), "\"\"");
    }
}
