//! The `afterclass` command; everything it does lives in the library.

/// mimalloc instead of the system allocator: the server allocates and frees many small values
/// per request across threads, where glibc's allocator was a fifth of the CPU (BENCHMARKS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    afterclass::cli::main()
}
