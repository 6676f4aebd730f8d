//! uv: running it (never through a shell) and reading the `uv.lock` files it writes.

pub mod env;
pub mod lock_file;
pub mod python;
pub mod runner;

pub use python::PythonRequest;
pub use runner::Uv;
