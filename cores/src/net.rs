//! Listeners and connection streams. Each shard binds its own listener on the
//! same port (glommio sets SO_REUSEPORT), so the kernel spreads connections.

use futures_lite::AsyncWriteExt;
use std::io;
use std::net::SocketAddr;

/// A shard's TCP listener.
pub struct Listener {
    inner: glommio::net::TcpListener,
}

impl Listener {
    /// Binds `addr` with SO_REUSEPORT (one listener per shard on the same
    /// port) and SO_REUSEADDR (a restarted server rebinds while old
    /// connections linger in TIME_WAIT, as Redis does), then listens with
    /// `backlog`.
    pub fn bind(addr: SocketAddr, backlog: i32) -> io::Result<Listener> {
        use std::os::fd::{FromRawFd, IntoRawFd};
        let socket = socket2::Socket::new(socket2::Domain::for_address(addr), socket2::Type::STREAM, None)?;
        socket.set_reuse_address(true)?;
        socket.set_reuse_port(true)?;
        if addr.is_ipv6() {
            socket.set_only_v6(true)?;
        }
        socket.set_nonblocking(true)?;
        socket.bind(&addr.into())?;
        socket.listen(backlog)?;
        // SAFETY: the descriptor is a bound, listening TCP socket we own; the
        // glommio listener takes ownership of it.
        let inner = unsafe { glommio::net::TcpListener::from_raw_fd(socket.into_raw_fd()) };
        Ok(Listener { inner })
    }

    /// Accepts the next connection.
    pub async fn accept(&self) -> io::Result<Stream> {
        let stream = self.inner.accept().await.map_err(io::Error::from)?;
        stream.set_nodelay(true).map_err(io::Error::from)?;
        Stream::watched(stream)
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr().map_err(io::Error::from)
    }
}

/// A connection. Reads are plain non-blocking `recv` calls woken by the
/// shard's epoll poller (`readiness`); writes go through glommio.
pub struct Stream {
    inner: glommio::net::TcpStream,
    poller: std::rc::Rc<crate::readiness::Poller>,
    /// Reads in a row that found data at once: a client that floods the
    /// socket never makes a read wait, so the task yields now and then to
    /// let the shard's other connections and tasks run.
    ready_streak: u32,
    /// The last read left the socket empty (it returned less than asked):
    /// anything that arrives later reports an edge, so the next read waits
    /// for readiness first instead of trying a `recv` that would only say
    /// EAGAIN (one system call per request saved at pipeline 1).
    drained: bool,
}

/// Reads that may find data at once before the reading task yields.
const READY_STREAK_MAX: u32 = 8;

impl Drop for Stream {
    fn drop(&mut self) {
        use std::os::fd::AsRawFd;
        self.poller.deregister(self.inner.as_raw_fd());
    }
}

impl Stream {
    fn watched(inner: glommio::net::TcpStream) -> io::Result<Stream> {
        use std::os::fd::AsRawFd;
        let poller = crate::readiness::poller()?;
        poller.register(inner.as_raw_fd())?;
        Ok(Stream {
            inner,
            poller,
            ready_streak: 0,
            drained: false,
        })
    }

    /// Connects to `addr` (host:port), giving up after `timeout`.
    pub async fn connect(addr: &str, timeout: std::time::Duration) -> io::Result<Stream> {
        use std::net::ToSocketAddrs;
        let target = addr
            .to_socket_addrs()?
            .next()
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no address"))?;
        let inner = glommio::net::TcpStream::connect_timeout(target, timeout)
            .await
            .map_err(io::Error::from)?;
        let _ = inner.set_nodelay(true);
        Stream::watched(inner)
    }

    /// Reads what is available into `buf`; 0 means the peer closed.
    pub async fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        use std::os::fd::AsRawFd;
        let fd = self.inner.as_raw_fd();
        let poller = self.poller.clone();
        let mut waited = false;
        let mut skip_try = self.drained;
        let result = std::future::poll_fn(|cx| {
            if skip_try {
                skip_try = false;
                if !poller.take_unclaimed(fd) {
                    waited = true;
                    poller.wait_readable(fd, cx.waker());
                    return std::task::Poll::Pending;
                }
            }
            // SAFETY: `fd` is this stream's open socket and `buf` is valid
            // for `buf.len()` bytes; MSG_DONTWAIT never blocks.
            let n = unsafe { libc::recv(fd, buf.as_mut_ptr() as *mut libc::c_void, buf.len(), libc::MSG_DONTWAIT) };
            if n >= 0 {
                return std::task::Poll::Ready(Ok(n as usize));
            }
            let error = io::Error::last_os_error();
            match error.kind() {
                io::ErrorKind::WouldBlock => {
                    waited = true;
                    poller.wait_readable(fd, cx.waker());
                    std::task::Poll::Pending
                }
                io::ErrorKind::Interrupted => {
                    cx.waker().wake_by_ref();
                    std::task::Poll::Pending
                }
                _ => std::task::Poll::Ready(Err(error)),
            }
        })
        .await;
        self.drained = matches!(result, Ok(n) if n > 0 && n < buf.len());
        if waited {
            self.ready_streak = 0;
        } else {
            self.ready_streak += 1;
            if self.ready_streak >= READY_STREAK_MAX {
                self.ready_streak = 0;
                crate::yield_now().await;
            }
        }
        result
    }

    /// Writes all of `buf`.
    pub async fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.inner.write_all(buf).await
    }

    /// Writes what the socket takes now without waiting; returns the count.
    pub fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        use std::os::fd::AsRawFd;
        // SAFETY: the descriptor is this stream's open socket and `buf` is a
        // valid slice for `buf.len()` bytes; MSG_DONTWAIT keeps it
        // non-blocking whatever the descriptor's mode.
        let sent = unsafe {
            libc::send(
                self.inner.as_raw_fd(),
                buf.as_ptr() as *const libc::c_void,
                buf.len(),
                libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
            )
        };
        if sent < 0 {
            let error = io::Error::last_os_error();
            if error.kind() == io::ErrorKind::WouldBlock {
                return Ok(0);
            }
            return Err(error);
        }
        Ok(sent as usize)
    }

    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.inner.peer_addr().map_err(io::Error::from)
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr().map_err(io::Error::from)
    }

    /// Shuts the socket down in both directions (CLIENT KILL from any task).
    pub fn raw_fd(&self) -> i32 {
        use std::os::fd::AsRawFd;
        self.inner.as_raw_fd()
    }
}

/// Waits until the connection socket `fd` of this shard (watched since its
/// `Stream` was made) has news: data, or the peer hanging up. For a task
/// that holds the connection but is not reading it (a blocked command
/// watching for its client going away). May wake spuriously.
pub async fn readable(fd: i32) {
    let Ok(poller) = crate::readiness::poller() else {
        return std::future::pending().await;
    };
    let mut armed = false;
    std::future::poll_fn(|cx| {
        if armed {
            return std::task::Poll::Ready(());
        }
        armed = true;
        poller.wait_readable(fd, cx.waker());
        std::task::Poll::Pending
    })
    .await
}
