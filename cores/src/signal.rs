//! A wake-up another thread can raise: an eventfd watched by the shard's
//! epoll poller. One task on the shard waits on the `Signal`; any thread
//! holding a `Raiser` wakes it. Raising is a flag swap, plus one `write` only
//! when no raise is outstanding, so a busy producer costs one system call
//! per wake-up of the waiter, not one per event.

use std::io;
use std::os::fd::RawFd;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

struct EventFd {
    fd: RawFd,
    /// A raise was written and the waiter has not consumed it yet.
    pending: AtomicBool,
}

impl Drop for EventFd {
    fn drop(&mut self) {
        // SAFETY: the descriptor is owned by this value and closed once.
        unsafe { libc::close(self.fd) };
    }
}

/// The waiting side; lives on one shard.
pub struct Signal {
    inner: Arc<EventFd>,
    poller: Rc<crate::readiness::Poller>,
}

/// The raising side; Send + Sync, cheap to clone.
#[derive(Clone)]
pub struct Raiser {
    inner: Arc<EventFd>,
}

impl Signal {
    /// A new signal watched by this shard's poller.
    pub fn new() -> io::Result<(Signal, Raiser)> {
        // SAFETY: plain system call; the result is checked.
        let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        let inner = Arc::new(EventFd {
            fd,
            pending: AtomicBool::new(false),
        });
        let poller = crate::readiness::poller()?;
        poller.register(fd)?;
        Ok((
            Signal {
                inner: inner.clone(),
                poller,
            },
            Raiser { inner },
        ))
    }

    /// Waits until raised (returns at once if raised since the last wait).
    pub async fn wait(&self) {
        let fd = self.inner.fd;
        let poller = self.poller.clone();
        let pending = &self.inner.pending;
        std::future::poll_fn(|cx| {
            let mut count = 0u64;
            // SAFETY: reading 8 bytes into a u64 from our non-blocking eventfd.
            let n = unsafe { libc::read(fd, &mut count as *mut u64 as *mut libc::c_void, 8) };
            if n == 8 {
                // Cleared after the read: a raise from now on writes again.
                pending.store(false, Ordering::SeqCst);
                return std::task::Poll::Ready(());
            }
            poller.wait_readable(fd, cx.waker());
            std::task::Poll::Pending
        })
        .await
    }
}

impl Drop for Signal {
    fn drop(&mut self) {
        self.poller.deregister(self.inner.fd);
    }
}

impl Raiser {
    /// Wakes the waiter: its current or next `wait` returns.
    pub fn raise(&self) {
        if !self.inner.pending.swap(true, Ordering::SeqCst) {
            let one = 1u64;
            // SAFETY: writing 8 bytes to our eventfd; a full counter (EAGAIN)
            // already means "raised".
            unsafe { libc::write(self.inner.fd, &one as *const u64 as *const libc::c_void, 8) };
        }
    }
}
