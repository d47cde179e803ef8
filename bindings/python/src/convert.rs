//! Python values ↔ JSON, exactly: dict/list/tuple/None/bool/int/float/str.
//! Anything else is a `TypeError` naming the field path.

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};
use serde_json::{Map, Number, Value};

/// Deepest nesting accepted (the core's limit).
const MAX_DEPTH: usize = signoff::canonical::MAX_DEPTH;

/// Converts `obj` to JSON; `path` names it in errors (`args`, `context`).
pub fn to_json(obj: &Bound<'_, PyAny>, path: &str) -> PyResult<Value> {
    convert(obj, &Path::Root(path), 0)
}

/// Where a value sits, rendered (`args.a[0]`) only for an error message.
enum Path<'a> {
    Root(&'a str),
    Key(&'a Path<'a>, &'a str),
    Index(&'a Path<'a>, usize),
}

impl std::fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Path::Root(r) => f.write_str(r),
            Path::Key(p, k) => write!(f, "{p}.{k}"),
            Path::Index(p, i) => write!(f, "{p}[{i}]"),
        }
    }
}

fn convert(obj: &Bound<'_, PyAny>, path: &Path<'_>, depth: usize) -> PyResult<Value> {
    if depth > MAX_DEPTH {
        return Err(PyValueError::new_err(format!(
            "`{path}` nests deeper than {MAX_DEPTH} levels"
        )));
    }
    if obj.is_none() {
        return Ok(Value::Null);
    }
    if let Ok(s) = obj.cast::<PyString>() {
        return Ok(Value::String(cached_str(s)?));
    }
    if let Ok(b) = obj.cast::<PyBool>() {
        return Ok(Value::Bool(b.is_true()));
    }
    if obj.is_instance_of::<PyInt>() {
        if let Ok(i) = obj.extract::<i64>() {
            return Ok(Value::from(i));
        }
        if let Ok(u) = obj.extract::<u64>() {
            return Ok(Value::from(u));
        }
        return Err(PyTypeError::new_err(format!(
            "integer at `{path}` does not fit in 64 bits"
        )));
    }
    if let Ok(f) = obj.cast::<PyFloat>() {
        let v = f.value();
        return Number::from_f64(v).map(Value::Number).ok_or_else(|| {
            PyValueError::new_err(format!("`{path}` is {v}, which JSON cannot hold"))
        });
    }
    if let Ok(d) = obj.cast::<PyDict>() {
        let mut map = Map::new();
        for (k, v) in d.iter() {
            let key = match k.cast::<PyString>() {
                Ok(s) => cached_str(s)?,
                Err(_) => {
                    return Err(PyTypeError::new_err(format!(
                        "key {} in `{path}` is a {}, not a str",
                        k.repr()?,
                        k.get_type().name()?
                    )));
                }
            };
            let value = convert(&v, &Path::Key(path, &key), depth + 1)?;
            map.insert(key, value);
        }
        return Ok(Value::Object(map));
    }
    let items: Option<Vec<Bound<'_, PyAny>>> = if let Ok(l) = obj.cast::<PyList>() {
        Some(l.iter().collect())
    } else if let Ok(t) = obj.cast::<PyTuple>() {
        Some(t.iter().collect())
    } else {
        None
    };
    if let Some(items) = items {
        let mut out = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            out.push(convert(item, &Path::Index(path, i), depth + 1)?);
        }
        return Ok(Value::Array(out));
    }
    Err(PyTypeError::new_err(format!(
        "`{path}` is a {}, which is not JSON (use dict, list, tuple, str, int, float, bool or None)",
        obj.get_type().name()?
    )))
}

/// Strings shorter than this are remembered by [`cached_str`].
const CACHED_MAX_LEN: usize = 64;

/// Recently read short strings, by object: `(the str, its UTF-8)`.
/// Holding a reference keeps each object alive, so a pointer seen here is
/// always the same immutable str.
struct StrCache {
    slots: [Option<(Py<PyString>, String)>; 16],
    next: usize,
}

thread_local! {
    static STR_CACHE: std::cell::RefCell<StrCache> = const {
        std::cell::RefCell::new(StrCache {
            slots: [const { None }; 16],
            next: 0,
        })
    };
}

/// A Python str as an owned `String`. Under the stable ABI for Python 3.9
/// every read of a str's UTF-8 allocates a bytes object; the names, actors,
/// environments and argument keys an agent passes are mostly the same
/// objects call after call, so short ones are remembered per thread (by
/// object identity, never by value) and copied from there instead.
pub fn cached_str(s: &Bound<'_, PyString>) -> PyResult<String> {
    let ptr = s.as_ptr();
    let hit = STR_CACHE.with(|cache| {
        let cache = cache.try_borrow().ok()?;
        cache
            .slots
            .iter()
            .flatten()
            .find(|(obj, _)| obj.as_ptr() == ptr)
            .map(|(_, text)| text.clone())
    });
    if let Some(text) = hit {
        return Ok(text);
    }
    let text = s.extract::<String>()?;
    if text.len() < CACHED_MAX_LEN {
        let entry = (s.clone().unbind(), text.clone());
        let replaced = STR_CACHE.with(|cache| {
            let mut cache = cache.try_borrow_mut().ok()?;
            let slot = cache.next;
            cache.next = (slot + 1) % cache.slots.len();
            cache.slots[slot].replace(entry)
        });
        // the replaced entry's reference is released here, with the GIL held
        drop(replaced);
    }
    Ok(text)
}

/// An optional str argument: `None` is absent; anything else but a str is
/// a `TypeError`.
pub fn opt_str(obj: &Bound<'_, PyAny>) -> PyResult<Option<String>> {
    if obj.is_none() {
        return Ok(None);
    }
    match obj.cast::<PyString>() {
        Ok(s) => cached_str(s).map(Some),
        Err(_) => Err(PyTypeError::new_err(format!(
            "'{}' object is not an instance of 'str'",
            obj.get_type().name()?
        ))),
    }
}

/// Converts JSON to Python objects.
pub fn to_py<'py>(py: Python<'py>, value: &Value) -> PyResult<Bound<'py, PyAny>> {
    Ok(match value {
        Value::Null => py.None().into_bound(py),
        Value::Bool(b) => PyBool::new(py, *b).to_owned().into_any(),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                i.into_pyobject(py)?.into_any()
            } else if let Some(u) = n.as_u64() {
                u.into_pyobject(py)?.into_any()
            } else {
                n.as_f64().unwrap_or(f64::NAN).into_pyobject(py)?.into_any()
            }
        }
        Value::String(s) => PyString::new(py, s).into_any(),
        Value::Array(items) => {
            let list = PyList::empty(py);
            for item in items {
                list.append(to_py(py, item)?)?;
            }
            list.into_any()
        }
        Value::Object(map) => {
            let dict = PyDict::new(py);
            for (k, v) in map {
                dict.set_item(k, to_py(py, v)?)?;
            }
            dict.into_any()
        }
    })
}

/// A JSON object argument: `None` is `{}`, anything else must be a dict.
pub fn object_arg(obj: Option<&Bound<'_, PyAny>>, path: &str) -> PyResult<Value> {
    match obj {
        None => Ok(Value::Object(Map::new())),
        Some(o) if o.is_none() => Ok(Value::Object(Map::new())),
        Some(o) => {
            if !o.is_instance_of::<PyDict>() {
                return Err(PyTypeError::new_err(format!(
                    "`{path}` must be a dict, not {}",
                    o.get_type().name()?
                )));
            }
            to_json(o, path)
        }
    }
}
