//! The native module `signoff._signoff`: conversion and error mapping over
//! the Rust core; no logic of its own. The Python package `signoff` wraps it.

mod convert;
mod errors;
mod gate;
mod policy;
mod runtime;

use pyo3::prelude::*;

#[pymodule]
fn _signoff(m: &Bound<'_, PyModule>) -> PyResult<()> {
    errors::register(m)?;
    m.add_class::<policy::PyPolicy>()?;
    m.add_class::<policy::PyEvaluation>()?;
    m.add_class::<policy::PyTestReport>()?;
    m.add_function(wrap_pyfunction!(policy::_check_json, m)?)?;
    gate::register(m)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    runtime::register_fork_hook(m)?;
    Ok(())
}
