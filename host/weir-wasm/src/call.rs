//! Driving one guest call to its end, its deadline or an interruption.
//!
//! Guest code runs inside `call_async` futures on a small current-thread
//! tokio runtime owned by the instance. A guest that computes is stopped
//! by the epoch callback (see `instance.rs`); a guest that waits in a WASI
//! call (a sleep, `poll`, a read of a granted file) leaves its future
//! pending, and this driver drops it when the deadline passes or the job
//! stops. Dropping the future abandons the guest's stack: the store is
//! unusable afterwards, as after a trap.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::Poll;
use std::time::{Duration, Instant};

/// How often a waiting call looks at the interrupt flag.
const WATCH: Duration = Duration::from_millis(20);

/// How a call ended.
pub(crate) enum Ended<T> {
    /// The guest returned (or trapped): the call's own result.
    Returned(T),
    /// The deadline passed while the guest waited in the host.
    TimedOut,
    /// The job stopped while the guest waited in the host.
    Interrupted,
}

/// Runs `call` until it finishes, `deadline` passes or `interrupt` is set.
fn drive<F: Future>(
    rt: &tokio::runtime::Runtime,
    call: F,
    deadline: Instant,
    interrupt: Option<&AtomicBool>,
) -> Ended<F::Output> {
    rt.block_on(async move {
        let mut call = std::pin::pin!(call);
        // Most calls never wait: finish them without arming a timer.
        if let Poll::Ready(r) = std::future::poll_fn(|cx| Poll::Ready(call.as_mut().poll(cx))).await
        {
            return Ended::Returned(r);
        }
        let watch = async {
            loop {
                if interrupt.is_some_and(|f| f.load(Ordering::Relaxed)) {
                    return Ended::Interrupted;
                }
                let now = Instant::now();
                if now >= deadline {
                    return Ended::TimedOut;
                }
                tokio::time::sleep((deadline - now).min(WATCH)).await;
            }
        };
        tokio::select! {
            biased;
            r = &mut call => Ended::Returned(r),
            ended = watch => ended,
        }
    })
}

/// A runtime for one instance's calls: timers for deadlines and WASI
/// sleeps, a blocking pool for WASI file operations.
pub(crate) struct CallRuntime(Option<tokio::runtime::Runtime>);

impl CallRuntime {
    pub(crate) fn new() -> std::io::Result<Self> {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .map(|rt| CallRuntime(Some(rt)))
    }

    /// Runs `call` until it finishes, `deadline` passes or `interrupt` is
    /// set.
    pub(crate) fn drive<F: Future>(
        &self,
        call: F,
        deadline: Instant,
        interrupt: Option<&AtomicBool>,
    ) -> Ended<F::Output> {
        match &self.0 {
            Some(rt) => drive(rt, call, deadline, interrupt),
            None => Ended::Interrupted,
        }
    }
}

impl Drop for CallRuntime {
    /// A file operation abandoned at a deadline may still block a thread
    /// of the pool (a read of a FIFO nobody writes): do not wait for it.
    fn drop(&mut self) {
        if let Some(rt) = self.0.take() {
            rt.shutdown_background();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_waiting_call_ends_at_its_deadline_or_interrupt() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("runtime");
        let forever = std::future::pending::<()>();
        let t = Instant::now();
        let r = drive(&rt, forever, t + Duration::from_millis(100), None);
        assert!(matches!(r, Ended::TimedOut));
        assert!(t.elapsed() >= Duration::from_millis(100));
        assert!(t.elapsed() < Duration::from_secs(2));

        let flag = AtomicBool::new(true);
        let r = drive(
            &rt,
            std::future::pending::<()>(),
            Instant::now() + Duration::from_secs(60),
            Some(&flag),
        );
        assert!(matches!(r, Ended::Interrupted));

        let r = drive(&rt, async { 7 }, Instant::now(), None);
        assert!(matches!(r, Ended::Returned(7)), "a ready call returns");
        let slept = drive(
            &rt,
            async {
                tokio::time::sleep(Duration::from_millis(10)).await;
                8
            },
            Instant::now() + Duration::from_secs(5),
            None,
        );
        assert!(matches!(slept, Ended::Returned(8)));
    }
}
