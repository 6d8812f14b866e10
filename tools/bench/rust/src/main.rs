//! vmv-rust-bench: the memory and queue workloads of /work/shared/reference/queue-benchmark.md on rust-vmm's
//! vm-memory (GuestMemoryMmap) and virtio-queue (split ring, device side), timed the same way as
//! tools/bench/src/memory.mjs and queue.mjs time @vmv's, so that `pnpm bench memory|queue --vs-rust` can
//! run both alternately and compare them from one run. One invocation times one case and prints one line of
//! JSON with the raw per-run samples (ns per operation); the caller takes the medians.
//!
//!   vmv-rust-bench memory <read|write|readU32|writeU32> <size> <random|hot> [--target-ms N] [--runs N] [--huge-pages]
//!     -> {"samples":[ns/op of each run],"iterations":passes per run}
//!   vmv-rust-bench queue <A|B> <pop|iter> <none|evidx> [--target-ms N] [--runs N] [--huge-pages]
//!     -> {"total":[ns/chain, device + driver],"driver":[ns/chain, driver only],"rounds":rounds per run}
//!
//! Every counter the reference asks for is checked (chains, descriptors, notifications, used.idx); a mismatch,
//! or an address generator that does not give the reference's check values, ends the process with an error.
//!
//! Guest memory is GuestMemoryMmap's own: one private anonymous mmap (MAP_PRIVATE | MAP_ANONYMOUS |
//! MAP_NORESERVE), 4 KiB pages unless the kernel's transparent huge pages are "always". With --huge-pages the
//! mapping is advised MADV_HUGEPAGE before it is touched, as @vmv/sys's mmapAnonymous(length, { hugePages: true })
//! does on the JS side (the kernel aligns a 64 MiB anonymous mapping to 2 MiB; the harness checks that).
use std::hint::black_box;
use std::process::exit;
use std::sync::atomic::Ordering;
use std::time::Instant;

use virtio_queue::{Queue, QueueOwnedT, QueueT};
use vm_memory::{Bytes, GuestAddress, GuestMemory, GuestMemoryMmap};

type Mem = GuestMemoryMmap<()>;

const MEM_SIZE: usize = 0x0400_0000;
const N_ADDR: usize = 65536;
const HOT: u32 = 0x0040_0000;

const DESC: u64 = 0x0000;
const AVAIL: u64 = 0x1000;
const USED: u64 = 0x2000;
const QSIZE: u16 = 256;
const NEXT: u16 = 1;
const WRITE: u16 = 2;

struct Timing {
    target_ms: f64,
    runs: usize,
    huge_pages: bool,
}

fn fail(msg: &str) -> ! {
    eprintln!("vmv-rust-bench: {msg}");
    exit(2)
}

/// 64 MiB at GPA 0 (advised MADV_HUGEPAGE with `huge_pages`), every page touched (1 MiB blocks of ones, then
/// zeros) before any timing.
fn make_memory(huge_pages: bool) -> Mem {
    let mem = Mem::from_ranges(&[(GuestAddress(0), MEM_SIZE)]).unwrap_or_else(|e| fail(&format!("guest memory: {e}")));
    if huge_pages {
        let host = mem.get_host_address(GuestAddress(0)).unwrap_or_else(|e| fail(&format!("host address: {e}")));
        if host as usize % (2 << 20) != 0 {
            fail("the guest memory mapping is not 2 MiB aligned: huge pages would not cover all of it");
        }
        // SAFETY: the range is exactly the mapping GuestMemoryMmap made, alive as long as `mem`; the advice
        // changes no contents.
        if unsafe { libc::madvise(host.cast(), MEM_SIZE, libc::MADV_HUGEPAGE) } != 0 {
            fail(&format!("madvise(MADV_HUGEPAGE): {}", std::io::Error::last_os_error()));
        }
    }
    for fill in [1u8, 0u8] {
        let block = vec![fill; 1 << 20];
        for off in (0..MEM_SIZE).step_by(1 << 20) {
            mem.write_slice(&block, GuestAddress(off as u64)).unwrap();
        }
    }
    mem
}

/// Calibrates `f(n)` to about `target_ms` per call from one call of `calibrate` iterations, warms up with a
/// quarter of that, then times `runs` calls; returns the ns per operation of each run and the iterations.
fn measure(mut f: impl FnMut(u64), calibrate: u64, ops_per_iteration: f64, t: &Timing) -> (Vec<f64>, u64) {
    let t0 = Instant::now();
    f(calibrate);
    let dt = (t0.elapsed().as_nanos() as f64).max(1.0);
    let n = ((calibrate as f64 * t.target_ms * 1e6) / dt).round().max(1.0) as u64;
    f((n >> 2).max(1));
    let mut samples = Vec::with_capacity(t.runs);
    for _ in 0..t.runs {
        let t0 = Instant::now();
        f(n);
        samples.push(t0.elapsed().as_nanos() as f64 / (n as f64 * ops_per_iteration));
    }
    (samples, n)
}

fn json_list(xs: &[f64]) -> String {
    let items: Vec<String> = xs.iter().map(|x| format!("{x:.4}")).collect();
    format!("[{}]", items.join(","))
}

// ------------------------------------------------------------------------------------------------ memory

/// xorshift32 (13/17/5) seeded 0x12345678; addr = (x % (MEM_SIZE / size)) * size.
fn random_addresses(size: u32) -> Vec<u32> {
    let slots = MEM_SIZE as u32 / size;
    let mut x: u32 = 0x1234_5678;
    (0..N_ADDR)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x % slots) * size
        })
        .collect()
}

fn check_generator() {
    for (size, want) in [
        (4096u32, [0x1aa5000u32, 0x24a3000, 0x34c4000, 0x2c98000]),
        (16, [0x185aa50, 0x1b24a30, 0x20f4c40, 0x33ac980]),
        (4, [0x2616a94, 0x16c928c, 0x83d310, 0x2ceb260]),
    ] {
        let got = random_addresses(size);
        if got[..4] != want {
            fail(&format!("address generator mismatch for size {size}: {:x?}", &got[..4]));
        }
    }
}

fn memory(op: &str, size: usize, pattern: &str, t: &Timing) {
    check_generator();
    let mem = make_memory(t.huge_pages);
    let addrs = match pattern {
        "random" => random_addresses(size as u32),
        "hot" => vec![HOT; N_ADDR],
        _ => fail(&format!("unknown pattern {pattern}")),
    };
    let mut buf = vec![0u8; size];
    let mut sum: u64 = 0;
    // One closure per operation, so that each timed loop is compiled for its own body.
    let (samples, n) = match (op, size) {
        ("read", 16 | 4096) => measure(
            |n| {
                for _ in 0..n {
                    for &a in &addrs {
                        mem.read_slice(&mut buf, GuestAddress(a as u64)).unwrap();
                        sum = sum.wrapping_add(buf[0] as u64);
                    }
                }
            },
            4,
            N_ADDR as f64,
            t,
        ),
        ("write", 16 | 4096) => measure(
            |n| {
                for _ in 0..n {
                    for &a in &addrs {
                        buf[0] = a as u8;
                        mem.write_slice(&buf, GuestAddress(a as u64)).unwrap();
                    }
                }
            },
            4,
            N_ADDR as f64,
            t,
        ),
        ("readU32", 4) => measure(
            |n| {
                for _ in 0..n {
                    for &a in &addrs {
                        sum = sum.wrapping_add(mem.read_obj::<u32>(GuestAddress(a as u64)).unwrap() as u64);
                    }
                }
            },
            4,
            N_ADDR as f64,
            t,
        ),
        ("writeU32", 4) => measure(
            |n| {
                for _ in 0..n {
                    for &a in &addrs {
                        mem.write_obj::<u32>(a, GuestAddress(a as u64)).unwrap();
                    }
                }
            },
            4,
            N_ADDR as f64,
            t,
        ),
        _ => fail(&format!("no memory case {op} of {size} bytes")),
    };
    black_box(sum);
    println!("{{\"samples\":{},\"iterations\":{n}}}", json_list(&samples));
}

// ------------------------------------------------------------------------------------------------ queue

struct Workload {
    n: u16,
    per_chain: u64,
    /// (index, addr, len, flags, next)
    descs: Vec<(u16, u64, u32, u16, u16)>,
    heads: Vec<u16>,
}

fn workload(name: &str) -> Workload {
    let mut descs = Vec::new();
    let mut heads = Vec::new();
    match name {
        "A" => {
            for i in 0..256u16 {
                descs.push((i, 0x0010_0000 + i as u64 * 0x1000, 4096, WRITE, 0));
                heads.push(i);
            }
            Workload { n: 256, per_chain: 1, descs, heads }
        }
        "B" => {
            for c in 0..85u16 {
                let b = 3 * c;
                descs.push((b, 0x0020_0000 + c as u64 * 16, 16, NEXT, b + 1));
                descs.push((b + 1, 0x0010_0000 + c as u64 * 0x1000, 4096, NEXT | WRITE, b + 2));
                descs.push((b + 2, 0x0030_0000 + c as u64, 1, WRITE, 0));
                heads.push(b);
            }
            Workload { n: 85, per_chain: 3, descs, heads }
        }
        _ => fail(&format!("unknown workload {name}")),
    }
}

struct Runner<'a> {
    mem: &'a Mem,
    wl: &'a Workload,
    q: Queue,
    evidx: bool,
    iter: bool,
    is_b: bool,
    avail_idx: u16,
    scratch: Vec<(u16, u32)>,
    chains: u64,
    descriptors: u64,
    notifies: u64,
    checksum: u64,
    rounds_run: u64,
}

impl<'a> Runner<'a> {
    /// Zeroes the rings, writes the workload's descriptors (and B's headers) and creates a fresh queue.
    fn new(mem: &'a Mem, wl: &'a Workload, style: &str, notif: &str) -> Self {
        let evidx = match notif {
            "none" => false,
            "evidx" => true,
            _ => fail(&format!("unknown notification mode {notif}")),
        };
        let iter = match style {
            "pop" => false,
            "iter" => true,
            _ => fail(&format!("unknown style {style}")),
        };
        mem.write_slice(&[0u8; 0x3000], GuestAddress(0)).unwrap();
        for &(i, addr, len, flags, next) in &wl.descs {
            let at = DESC + 16 * i as u64;
            mem.write_obj(addr, GuestAddress(at)).unwrap();
            mem.write_obj(len, GuestAddress(at + 8)).unwrap();
            mem.write_obj(flags, GuestAddress(at + 12)).unwrap();
            mem.write_obj(next, GuestAddress(at + 14)).unwrap();
        }
        if wl.per_chain == 3 {
            for c in 0..85u64 {
                let at = 0x0020_0000 + c * 16;
                mem.write_obj(0u32, GuestAddress(at)).unwrap();
                mem.write_obj(0u32, GuestAddress(at + 4)).unwrap();
                mem.write_obj(c * 8, GuestAddress(at + 8)).unwrap();
            }
        }
        let mut q = Queue::new(QSIZE).unwrap_or_else(|e| fail(&format!("queue: {e:?}")));
        q.set_size(QSIZE);
        q.set_desc_table_address(Some(DESC as u32), Some((DESC >> 32) as u32));
        q.set_avail_ring_address(Some(AVAIL as u32), Some((AVAIL >> 32) as u32));
        q.set_used_ring_address(Some(USED as u32), Some((USED >> 32) as u32));
        q.set_event_idx(evidx);
        q.set_ready(true);
        if !q.is_valid(mem) {
            fail("the queue configuration is not valid");
        }
        Runner {
            mem,
            wl,
            q,
            evidx,
            iter,
            is_b: wl.per_chain == 3,
            avail_idx: 0,
            scratch: Vec::with_capacity(256),
            chains: 0,
            descriptors: 0,
            notifies: 0,
            checksum: 0,
            rounds_run: 0,
        }
    }

    /// The driver's publish: heads into the avail ring, used_event (event idx) for the round's last chain,
    /// then avail.idx with Release.
    fn publish(&mut self) {
        let n = self.wl.n;
        for (k, &h) in self.wl.heads.iter().enumerate() {
            let slot = (self.avail_idx.wrapping_add(k as u16) % QSIZE) as u64;
            self.mem.write_obj(h, GuestAddress(AVAIL + 4 + 2 * slot)).unwrap();
        }
        if self.evidx {
            let used_event = self.q.next_used().wrapping_add(n - 1);
            self.mem.write_obj(used_event, GuestAddress(AVAIL + 4 + 2 * QSIZE as u64)).unwrap();
        }
        self.avail_idx = self.avail_idx.wrapping_add(n);
        self.mem.store(self.avail_idx, GuestAddress(AVAIL + 2), Ordering::Release).unwrap();
    }

    fn round(&mut self) {
        self.publish();
        let mem = self.mem;
        let (is_b, evidx) = (self.is_b, self.evidx);
        if evidx {
            self.q.disable_notification(mem).unwrap();
        }
        if !self.iter {
            while let Some(chain) = self.q.pop_descriptor_chain(mem) {
                let head = chain.head_index();
                let used_len = walk(chain, mem, is_b, &mut self.checksum, &mut self.descriptors);
                self.chains += 1;
                self.q.add_used(mem, head, used_len).unwrap();
                if evidx && self.q.needs_notification(mem).unwrap() {
                    self.notifies += 1;
                }
            }
        } else {
            self.scratch.clear();
            for chain in self.q.iter(mem).unwrap() {
                let head = chain.head_index();
                let used_len = walk(chain, mem, is_b, &mut self.checksum, &mut self.descriptors);
                self.scratch.push((head, used_len));
            }
            self.chains += self.scratch.len() as u64;
            for &(head, used_len) in &self.scratch {
                self.q.add_used(mem, head, used_len).unwrap();
                if evidx && self.q.needs_notification(mem).unwrap() {
                    self.notifies += 1;
                }
            }
        }
        if evidx && self.q.enable_notification(mem).unwrap() {
            fail("enable_notification reported more work");
        }
    }

    fn run(&mut self, rounds: u64) {
        for _ in 0..rounds {
            self.round();
        }
        self.rounds_run += rounds;
    }

    fn driver_only(&mut self, rounds: u64) {
        for _ in 0..rounds {
            self.publish();
        }
    }

    /// Counts, notifications and used.idx over every round run, as the reference defines them.
    fn check(&self) {
        let rounds = self.rounds_run;
        let n = self.wl.n as u64;
        if self.chains != rounds * n {
            fail(&format!("chains {} != {}", self.chains, rounds * n));
        }
        if self.descriptors != rounds * n * self.wl.per_chain {
            fail(&format!("descriptors {} != {}", self.descriptors, rounds * n * self.wl.per_chain));
        }
        let want = if self.evidx { rounds } else { 0 };
        if self.notifies != want {
            fail(&format!("notifies {} != {want}", self.notifies));
        }
        let used_idx: u16 = self.mem.load(GuestAddress(USED + 2), Ordering::Acquire).unwrap();
        if used_idx as u64 != (rounds * n) % 65536 {
            fail(&format!("used.idx {used_idx} != {}", (rounds * n) % 65536));
        }
    }
}

/// The reference's walk(chain): every descriptor's addr, len and flags into the checksum, the write-only
/// lengths summed; for workload B, the 16-byte header read from the first descriptor's address.
fn walk<M>(chain: virtio_queue::DescriptorChain<M>, mem: &Mem, is_b: bool, checksum: &mut u64, descriptors: &mut u64) -> u32
where
    M: std::ops::Deref,
    M::Target: vm_memory::GuestMemory,
{
    let mut used_len = 0u32;
    let mut first = 0u64;
    let mut count = 0u64;
    for d in chain {
        let addr = d.addr().0;
        let len = d.len();
        let flags = d.flags();
        *checksum = checksum.wrapping_add(addr ^ len as u64 ^ flags as u64);
        if count == 0 {
            first = addr;
        }
        if flags & WRITE != 0 {
            used_len += len;
        }
        count += 1;
    }
    *descriptors += count;
    if is_b {
        let mut hdr = [0u8; 16];
        mem.read_slice(&mut hdr, GuestAddress(first)).unwrap();
        let kind = u32::from_le_bytes(hdr[0..4].try_into().unwrap()) as u64;
        let sector = u64::from_le_bytes(hdr[8..16].try_into().unwrap());
        *checksum = checksum.wrapping_add(kind).wrapping_add(sector);
    }
    used_len
}

fn queue(wl_name: &str, style: &str, notif: &str, t: &Timing) {
    let mem = make_memory(t.huge_pages);
    let wl = workload(wl_name);
    let n = wl.n as f64;
    // The configuration verified once on a fresh queue; 300 rounds cross the u16 index wrap for A.
    {
        let mut v = Runner::new(&mem, &wl, style, notif);
        v.run(300);
        v.check();
        black_box(v.checksum);
    }
    let mut r = Runner::new(&mem, &wl, style, notif);
    let (total, rounds) = measure(|k| r.run(k), 200, n, t);
    r.check();
    black_box(r.checksum);
    // The driver-only loop on a separate ring state, same rounds.
    let mut d = Runner::new(&mem, &wl, style, notif);
    d.driver_only((rounds >> 2).max(1));
    let mut driver = Vec::with_capacity(t.runs);
    for _ in 0..t.runs {
        let t0 = Instant::now();
        d.driver_only(rounds);
        driver.push(t0.elapsed().as_nanos() as f64 / (rounds as f64 * n));
    }
    println!("{{\"total\":{},\"driver\":{},\"rounds\":{rounds}}}", json_list(&total), json_list(&driver));
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut pos = Vec::new();
    let mut t = Timing { target_ms: 400.0, runs: 7, huge_pages: false };
    let mut i = 0;
    while i < args.len() {
        match args[i].as_str() {
            "--huge-pages" => {
                t.huge_pages = true;
                i += 1;
            }
            "--target-ms" | "--runs" => {
                let v = args.get(i + 1).and_then(|s| s.parse::<f64>().ok()).filter(|v| *v >= 1.0);
                let v = v.unwrap_or_else(|| fail(&format!("{} takes a number >= 1", args[i])));
                if args[i] == "--runs" {
                    t.runs = v as usize;
                } else {
                    t.target_ms = v;
                }
                i += 2;
            }
            a => {
                pos.push(a.to_string());
                i += 1;
            }
        }
    }
    match pos.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["memory", op, size, pattern] => {
            let size: usize = size.parse().unwrap_or_else(|_| fail(&format!("size {size}")));
            memory(op, size, pattern, &t)
        }
        ["queue", wl, style, notif] => queue(wl, style, notif, &t),
        _ => fail("usage: vmv-rust-bench memory <read|write|readU32|writeU32> <size> <random|hot> | queue <A|B> <pop|iter> <none|evidx> [--target-ms N] [--runs N] [--huge-pages]"),
    }
}
