//! The disk seam: an append-and-sync file as the write-ahead log needs it,
//! with plain pwrite on the shard's thread and fdatasync on a helper thread
//! in production, and an in-memory file with injected faults for seeded
//! simulation.
//!
//! Why a helper thread for the sync: fdatasync waits for the device (about
//! 0.15-0.2 ms here) and the shard must keep serving meanwhile, so that the
//! commands arriving during one group's sync form the next group (group
//! commit, pipelined). A write to the page cache takes microseconds and
//! stays on the shard's thread. io_uring's fsync goes through kernel worker
//! threads too, but measured slower than this (55k against 61k SETs/s at
//! 50 clients under appendfsync always with the sync blocking the shard).

use crate::signal::{Raiser, Signal};
use std::cell::{Cell, RefCell};
use std::future::Future;
use std::io;
use std::rc::Rc;
use std::sync::{Arc, Condvar, Mutex};

/// A file the WAL writes at explicit offsets and syncs.
pub trait Disk {
    /// Writes all of `buf` at `pos`.
    fn write_at(&self, buf: Vec<u8>, pos: u64) -> impl Future<Output = io::Result<()>>;
    /// Makes everything written so far durable (fdatasync).
    fn sync(&self) -> impl Future<Output = io::Result<()>>;
    /// Allocates the file's blocks up to `len` bytes (zeros where nothing
    /// was written), so that later writes below `len` leave the file's
    /// size alone and a sync need not record a new size.
    fn reserve(&self, len: u64) -> io::Result<()>;
}

/// A file on the real disk: pwrite on the executor's thread, fdatasync on
/// the thread's sync helper.
pub struct SyncFile {
    file: Arc<std::fs::File>,
}

impl SyncFile {
    /// Opens `path` for writing, creating it if needed (never truncating).
    pub fn open(path: &std::path::Path) -> io::Result<SyncFile> {
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)?;
        Ok(SyncFile { file: Arc::new(file) })
    }
}

impl Disk for SyncFile {
    async fn write_at(&self, buf: Vec<u8>, pos: u64) -> io::Result<()> {
        use std::os::unix::fs::FileExt;
        self.file.write_all_at(&buf, pos)
    }

    async fn sync(&self) -> io::Result<()> {
        let helper = SyncHelper::of_this_thread()?;
        helper.sync(self.file.clone()).await
    }

    fn reserve(&self, len: u64) -> io::Result<()> {
        use std::os::fd::AsRawFd;
        // SAFETY: plain system call on a descriptor this value owns.
        let done = unsafe { libc::fallocate(self.file.as_raw_fd(), 0, 0, len as libc::off_t) };
        if done != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}

/// The job slot shared by an executor thread and its sync helper.
#[derive(Default)]
struct SyncSlot {
    job: Option<Arc<std::fs::File>>,
    done: Option<io::Result<()>>,
}

struct SyncShared {
    slot: Mutex<SyncSlot>,
    wake: Condvar,
}

/// One executor thread's fdatasync helper: a thread that syncs the file it
/// is handed and raises the executor's `Signal` when done. One sync at a
/// time per executor (the WAL's commit task is its only user).
struct SyncHelper {
    shared: Arc<SyncShared>,
    signal: Signal,
    busy: Cell<bool>,
}

thread_local! {
    static SYNC_HELPER: RefCell<Option<Rc<SyncHelper>>> = const { RefCell::new(None) };
}

impl SyncHelper {
    fn of_this_thread() -> io::Result<Rc<SyncHelper>> {
        if let Some(helper) = SYNC_HELPER.with(|h| h.borrow().clone()) {
            return Ok(helper);
        }
        let (signal, raiser) = Signal::new()?;
        let shared = Arc::new(SyncShared {
            slot: Mutex::new(SyncSlot::default()),
            wake: Condvar::new(),
        });
        let worker = shared.clone();
        // The helper inherits this thread's CPU affinity: it mostly waits
        // for the device, and its system-call time is the shard's own cost.
        std::thread::Builder::new()
            .name("wal-sync".into())
            .spawn(move || sync_worker(worker, raiser))?;
        let helper = Rc::new(SyncHelper {
            shared,
            signal,
            busy: Cell::new(false),
        });
        SYNC_HELPER.with(|h| *h.borrow_mut() = Some(helper.clone()));
        Ok(helper)
    }

    async fn sync(&self, file: Arc<std::fs::File>) -> io::Result<()> {
        assert!(!self.busy.replace(true), "one sync at a time per executor");
        {
            let mut slot = self.shared.slot.lock().expect("sync slot");
            assert!(slot.job.is_none() && slot.done.is_none());
            slot.job = Some(file);
        }
        self.shared.wake.notify_one();
        loop {
            if let Some(result) = self.shared.slot.lock().expect("sync slot").done.take() {
                self.busy.set(false);
                return result;
            }
            self.signal.wait().await;
        }
    }
}

/// The helper thread: runs for the life of the process (one per executor
/// that ever synced a WAL file).
fn sync_worker(shared: Arc<SyncShared>, raiser: Raiser) {
    loop {
        let file = {
            let mut slot = shared.slot.lock().expect("sync slot");
            loop {
                if let Some(file) = slot.job.take() {
                    break file;
                }
                slot = shared.wake.wait(slot).expect("sync slot");
            }
        };
        let result = file.sync_data();
        drop(file);
        shared.slot.lock().expect("sync slot").done = Some(result);
        raiser.raise();
    }
}

/// What a simulated file holds: bytes written, and what of them a crash
/// cannot lose.
#[derive(Default, Debug)]
pub struct MemFileState {
    pub written: Vec<u8>,
    pub durable: Vec<u8>,
    /// The next write fails (after storing a torn prefix of this many bytes).
    pub fail_next_write: Option<usize>,
    /// The next sync fails.
    pub fail_next_sync: bool,
}

impl MemFileState {
    /// A crash: what survives is the durable image, plus (for a torn write
    /// the OS had partly flushed) `extra` more bytes of what was written.
    pub fn crash(&mut self, extra: usize) {
        let mut image = self.durable.clone();
        if image.len() < self.written.len() {
            image.resize(self.written.len(), 0);
        }
        // The OS may have flushed part of what was written after the last
        // sync: a prefix from the first byte that differs.
        if let Some(start) = (0..self.written.len()).find(|&i| self.written[i] != image[i]) {
            let end = (start + extra).min(self.written.len());
            image[start..end].copy_from_slice(&self.written[start..end]);
        }
        self.written = image.clone();
        self.durable = image;
    }
}

/// An in-memory file with injectable faults, shared with the test driving it.
#[derive(Clone, Default)]
pub struct MemFile {
    pub state: Rc<RefCell<MemFileState>>,
}

impl Disk for MemFile {
    async fn write_at(&self, buf: Vec<u8>, pos: u64) -> io::Result<()> {
        let mut state = self.state.borrow_mut();
        let pos = pos as usize;
        let (buf, fail) = match state.fail_next_write.take() {
            Some(torn) => (&buf[..torn.min(buf.len())], true),
            None => (&buf[..], false),
        };
        if state.written.len() < pos + buf.len() {
            state.written.resize(pos + buf.len(), 0);
        }
        state.written[pos..pos + buf.len()].copy_from_slice(buf);
        if fail {
            return Err(io::Error::other("injected write failure"));
        }
        Ok(())
    }

    async fn sync(&self) -> io::Result<()> {
        let mut state = self.state.borrow_mut();
        if std::mem::take(&mut state.fail_next_sync) {
            return Err(io::Error::other("injected fsync failure"));
        }
        state.durable = state.written.clone();
        Ok(())
    }

    fn reserve(&self, len: u64) -> io::Result<()> {
        let mut state = self.state.borrow_mut();
        let len = len as usize;
        if state.written.len() < len {
            state.written.resize(len, 0);
        }
        if state.durable.len() < len {
            state.durable.resize(len, 0);
        }
        Ok(())
    }
}
