//! The LAN interface's root qdisc for download limits. The TC egress program gives a
//! limited client's packets an earliest departure time (`skb->tstamp`, see the kernel
//! side's `rate` module); only a qdisc that honours it holds them until then, and `fq`
//! does. netauth puts `fq` at the root when the first download limit appears (a gateway
//! without limits keeps its qdisc and pays nothing), records what was there first in
//! the state directory (so a restarted daemon still knows), and puts it back on
//! `netauth stop --detach`: the kernel's default (a root handle of `0:`, e.g. `noqueue`
//! on a veth, `mq` or `fq_codel` on a NIC) by deleting the root, anything an operator
//! configured by replacing the root with the same kind and the same options, byte for
//! byte. Child qdiscs of a classful root (`mq`'s per-queue children, HTB classes) are not
//! recorded.
//!
//! Raw rtnetlink messages rather than the `rtnetlink` crate: its 0.24 `QDiscNewRequest`
//! can add a root qdisc of a given kind, but netlink-packet-route 0.34 parses the options
//! of kinds it does not know (sfq, tbf, pfifo, ...) as a nested attribute list, which
//! loses them, so the original could not be put back as it was. A few dozen lines of
//! message layout keep the options exactly, and the calls are synchronous, so the session
//! table can install `fq` under its own lock the moment a limit needs it.

use std::{
    io,
    os::fd::{AsRawFd as _, FromRawFd as _, OwnedFd},
    path::PathBuf,
    sync::Mutex,
};

use anyhow::{Context as _, anyhow, bail};
use tracing::{info, warn};

const RTM_NEWQDISC: u16 = 36;
const RTM_DELQDISC: u16 = 37;
const RTM_GETQDISC: u16 = 38;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_ACK: u16 = 0x4;
const NLM_F_DUMP: u16 = 0x300;
const NLM_F_REPLACE: u16 = 0x100;
const NLM_F_CREATE: u16 = 0x400;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const TC_H_ROOT: u32 = 0xffff_ffff;
const TCA_KIND: u16 = 1;
const TCA_OPTIONS: u16 = 2;
const TCA_FQ_PLIMIT: u16 = 1;
const TCA_FQ_FLOW_PLIMIT: u16 = 2;
/// The handle netauth gives its `fq` ("NA" = 0x4e41), so it knows its own.
pub const FQ_HANDLE: u32 = 0x4e41_0000;
/// fq's packet limits: a limited client's packets wait in its flow up to the horizon
/// (2 s); fq's defaults (100 per flow) would drop them after the datapath charged them.
const FQ_PLIMIT: u32 = 100_000;
const FQ_FLOW_PLIMIT: u32 = 10_000;

/// A root qdisc as the kernel reported it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RootQdisc {
    pub handle: u32,
    pub kind: String,
    /// The TCA_OPTIONS attribute's payload, as the kernel sent it.
    pub options: Option<Vec<u8>>,
}

impl RootQdisc {
    /// A qdisc the kernel attached by itself (handle `0:`): deleting the root restores it.
    fn is_default(&self) -> bool {
        self.handle & 0xffff_0000 == 0
    }

    fn to_record(&self) -> String {
        let hex: String = self
            .options
            .as_deref()
            .map(|o| o.iter().map(|b| format!("{b:02x}")).collect())
            .unwrap_or_default();
        format!("{:08x} {} {hex}\n", self.handle, self.kind)
    }

    fn from_record(text: &str) -> Option<Self> {
        let mut it = text.split_whitespace();
        let handle = u32::from_str_radix(it.next()?, 16).ok()?;
        let kind = it.next()?.to_string();
        let options = match it.next() {
            None => None,
            Some(h) if h.len() % 2 == 0 => Some(
                (0..h.len())
                    .step_by(2)
                    .map(|i| u8::from_str_radix(&h[i..i + 2], 16).ok())
                    .collect::<Option<Vec<u8>>>()?,
            ),
            Some(_) => return None,
        };
        Some(Self {
            handle,
            kind,
            options,
        })
    }
}

/// Puts `fq` on the interface when asked and the original back on [`Shaper::restore`].
pub struct Shaper {
    iface: String,
    record: PathBuf,
    /// Whether fq is in place: `None` not tried yet, `Some(false)` the kernel refused it
    /// (no `sch_fq`: not asked again).
    installed: Mutex<Option<bool>>,
}

impl Shaper {
    /// `state_dir` keeps the record of the original root qdisc.
    pub fn new(iface: &str, state_dir: &std::path::Path) -> Self {
        Self {
            iface: iface.to_string(),
            record: state_dir.join(format!("qdisc-{iface}.orig")),
            installed: Mutex::new(None),
        }
    }

    fn ifindex(&self) -> anyhow::Result<i32> {
        let name = std::ffi::CString::new(self.iface.as_str())?;
        // SAFETY: a NUL-terminated name.
        let index = unsafe { libc::if_nametoindex(name.as_ptr()) };
        if index == 0 {
            bail!("interface '{}' does not exist", self.iface);
        }
        Ok(index as i32)
    }

    /// Makes sure `fq` is the interface's root qdisc (recording the original first);
    /// whether it is. A kernel without `fq` gets one warning, and `false` from then on.
    pub fn ensure(&self) -> bool {
        let mut installed = self.installed.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(done) = *installed {
            return done;
        }
        let done = match self.install() {
            Ok(()) => true,
            Err(e) => {
                warn!(
                    iface = %self.iface,
                    "download limits are policed (dropped beyond a burst) instead of shaped: \
                     {e:#}"
                );
                false
            }
        };
        *installed = Some(done);
        done
    }

    fn install(&self) -> anyhow::Result<()> {
        let index = self.ifindex()?;
        let current = root_qdisc(index)?;
        let ours = current
            .as_ref()
            .is_some_and(|q| q.kind == "fq" && q.handle == FQ_HANDLE);
        if !ours {
            // The record first: a crash between the two steps must not lose the original.
            if !self.record.exists() {
                let orig = current.unwrap_or(RootQdisc {
                    handle: 0,
                    kind: "noqueue".into(),
                    options: None,
                });
                write_synced(&self.record, orig.to_record().as_bytes()).with_context(|| {
                    format!("recording the root qdisc in {}", self.record.display())
                })?;
            }
            let mut opts = Vec::new();
            attr(&mut opts, TCA_FQ_PLIMIT, &FQ_PLIMIT.to_ne_bytes());
            attr(&mut opts, TCA_FQ_FLOW_PLIMIT, &FQ_FLOW_PLIMIT.to_ne_bytes());
            if let Err(e) = replace_root(index, FQ_HANDLE, "fq", Some(&opts)) {
                // Nothing of netauth's is on the interface: nothing to restore.
                let _ = std::fs::remove_file(&self.record);
                return Err(e).with_context(|| format!("putting the fq qdisc on {}", self.iface));
            }
            info!(iface = %self.iface, "fq qdisc installed for download rate limits");
        }
        Ok(())
    }

    /// Puts back the root qdisc that was there before netauth's `fq` (nothing to do
    /// when netauth never installed one).
    pub fn restore(&self) -> anyhow::Result<()> {
        let mut installed = self.installed.lock().unwrap_or_else(|p| p.into_inner());
        let text = match std::fs::read_to_string(&self.record) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e).context(format!("reading {}", self.record.display())),
        };
        let orig = RootQdisc::from_record(&text)
            .ok_or_else(|| anyhow!("{} is not a qdisc record", self.record.display()))?;
        let index = self.ifindex()?;
        let current = root_qdisc(index)?;
        if current
            .as_ref()
            .is_some_and(|q| q.kind == "fq" && q.handle == FQ_HANDLE)
        {
            if orig.is_default() {
                delete_root(index).context("deleting netauth's fq qdisc")?;
            } else {
                replace_root(index, orig.handle, &orig.kind, orig.options.as_deref())
                    .with_context(|| format!("restoring the {} qdisc", orig.kind))?;
            }
            info!(iface = %self.iface, kind = %orig.kind, "original root qdisc restored");
        } else {
            warn!(iface = %self.iface, "the root qdisc is no longer netauth's fq: left as it is");
        }
        std::fs::remove_file(&self.record)
            .with_context(|| format!("removing {}", self.record.display()))?;
        *installed = None;
        Ok(())
    }
}

fn write_synced(path: &std::path::Path, data: &[u8]) -> io::Result<()> {
    use std::io::Write as _;
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(data)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}

/// Appends a netlink attribute (padded to 4 bytes).
fn attr(buf: &mut Vec<u8>, kind: u16, payload: &[u8]) {
    let len = 4 + payload.len();
    buf.extend_from_slice(&(len as u16).to_ne_bytes());
    buf.extend_from_slice(&kind.to_ne_bytes());
    buf.extend_from_slice(payload);
    buf.resize(buf.len().next_multiple_of(4), 0);
}

/// A netlink message: header, `struct tcmsg`, attributes.
fn tc_message(
    kind: u16,
    flags: u16,
    index: i32,
    handle: u32,
    parent: u32,
    attrs: &[u8],
) -> Vec<u8> {
    let mut m = Vec::with_capacity(36 + attrs.len());
    let len = (16 + 20 + attrs.len()) as u32;
    m.extend_from_slice(&len.to_ne_bytes());
    m.extend_from_slice(&kind.to_ne_bytes());
    m.extend_from_slice(&flags.to_ne_bytes());
    m.extend_from_slice(&1u32.to_ne_bytes()); // sequence
    m.extend_from_slice(&0u32.to_ne_bytes()); // port id: the kernel's
    m.extend_from_slice(&[0u8; 4]); // family (AF_UNSPEC) and padding
    m.extend_from_slice(&index.to_ne_bytes());
    m.extend_from_slice(&handle.to_ne_bytes());
    m.extend_from_slice(&parent.to_ne_bytes());
    m.extend_from_slice(&0u32.to_ne_bytes()); // info
    m.extend_from_slice(attrs);
    m
}

fn socket() -> io::Result<OwnedFd> {
    // SAFETY: plain socket(2).
    let fd = unsafe {
        libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC,
            libc::NETLINK_ROUTE,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel just returned this descriptor.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Sends `msg` and collects the answer's messages (type, payload) until DONE or the
/// acknowledgement; a netlink error becomes an `io::Error`.
fn talk(msg: &[u8]) -> io::Result<Vec<(u16, Vec<u8>)>> {
    let sock = socket()?;
    // SAFETY: sending our own buffer; the kernel is the default destination.
    if unsafe { libc::send(sock.as_raw_fd(), msg.as_ptr().cast(), msg.len(), 0) } < 0 {
        return Err(io::Error::last_os_error());
    }
    let mut out = Vec::new();
    let mut buf = vec![0u8; 65536];
    loop {
        // SAFETY: receiving into our own buffer.
        let n = unsafe { libc::recv(sock.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut at = 0usize;
        let n = n as usize;
        while at + 16 <= n {
            let len = u32::from_ne_bytes(buf[at..at + 4].try_into().expect("4 bytes")) as usize;
            let kind = u16::from_ne_bytes(buf[at + 4..at + 6].try_into().expect("2 bytes"));
            if len < 16 || at + len > n {
                return Err(io::Error::other("truncated netlink message"));
            }
            let payload = &buf[at + 16..at + len];
            match kind {
                NLMSG_DONE => return Ok(out),
                NLMSG_ERROR => {
                    let code = i32::from_ne_bytes(payload[..4].try_into().expect("4 bytes"));
                    return if code == 0 {
                        Ok(out)
                    } else {
                        Err(io::Error::from_raw_os_error(-code))
                    };
                }
                _ => out.push((kind, payload.to_vec())),
            }
            at += len.next_multiple_of(4);
        }
    }
}

/// The interface's root qdisc (`None`: the kernel reported none).
pub fn root_qdisc(index: i32) -> anyhow::Result<Option<RootQdisc>> {
    let msg = tc_message(RTM_GETQDISC, NLM_F_REQUEST | NLM_F_DUMP, index, 0, 0, &[]);
    for (kind, p) in talk(&msg).context("listing qdiscs")? {
        if kind != RTM_NEWQDISC || p.len() < 20 {
            continue;
        }
        let ifindex = i32::from_ne_bytes(p[4..8].try_into().expect("4 bytes"));
        let handle = u32::from_ne_bytes(p[8..12].try_into().expect("4 bytes"));
        let parent = u32::from_ne_bytes(p[12..16].try_into().expect("4 bytes"));
        if ifindex != index || parent != TC_H_ROOT {
            continue;
        }
        let (mut qkind, mut options) = (String::new(), None);
        let mut at = 20;
        while at + 4 <= p.len() {
            let len = u16::from_ne_bytes(p[at..at + 2].try_into().expect("2 bytes")) as usize;
            let ty = u16::from_ne_bytes(p[at + 2..at + 4].try_into().expect("2 bytes")) & 0x3fff;
            if len < 4 || at + len > p.len() {
                break;
            }
            let value = &p[at + 4..at + len];
            match ty {
                TCA_KIND => {
                    qkind = String::from_utf8_lossy(value)
                        .trim_end_matches('\0')
                        .to_string()
                }
                TCA_OPTIONS => options = Some(value.to_vec()),
                _ => {}
            }
            at += len.next_multiple_of(4);
        }
        return Ok(Some(RootQdisc {
            handle,
            kind: qkind,
            options,
        }));
    }
    Ok(None)
}

fn replace_root(index: i32, handle: u32, kind: &str, options: Option<&[u8]>) -> io::Result<()> {
    let mut attrs = Vec::new();
    let mut k = kind.as_bytes().to_vec();
    k.push(0);
    attr(&mut attrs, TCA_KIND, &k);
    if let Some(o) = options {
        attr(&mut attrs, TCA_OPTIONS, o);
    }
    let flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE;
    talk(&tc_message(
        RTM_NEWQDISC,
        flags,
        index,
        handle,
        TC_H_ROOT,
        &attrs,
    ))
    .map(drop)
}

fn delete_root(index: i32) -> io::Result<()> {
    let flags = NLM_F_REQUEST | NLM_F_ACK;
    talk(&tc_message(RTM_DELQDISC, flags, index, 0, TC_H_ROOT, &[])).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_qdisc_record_reads_back_as_written() {
        let q = RootQdisc {
            handle: 0x8001_0000,
            kind: "sfq".into(),
            options: Some(vec![0, 1, 0xfe, 0xff]),
        };
        assert_eq!(RootQdisc::from_record(&q.to_record()), Some(q));
        let d = RootQdisc {
            handle: 0,
            kind: "noqueue".into(),
            options: None,
        };
        assert_eq!(RootQdisc::from_record(&d.to_record()), Some(d.clone()));
        assert!(d.is_default());
        assert_eq!(RootQdisc::from_record("zz sfq"), None);
        assert_eq!(RootQdisc::from_record("8001 sfq 0"), None);
    }
}
