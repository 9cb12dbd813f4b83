use std::process::ExitCode;

fn main() -> ExitCode {
    uma_cedar::server::main()
}
