//! The Landlock side of sandbox mode: what the kernel offers, and the helper that confines
//! itself and then becomes the server (`mcpproxy __sandbox_exec --ro P… --rw P…
//! [--no-network] -- PROGRAM ARGS…`). The helper runs before any thread or runtime exists:
//! resource limits, then the Landlock ruleset, then `exec` — the server's stdin and stdout
//! are the helper's, untouched.

use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;

use landlock::{
    ABI, Access, AccessFs, AccessNet, CompatLevel, Compatible, PathBeneath, PathFd, Ruleset,
    RulesetAttr, RulesetCreatedAttr, RulesetStatus, Scope,
};

use super::sandbox::Landlock;

/// The Landlock ABI whose rights we ask for, best effort: 9 (Linux 7.1) confines connecting
/// to unix sockets by path, 6 (Linux 6.12) scopes signals and abstract sockets, 4 (Linux
/// 6.7) TCP; an older kernel enforces what it knows (the network cut is checked apart).
const ABI_USED: ABI = ABI::V9;
/// Open files a sandboxed server may hold at once.
const MAX_OPEN_FILES: u64 = 8192;

/// The kernel's Landlock, if it has one. Asked from a thread of its own that confines
/// itself with an empty ruleset (Landlock confines the calling thread only) and ends.
pub fn detect() -> Option<Landlock> {
    std::thread::spawn(|| {
        let status = Ruleset::default()
            .handle_access(AccessFs::Execute)
            .and_then(|r| r.create())
            .and_then(|r| r.restrict_self())
            .ok()?;
        match status.landlock {
            landlock::LandlockStatus::Available {
                effective_abi,
                kernel_abi,
            } => {
                let abi = kernel_abi.unwrap_or(effective_abi as i32);
                u8::try_from(abi).ok().map(|abi| Landlock { abi })
            }
            _ => None,
        }
    })
    .join()
    .ok()
    .flatten()
}

/// The helper's arguments.
#[derive(Debug, Default, PartialEq, Eq)]
struct Request {
    read: Vec<PathBuf>,
    write: Vec<PathBuf>,
    no_network: bool,
    program: OsString,
    args: Vec<OsString>,
}

fn parse(args: Vec<OsString>) -> Result<Request, String> {
    let mut request = Request::default();
    let mut args = args.into_iter();
    loop {
        let Some(arg) = args.next() else {
            return Err("no program given (expected `-- PROGRAM ARGS…`)".to_owned());
        };
        match arg.to_str() {
            Some("--ro") => request
                .read
                .push(args.next().ok_or("--ro needs a path")?.into()),
            Some("--rw") => request
                .write
                .push(args.next().ok_or("--rw needs a path")?.into()),
            Some("--no-network") => request.no_network = true,
            Some("--") => break,
            _ => return Err(format!("unknown argument {arg:?}")),
        }
    }
    request.program = args.next().ok_or("no program given after --")?;
    request.args = args.collect();
    Ok(request)
}

/// No core dumps (a dump would spill the server's memory, secrets included, to disk), and a
/// bounded number of open files.
fn limit_resources() -> Result<(), String> {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    setrlimit(Resource::RLIMIT_CORE, 0, 0).map_err(|e| format!("RLIMIT_CORE: {e}"))?;
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).map_err(|e| e.to_string())?;
    let cap = hard.min(MAX_OPEN_FILES);
    setrlimit(Resource::RLIMIT_NOFILE, soft.min(cap), cap)
        .map_err(|e| format!("RLIMIT_NOFILE: {e}"))
}

fn restrict(request: &Request) -> Result<(), String> {
    let fail = |e: landlock::RulesetError| e.to_string();
    let mut ruleset = Ruleset::default()
        .handle_access(AccessFs::from_all(ABI_USED))
        .map_err(fail)?;
    if request.no_network {
        // Required, not best effort: without it the server would have the network it was
        // promised not to have.
        ruleset = ruleset
            .set_compatibility(CompatLevel::HardRequirement)
            .handle_access(AccessNet::BindTcp | AccessNet::ConnectTcp)
            .map_err(|e| format!("this kernel's Landlock cannot cut the network: {e}"))?
            .set_compatibility(CompatLevel::BestEffort);
    }
    let mut created = ruleset
        .scope(Scope::from_all(ABI_USED))
        .and_then(|r| r.create())
        .map_err(fail)?;
    for (paths, access) in [
        (&request.read, AccessFs::from_read(ABI_USED)),
        (&request.write, AccessFs::from_all(ABI_USED)),
    ] {
        for path in paths {
            // A path that does not exist here is simply not granted.
            if let Ok(fd) = PathFd::new(path) {
                created = created
                    .add_rule(PathBeneath::new(fd, access))
                    .map_err(fail)?;
            }
        }
    }
    let status = created.restrict_self().map_err(fail)?;
    if status.ruleset == RulesetStatus::NotEnforced {
        return Err("the kernel does not enforce Landlock".to_owned());
    }
    Ok(())
}

/// The helper: confines this process, then runs the server in its place. Returns only on
/// failure, with the exit code (126: could not confine, 127: could not run).
pub fn sandbox_exec(args: Vec<OsString>) -> i32 {
    let request = match parse(args) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("mcpproxy __sandbox_exec: {e}");
            return 126;
        }
    };
    if let Err(e) = limit_resources().and_then(|()| restrict(&request)) {
        // Never run the server unconfined.
        eprintln!("mcpproxy sandbox: cannot confine the server: {e}");
        return 126;
    }
    let error = std::process::Command::new(&request.program)
        .args(&request.args)
        .exec();
    eprintln!(
        "mcpproxy sandbox: cannot run {}: {error}",
        request.program.to_string_lossy()
    );
    127
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(args: &[&str]) -> Vec<OsString> {
        args.iter().map(OsString::from).collect()
    }

    #[test]
    fn the_kernels_landlock_is_read_without_confining_the_caller() {
        // Whatever this kernel has, asking must not confine the asking thread.
        let _ = detect();
        assert!(std::fs::read_dir("/").is_ok());
    }

    #[test]
    fn arguments_are_read_up_to_the_program() {
        let r = parse(os(&[
            "--ro",
            "/usr",
            "--rw",
            "/tmp/x",
            "--no-network",
            "--",
            "server",
            "--ro",
            "y",
        ]))
        .unwrap();
        assert_eq!(r.read, [PathBuf::from("/usr")]);
        assert_eq!(r.write, [PathBuf::from("/tmp/x")]);
        assert!(r.no_network);
        assert_eq!(r.program, "server");
        assert_eq!(
            r.args,
            os(&["--ro", "y"]),
            "the server's own arguments are its own"
        );
        assert!(parse(os(&["--ro"])).is_err());
        assert!(parse(os(&["--",])).is_err());
        assert!(parse(os(&["--bogus", "--", "x"])).is_err());
    }
}
