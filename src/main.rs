fn main() -> std::process::ExitCode {
    runbook::run()
}
