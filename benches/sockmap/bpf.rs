//! The BPF side: a ten-line instruction encoder, the two maps and the
//! SK_SKB verdict program that sends every byte a mapped socket receives
//! straight out of its peer, and `Redirector`, which pairs sockets.
//!
//! How the program finds the peer: the sockmap holds a session's client
//! socket at slot 2i and its server socket at 2i+1. A hash map keyed by the
//! receiving socket's (local port, remote port), exactly as `__sk_buff`
//! presents them, gives the peer's slot. A verdict program runs only for
//! sockets in the sockmap it is attached to. A key missing from the hash (a
//! race while a pair is set up or torn down) answers SK_PASS, which by the
//! kernel's psock code does not leave the bytes in the receive queue but
//! moves them to the socket's own psock queue (readable with recv() while
//! the socket is mapped). The probe inserts and deletes in an order that
//! never reaches that branch while bytes flow.

use std::io;
use std::net::TcpStream;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};

use crate::sys::{bpf, owned};

// bpf(2) commands, map and program types, from <linux/bpf.h>.
const BPF_MAP_CREATE: u32 = 0;
const BPF_MAP_UPDATE_ELEM: u32 = 2;
const BPF_MAP_DELETE_ELEM: u32 = 3;
const BPF_PROG_LOAD: u32 = 5;
const BPF_PROG_ATTACH: u32 = 8;
const BPF_MAP_TYPE_HASH: u32 = 1;
const BPF_MAP_TYPE_SOCKMAP: u32 = 15;
const BPF_PROG_TYPE_SK_SKB: u32 = 14;
/// Verdict on whole skbs, no stream parser (kernel 5.13+).
const BPF_SK_SKB_VERDICT: u32 = 38;
const BPF_ANY: u64 = 0;

/// Sockmap slots: room for this many sessions at once.
pub const PAIRS: u32 = 128;

#[repr(C)]
pub struct MapCreate {
    map_type: u32,
    key_size: u32,
    value_size: u32,
    max_entries: u32,
    map_flags: u32,
}

#[repr(C)]
pub struct MapElem {
    map_fd: u32,
    _pad: u32,
    key: u64,
    value: u64,
    flags: u64,
}

#[repr(C)]
pub struct ProgLoad {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
}

#[repr(C)]
pub struct ProgAttach {
    target_fd: u32,
    attach_bpf_fd: u32,
    attach_type: u32,
    attach_flags: u32,
}

/// One `struct bpf_insn`: opcode, dst (low nibble) and src (high nibble)
/// registers, offset, immediate.
#[derive(Clone, Copy)]
#[repr(C)]
struct Insn {
    code: u8,
    regs: u8,
    off: i16,
    imm: i32,
}

const fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn {
        code,
        regs: (src << 4) | dst,
        off,
        imm,
    }
}
// Opcodes: class | size/op | source.
const fn mov64_reg(dst: u8, src: u8) -> Insn {
    insn(0xbf, dst, src, 0, 0) // ALU64 | MOV | X
}
const fn mov64_imm(dst: u8, imm: i32) -> Insn {
    insn(0xb7, dst, 0, 0, imm) // ALU64 | MOV | K
}
const fn add64_imm(dst: u8, imm: i32) -> Insn {
    insn(0x07, dst, 0, 0, imm) // ALU64 | ADD | K
}
const fn ldx_w(dst: u8, src: u8, off: i16) -> Insn {
    insn(0x61, dst, src, off, 0) // LDX | MEM | W
}
const fn stx_w(dst: u8, src: u8, off: i16) -> Insn {
    insn(0x63, dst, src, off, 0) // STX | MEM | W
}
const fn jeq_imm(dst: u8, imm: i32, off: i16) -> Insn {
    insn(0x15, dst, 0, off, imm) // JMP | JEQ | K
}
const fn call(helper: i32) -> Insn {
    insn(0x85, 0, 0, 0, helper)
}
const fn exit() -> Insn {
    insn(0x95, 0, 0, 0, 0)
}
/// `dst = map` as the two-slot LD_IMM64 with src = BPF_PSEUDO_MAP_FD.
fn ld_map_fd(dst: u8, map: &OwnedFd) -> [Insn; 2] {
    [insn(0x18, dst, 1, 0, map.as_raw_fd()), insn(0, 0, 0, 0, 0)]
}

const HELPER_MAP_LOOKUP_ELEM: i32 = 1;
const HELPER_SK_REDIRECT_MAP: i32 = 52;
// Offsets in `struct __sk_buff`.
const SKB_REMOTE_PORT: i16 = 132;
const SKB_LOCAL_PORT: i16 = 136;
const SK_PASS: i32 = 1;
const R0: u8 = 0;
const R1: u8 = 1;
const R2: u8 = 2;
const R3: u8 = 3;
const R4: u8 = 4;
const R6: u8 = 6;
const FP: u8 = 10;

/// The verdict program:
///   key = { skb->local_port, skb->remote_port }  (on the stack at fp-8)
///   peer = peers[key];  if !peer: return SK_PASS
///   return bpf_sk_redirect_map(skb, sockmap, *peer, 0)
/// Flags 0 means the peer's egress: the skb is queued on the peer's psock
/// and a kernel work item (the psock backlog) sends it from there.
fn verdict_program(peers: &OwnedFd, sockmap: &OwnedFd) -> Vec<Insn> {
    let mut redirect = vec![ldx_w(R3, R0, 0)];
    redirect.extend(ld_map_fd(R2, sockmap));
    redirect.extend([
        mov64_reg(R1, R6),
        mov64_imm(R4, 0),
        call(HELPER_SK_REDIRECT_MAP),
        exit(),
    ]);
    let mut prog = vec![
        mov64_reg(R6, R1),
        ldx_w(R2, R6, SKB_LOCAL_PORT),
        stx_w(FP, R2, -8),
        ldx_w(R2, R6, SKB_REMOTE_PORT),
        stx_w(FP, R2, -4),
    ];
    prog.extend(ld_map_fd(R1, peers));
    prog.extend([
        mov64_reg(R2, FP),
        add64_imm(R2, -8),
        call(HELPER_MAP_LOOKUP_ELEM),
    ]);
    prog.push(jeq_imm(R0, 0, redirect.len() as i16));
    prog.extend(redirect);
    prog.extend([mov64_imm(R0, SK_PASS), exit()]);
    prog
}

fn map_create(
    map_type: u32,
    key_size: u32,
    value_size: u32,
    max_entries: u32,
) -> io::Result<OwnedFd> {
    let mut attr = MapCreate {
        map_type,
        key_size,
        value_size,
        max_entries,
        map_flags: 0,
    };
    bpf(BPF_MAP_CREATE, &mut attr).map(owned)
}

fn map_update<K, V>(map: &OwnedFd, key: &K, value: &V) -> io::Result<()> {
    let mut attr = MapElem {
        map_fd: map.as_raw_fd() as u32,
        _pad: 0,
        key: key as *const K as u64,
        value: value as *const V as u64,
        flags: BPF_ANY,
    };
    bpf(BPF_MAP_UPDATE_ELEM, &mut attr).map(drop)
}

fn map_delete<K>(map: &OwnedFd, key: &K) -> io::Result<()> {
    let mut attr = MapElem {
        map_fd: map.as_raw_fd() as u32,
        _pad: 0,
        key: key as *const K as u64,
        value: 0,
        flags: 0,
    };
    bpf(BPF_MAP_DELETE_ELEM, &mut attr).map(drop)
}

/// The hash key the program builds: local port in host order, remote port
/// as `__sk_buff.remote_port` holds it (network order in the upper 16 bits
/// of the u32 on little-endian machines).
#[repr(C)]
struct PortKey {
    local: u32,
    remote: u32,
}

fn port_key(sock: &TcpStream) -> io::Result<PortKey> {
    let remote = u32::from(sock.peer_addr()?.port().to_be());
    let remote = if cfg!(target_endian = "little") {
        remote << 16
    } else {
        remote
    };
    Ok(PortKey {
        local: u32::from(sock.local_addr()?.port()),
        remote,
    })
}

/// The maps and the attached program; dropping it closes all three, which
/// detaches the program and empties the maps.
pub struct Redirector {
    sockmap: OwnedFd,
    peers: OwnedFd,
    _prog: OwnedFd,
}

/// Why the redirector could not be set up, by step.
#[derive(Debug)]
pub enum SetupError {
    Map(io::Error),
    Load { source: io::Error, log: String },
    Attach(io::Error),
}

impl std::fmt::Display for SetupError {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        match self {
            SetupError::Map(e) => write!(f, "creating the BPF maps: {e}"),
            SetupError::Load { source, log } => {
                write!(f, "loading the verdict program: {source}\n{log}")
            }
            SetupError::Attach(e) => write!(f, "attaching the verdict program to the sockmap: {e}"),
        }
    }
}

impl SetupError {
    /// No privilege or no BPF: the probe has nothing to measure.
    pub fn is_permission(&self) -> bool {
        let e = match self {
            SetupError::Map(e) | SetupError::Attach(e) => e,
            SetupError::Load { source, .. } => source,
        };
        matches!(
            e.raw_os_error(),
            Some(libc::EPERM | libc::EACCES | libc::ENOSYS)
        )
    }
}

impl Redirector {
    pub fn new() -> Result<Self, SetupError> {
        let sockmap = map_create(BPF_MAP_TYPE_SOCKMAP, 4, 4, 2 * PAIRS).map_err(SetupError::Map)?;
        let peers = map_create(BPF_MAP_TYPE_HASH, 8, 4, 2 * PAIRS).map_err(SetupError::Map)?;
        let insns = verdict_program(&peers, &sockmap);
        let license = c"GPL";
        let mut log = vec![0u8; 64 * 1024];
        let mut attr = ProgLoad {
            prog_type: BPF_PROG_TYPE_SK_SKB,
            insn_cnt: insns.len() as u32,
            insns: insns.as_ptr() as u64,
            license: license.as_ptr() as u64,
            log_level: 1,
            log_size: log.len() as u32,
            log_buf: log.as_mut_ptr() as u64,
        };
        let prog = bpf(BPF_PROG_LOAD, &mut attr).map(owned).map_err(|source| {
            let end = log.iter().position(|&b| b == 0).unwrap_or(log.len());
            SetupError::Load {
                source,
                log: String::from_utf8_lossy(&log[..end]).into_owned(),
            }
        })?;
        let mut attach = ProgAttach {
            target_fd: sockmap.as_raw_fd() as u32,
            attach_bpf_fd: prog.as_raw_fd() as u32,
            attach_type: BPF_SK_SKB_VERDICT,
            attach_flags: 0,
        };
        bpf(BPF_PROG_ATTACH, &mut attach).map_err(SetupError::Attach)?;
        Ok(Redirector {
            sockmap,
            peers,
            _prog: prog,
        })
    }

    /// Takes session `i`'s two sockets out of user space: from now on what
    /// either receives is sent out of the other by the kernel (4 map updates).
    pub fn insert(&self, i: u32, client: &TcpStream, server: &TcpStream) -> io::Result<Pair> {
        let (c, s) = (2 * i, 2 * i + 1);
        let keys = [port_key(client)?, port_key(server)?];
        map_update(&self.peers, &keys[0], &s)?;
        map_update(&self.peers, &keys[1], &c)?;
        map_update(&self.sockmap, &c, &(client.as_fd().as_raw_fd() as u32))?;
        map_update(&self.sockmap, &s, &(server.as_fd().as_raw_fd() as u32))?;
        Ok(Pair { index: i, keys })
    }

    /// Stops redirecting what one side of the pair receives (2 map deletes);
    /// its later bytes stay in its receive queue. Whatever its psock still
    /// held is dropped: see the fallback check. A socket the kernel closed
    /// may have left the sockmap by itself, and an empty sockmap slot answers
    /// EINVAL, a missing hash key ENOENT: neither is an error here.
    pub fn remove(&self, pair: &Pair, side: Side) -> io::Result<()> {
        let gone = |r: io::Result<()>| match r {
            Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT | libc::EINVAL)) => Ok(()),
            r => r,
        };
        gone(map_delete(&self.sockmap, &(2 * pair.index + side as u32)))?;
        gone(map_delete(&self.peers, &pair.keys[side as usize]))
    }
}

/// Session `index`'s place in the maps, kept so that it can be removed after
/// a socket lost its addresses (a reset socket has no peer address).
pub struct Pair {
    index: u32,
    keys: [PortKey; 2],
}

#[derive(Clone, Copy)]
pub enum Side {
    Client = 0,
    Server = 1,
}
