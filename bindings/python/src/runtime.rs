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

/// Runs `future` to completion on the runtime with the GIL released,
/// checking for signals (Ctrl-C) every 100 ms; an interrupt cancels it.
pub fn block_on<F, T>(py: Python<'_>, future: F) -> PyResult<T>
where
    F: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let rt = runtime()?;
    let mut task = rt.spawn(future);
    loop {
        let done = py.detach(|| {
            rt.block_on(async { tokio::time::timeout(Duration::from_millis(100), &mut task).await })
        });
        match done {
            Ok(Ok(value)) => return Ok(value),
            Ok(Err(e)) => return Err(SignoffError::new_err(format!("signoff task failed: {e}"))),
            Err(_) => {
                if let Err(interrupt) = py.check_signals() {
                    task.abort();
                    return Err(interrupt);
                }
            }
        }
    }
}
