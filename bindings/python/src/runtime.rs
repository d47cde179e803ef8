//! The tokio runtime behind the binding: built lazily, and rebuilt in a child
//! after `fork()` (gunicorn, celery, multiprocessing), whose copy of the
//! parent's runtime has no worker threads.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pyo3::prelude::*;
use tokio::runtime::Runtime;

use crate::errors::SignoffError;

static RUNTIME: Mutex<Option<(u32, Arc<Runtime>)>> = Mutex::new(None);

/// The runtime of this process.
pub fn runtime() -> PyResult<Arc<Runtime>> {
    let pid = std::process::id();
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
