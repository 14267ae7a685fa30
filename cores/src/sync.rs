//! Single-executor synchronisation primitives: a one-shot slot and a notifier.
//!
//! Everything here lives on one executor (`Rc`, `RefCell`), so no atomics are
//! needed; cross-executor traffic goes through the mesh in `dispatch.rs`.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

struct OneshotInner<T> {
    value: Option<T>,
    waker: Option<Waker>,
    closed: bool,
}

/// The sending half of a local one-shot slot.
pub struct OneshotSender<T> {
    inner: Rc<RefCell<OneshotInner<T>>>,
}

/// The receiving half: a future that resolves to the value, or `None` when
/// the sender was dropped without sending.
pub struct OneshotReceiver<T> {
    inner: Rc<RefCell<OneshotInner<T>>>,
}

/// Creates a connected one-shot pair for use on one executor.
pub fn oneshot<T>() -> (OneshotSender<T>, OneshotReceiver<T>) {
    let inner = Rc::new(RefCell::new(OneshotInner {
        value: None,
        waker: None,
        closed: false,
    }));
    (OneshotSender { inner: inner.clone() }, OneshotReceiver { inner })
}

impl<T> OneshotSender<T> {
    /// Stores the value and wakes the receiver.
    pub fn send(self, value: T) {
        let waker = {
            let mut inner = self.inner.borrow_mut();
            inner.value = Some(value);
            inner.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

impl<T> Drop for OneshotSender<T> {
    fn drop(&mut self) {
        let waker = {
            let mut inner = self.inner.borrow_mut();
            inner.closed = true;
            inner.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

impl<T> Future for OneshotReceiver<T> {
    type Output = Option<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let mut inner = self.inner.borrow_mut();
        if let Some(value) = inner.value.take() {
            return Poll::Ready(Some(value));
        }
        if inner.closed {
            return Poll::Ready(None);
        }
        inner.waker = Some(cx.waker().clone());
        Poll::Pending
    }
}

/// Wakes every task waiting on it when notified (an edge, not a level: a
/// waiter re-checks its condition after waking).
#[derive(Default)]
pub struct Notify {
    generation: std::cell::Cell<u64>,
    wakers: RefCell<Vec<Waker>>,
}

impl Notify {
    /// Wakes all current waiters.
    pub fn notify_all(&self) {
        self.generation.set(self.generation.get() + 1);
        let wakers = std::mem::take(&mut *self.wakers.borrow_mut());
        for waker in wakers {
            waker.wake();
        }
    }

    /// A future that completes at the next `notify_all` after this call.
    pub fn notified(&self) -> Notified<'_> {
        Notified {
            notify: self,
            generation: self.generation.get(),
        }
    }
}

/// Future returned by [`Notify::notified`].
pub struct Notified<'a> {
    notify: &'a Notify,
    generation: u64,
}

impl Future for Notified<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.notify.generation.get() != self.generation {
            return Poll::Ready(());
        }
        // One waker per task: a task that polls a fresh `notified()` on
        // every turn of a loop (racing it against a timer) must not pile up
        // clones of its waker until the next notify (glommio counts waker
        // references in an i16).
        let mut wakers = self.notify.wakers.borrow_mut();
        if !wakers.iter().any(|w| w.will_wake(cx.waker())) {
            wakers.push(cx.waker().clone());
        }
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oneshot_delivers_value_and_close() {
        glommio::LocalExecutor::default().run(async {
            let (tx, rx) = oneshot::<u32>();
            tx.send(7);
            assert_eq!(rx.await, Some(7));
            let (tx, rx) = oneshot::<u32>();
            drop(tx);
            assert_eq!(rx.await, None);
        });
    }

    #[test]
    fn notify_wakes_waiters_registered_before() {
        glommio::LocalExecutor::default().run(async {
            let notify = Rc::new(Notify::default());
            let n2 = notify.clone();
            let task = glommio::spawn_local(async move {
                n2.notified().await;
                5
            });
            glommio::yield_if_needed().await;
            glommio::executor().yield_now().await;
            notify.notify_all();
            assert_eq!(task.await, 5);
        });
    }

    #[test]
    fn repeated_polls_keep_one_waker_per_task() {
        struct Counter;
        impl std::task::Wake for Counter {
            fn wake(self: std::sync::Arc<Self>) {}
        }
        let notify = Notify::default();
        let waker = Waker::from(std::sync::Arc::new(Counter));
        let mut cx = Context::from_waker(&waker);
        for _ in 0..40_000 {
            let mut notified = std::pin::pin!(notify.notified());
            assert!(notified.as_mut().poll(&mut cx).is_pending());
        }
        assert_eq!(notify.wakers.borrow().len(), 1);
        notify.notify_all();
        assert!(notify.wakers.borrow().is_empty());
    }
}
