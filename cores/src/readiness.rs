//! Read readiness for connection sockets through one epoll instance per
//! shard, instead of an io_uring poll armed per read. Under load the
//! shard's poller task collects ready sockets with a non-blocking
//! `epoll_wait` between other tasks (Redis's event-loop shape: one recv and
//! one send per request, no per-request poll arming, no inter-processor
//! interrupt per incoming packet). When nothing is ready it arms a helper
//! thread that blocks in `epoll_wait` and wakes the shard through a socket
//! pair glommio watches.

use std::cell::RefCell;
use std::collections::HashMap;
use std::io;
use std::os::fd::{FromRawFd, RawFd};
use std::rc::Rc;
use std::sync::{Arc, Condvar, Mutex};
use std::task::Waker;

/// Events taken per `epoll_wait`.
const EVENTS_MAX: usize = 256;

/// What the shard and its helper thread share.
#[derive(Default)]
struct Handoff {
    /// The shard is idle and wants the helper to wait for readiness.
    armed: bool,
    /// Ready descriptors the helper collected, for the shard to wake.
    ready: Vec<RawFd>,
}

struct Shared {
    handoff: Mutex<Handoff>,
    wake: Condvar,
}

pub(crate) struct Poller {
    epfd: RawFd,
    waiters: RefCell<HashMap<RawFd, Waker>>,
    /// Descriptors that reported readiness while nobody waited on them: the
    /// next wait returns at once (an edge is never lost).
    unclaimed: RefCell<std::collections::HashSet<RawFd>>,
    shared: Arc<Shared>,
}

thread_local! {
    static POLLER: RefCell<Option<Rc<Poller>>> = const { RefCell::new(None) };
}

fn last_error() -> io::Error {
    io::Error::last_os_error()
}

/// This shard's poller, started on first use (on the shard's thread).
pub(crate) fn poller() -> io::Result<Rc<Poller>> {
    if let Some(p) = POLLER.with(|p| p.borrow().clone()) {
        return Ok(p);
    }
    // SAFETY: plain system calls creating descriptors this module owns; the
    // results are checked.
    let epfd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
    if epfd < 0 {
        return Err(last_error());
    }
    let mut pair = [0 as libc::c_int; 2];
    // SAFETY: `pair` has room for the two descriptors socketpair writes.
    let made = unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            0,
            pair.as_mut_ptr(),
        )
    };
    if made < 0 {
        return Err(last_error());
    }
    let shared = Arc::new(Shared {
        handoff: Mutex::new(Handoff::default()),
        wake: Condvar::new(),
    });
    let poller = Rc::new(Poller {
        epfd,
        waiters: RefCell::new(HashMap::new()),
        unclaimed: RefCell::new(std::collections::HashSet::new()),
        shared: shared.clone(),
    });
    let (shard_end, helper_end) = (pair[0], pair[1]);
    std::thread::Builder::new()
        .name("tessera-epoll".into())
        .spawn(move || helper(epfd, helper_end, shared))?;
    // SAFETY: `shard_end` is a connected, non-blocking unix socket owned
    // from here on by the glommio stream.
    let waker = unsafe { glommio::net::UnixStream::from_raw_fd(shard_end) };
    crate::spawn(run(poller.clone(), waker));
    POLLER.with(|p| *p.borrow_mut() = Some(poller.clone()));
    Ok(poller)
}

/// The helper thread: when armed, blocks until some socket is ready, hands
/// the ready ones over and pokes the shard.
fn helper(epfd: RawFd, poke: RawFd, shared: Arc<Shared>) {
    let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; EVENTS_MAX];
    loop {
        {
            let mut handoff = shared.handoff.lock().expect("handoff lock");
            while !handoff.armed {
                handoff = shared.wake.wait(handoff).expect("handoff lock");
            }
        }
        // SAFETY: `events` has EVENTS_MAX slots.
        let n = unsafe { libc::epoll_wait(epfd, events.as_mut_ptr(), EVENTS_MAX as i32, -1) };
        if n < 0 {
            continue;
        }
        let mut handoff = shared.handoff.lock().expect("handoff lock");
        handoff
            .ready
            .extend(events[..n as usize].iter().map(|e| e.u64 as RawFd));
        handoff.armed = false;
        drop(handoff);
        // SAFETY: one byte from a valid buffer to our socket; a full socket
        // (EAGAIN) already holds a pending poke.
        unsafe { libc::send(poke, [1u8].as_ptr() as *const libc::c_void, 1, libc::MSG_DONTWAIT) };
    }
}

/// The shard's poller task: wakes the connections whose sockets are ready.
async fn run(poller: Rc<Poller>, mut poke: glommio::net::UnixStream) {
    use futures_lite::AsyncReadExt;
    let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; EVENTS_MAX];
    let mut scratch = [0u8; 64];
    loop {
        let mut woke = 0;
        let handed: Vec<RawFd> = std::mem::take(&mut poller.shared.handoff.lock().expect("handoff lock").ready);
        for fd in handed {
            woke += poller.wake(fd);
        }
        // SAFETY: `events` has EVENTS_MAX slots; timeout 0 never blocks.
        let n = unsafe { libc::epoll_wait(poller.epfd, events.as_mut_ptr(), EVENTS_MAX as i32, 0) };
        for event in events.iter().take(n.max(0) as usize) {
            woke += poller.wake(event.u64 as RawFd);
        }
        if woke > 0 || n > 0 {
            crate::yield_now().await;
            continue;
        }
        // Idle: let the helper wait for the next ready socket.
        {
            let mut handoff = poller.shared.handoff.lock().expect("handoff lock");
            if !handoff.ready.is_empty() {
                continue;
            }
            handoff.armed = true;
        }
        poller.shared.wake.notify_one();
        if poke.read(&mut scratch).await.is_err() {
            return;
        }
    }
}

impl Poller {
    fn wake(&self, fd: RawFd) -> usize {
        match self.waiters.borrow_mut().remove(&fd) {
            Some(waker) => {
                waker.wake();
                1
            }
            None => {
                self.unclaimed.borrow_mut().insert(fd);
                0
            }
        }
    }

    /// Whether `fd` reported readiness since it was last waited on (and
    /// forgets it).
    pub(crate) fn take_unclaimed(&self, fd: RawFd) -> bool {
        self.unclaimed.borrow_mut().remove(&fd)
    }

    /// Watches `fd` for incoming data (edge-triggered).
    pub(crate) fn register(&self, fd: RawFd) -> io::Result<()> {
        self.unclaimed.borrow_mut().remove(&fd);
        let mut event = libc::epoll_event {
            events: (libc::EPOLLIN | libc::EPOLLRDHUP | libc::EPOLLET) as u32,
            u64: fd as u64,
        };
        // SAFETY: `fd` is an open socket; `event` is a valid epoll_event.
        if unsafe { libc::epoll_ctl(self.epfd, libc::EPOLL_CTL_ADD, fd, &mut event) } < 0 {
            return Err(last_error());
        }
        Ok(())
    }

    /// Stops watching `fd` (before it is closed).
    pub(crate) fn deregister(&self, fd: RawFd) {
        self.waiters.borrow_mut().remove(&fd);
        self.unclaimed.borrow_mut().remove(&fd);
        // SAFETY: removing a descriptor this poller added; errors (already
        // gone) do not matter.
        unsafe { libc::epoll_ctl(self.epfd, libc::EPOLL_CTL_DEL, fd, std::ptr::null_mut()) };
    }

    /// Wakes `waker` the next time `fd` has data.
    pub(crate) fn wait_readable(&self, fd: RawFd, waker: &Waker) {
        self.waiters.borrow_mut().insert(fd, waker.clone());
    }
}
