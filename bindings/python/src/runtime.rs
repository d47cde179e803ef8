//! The tokio runtime behind the binding: built lazily, and rebuilt in a child
//! after `fork()` (gunicorn, celery, multiprocessing), whose copy of the
//! parent's runtime has no worker threads.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pyo3::prelude::*;
use tokio::runtime::Runtime;

use crate::errors::SignoffError;

static RUNTIME: Mutex<Option<(u64, Arc<Runtime>)>> = Mutex::new(None);

/// Bumped in a child process by the `os.register_at_fork` hook.
static FORK_GENERATION: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
/// Whether that hook is registered; without it `process_epoch` asks for the pid.
static FORK_HOOKED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Which process this is, as far as rebuilding after `fork()` goes: the
/// fork generation when the at-fork hook is in place (no system call on
/// the decision path), else the pid.
pub fn process_epoch() -> u64 {
    use std::sync::atomic::Ordering;
    if FORK_HOOKED.load(Ordering::Acquire) {
        FORK_GENERATION.load(Ordering::Acquire)
    } else {
        (1 << 63) | u64::from(std::process::id())
    }
}

/// Called by Python in a forked child (`os.register_at_fork`).
#[pyfunction]
pub fn _after_fork_in_child() {
    FORK_GENERATION.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
}

/// Registers the at-fork hook; where Python has none, the pid is used.
pub fn register_fork_hook(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let hook = wrap_pyfunction!(_after_fork_in_child, m)?;
    let os = m.py().import("os")?;
    if os.hasattr("register_at_fork")? {
        let kwargs = pyo3::types::PyDict::new(m.py());
        kwargs.set_item("after_in_child", hook)?;
        os.call_method("register_at_fork", (), Some(&kwargs))?;
        FORK_HOOKED.store(true, std::sync::atomic::Ordering::Release);
    }
    Ok(())
}

/// The runtime of this process.
pub fn runtime() -> PyResult<Arc<Runtime>> {
    let pid = process_epoch();
    let mut slot = RUNTIME
        .lock()
        .map_err(|_| SignoffError::new_err("runtime lock poisoned"))?;
    if let Some((owner, rt)) = slot.as_ref()
        && *owner == pid
    {
        return Ok(Arc::clone(rt));
    }
    if let Some((_, inherited)) = slot.take() {
        // the parent's threads do not exist here: never join them
        std::mem::forget(inherited);
    }
    let rt = Arc::new(
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("signoff")
            .enable_all()
            .build()
            .map_err(|e| SignoffError::new_err(format!("cannot start the runtime: {e}")))?,
    );
    *slot = Some((pid, Arc::clone(&rt)));
    Ok(rt)
}

/// Runs `future` to completion on the calling thread, inside the runtime's
/// context. The decision path (evaluate, an os-buffered record, a permit, a
/// completion) usually finishes in the first poll, with no hand-off to
/// another thread. Only a real wait (for reviewers, a disk flush, a
/// database) goes on with the GIL released, woken directly by whoever
/// makes progress, checking for signals (Ctrl-C) every 100 ms; an
/// interrupt drops the future, which cancels what it waited for.
pub fn block_on<F, T>(py: Python<'_>, future: F) -> PyResult<T>
where
    F: Future<Output = T> + Send,
    T: Send,
{
    let rt = runtime()?;
    let _context = rt.enter();
    let mut future = std::pin::pin!(future);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    if let std::task::Poll::Ready(value) = future.as_mut().poll(&mut cx) {
        return Ok(value);
    }
    loop {
        let done = py.detach(|| {
            rt.block_on(async {
                tokio::time::timeout(Duration::from_millis(100), future.as_mut()).await
            })
        });
        match done {
            Ok(value) => return Ok(value),
            Err(_) => py.check_signals()?,
        }
    }
}
