//! The `afterclass` command; everything it does lives in the library.

fn main() -> std::process::ExitCode {
    afterclass::cli::main()
}
