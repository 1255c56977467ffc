//! Tests of the sandbox plans: the backend chosen, what bubblewrap and Landlock are told.

use super::*;

fn plan(dir: &Path) -> Plan {
    Plan {
        program: dir.join("tools/bin/server"),
        args: vec!["--flag".into()],
        working_dir: Some(dir.join("work")),
        network: false,
        volumes: vec![Volume::parse(&format!("{}:/data:ro", dir.join("data").display())).unwrap()],
        home: dir.join("state/sandbox/s/home"),
        tmp: dir.join("state/sandbox/s/tmp"),
        user_home: Some(dir.to_owned()),
        data_dir: dir.join("state"),
    }
}

#[test]
fn a_backend_is_chosen_or_the_refusal_says_why() {
    let none = Facts {
        bwrap: None,
        bwrap_error: None,
        landlock: None,
        landlock_error: Some("forced off".into()),
    };
    let why = none.backend(false).unwrap_err();
    assert!(
        why.contains("bwrap) was not found") && why.contains("forced off"),
        "{why}"
    );
    let old_kernel = Facts {
        landlock: Some(Landlock { abi: 3 }),
        ..none.clone()
    };
    assert!(
        old_kernel
            .backend(false)
            .unwrap_err()
            .contains("cannot cut the network")
    );
    assert_eq!(
        old_kernel.backend(true),
        Ok(Backend::Landlock(Landlock { abi: 3 }))
    );
    let broken_bwrap = Facts {
        bwrap: Some("/usr/bin/bwrap".into()),
        bwrap_error: Some("No permissions to create new namespace".into()),
        landlock: Some(Landlock { abi: 6 }),
        landlock_error: None,
    };
    assert_eq!(
        broken_bwrap.backend(false),
        Ok(Backend::Landlock(Landlock { abi: 6 }))
    );
    let good = Facts {
        bwrap_error: None,
        ..broken_bwrap
    };
    assert_eq!(
        good.backend(false),
        Ok(Backend::Bubblewrap("/usr/bin/bwrap".into()))
    );
}

#[test]
fn bubblewrap_hides_the_homes_and_gives_only_what_is_given() {
    let dir = tempfile::tempdir().unwrap();
    let p = plan(dir.path());
    let args: Vec<String> = p
        .bwrap_args()
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let joined = args.join(" ");
    let d = dir.path().display();
    assert!(
        joined.starts_with("--ro-bind / / --dev /dev --proc /proc"),
        "{joined}"
    );
    assert!(joined.contains("--tmpfs /tmp"), "{joined}");
    assert!(joined.contains("--tmpfs /root"), "{joined}");
    assert!(
        joined.contains(&format!("--ro-bind {d}/tools {d}/tools")),
        "{joined}"
    );
    assert!(
        joined.contains(&format!("--ro-bind {d}/data /data")),
        "{joined}"
    );
    assert!(
        joined.contains(&format!("--bind {d}/work {d}/work")),
        "{joined}"
    );
    assert!(
        joined.contains(&format!(
            "--bind {d}/state/sandbox/s/home {d}/state/sandbox/s/home"
        )),
        "{joined}"
    );
    assert!(
        joined.contains("--unshare-pid") && joined.contains("--unshare-net"),
        "{joined}"
    );
    assert!(
        joined.ends_with(&format!("-- {d}/tools/bin/server --flag")),
        "{joined}"
    );
    let open = Plan { network: true, ..p };
    let args: Vec<String> = open
        .bwrap_args()
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    assert!(!args.contains(&"--unshare-net".to_owned()));
}

#[test]
fn landlock_grants_cut_out_the_data_directory() {
    let dir = tempfile::tempdir().unwrap();
    for sub in ["state/sandbox/s/home", "work", "data", "tools/bin", "other"] {
        std::fs::create_dir_all(dir.path().join(sub)).unwrap();
    }
    let mut p = plan(dir.path());
    p.volumes.clear();
    // The working directory is the user's whole home, data directory included.
    p.working_dir = Some(dir.path().to_owned());
    let (ro, rw) = p.landlock_paths();
    assert!(ro.contains(&PathBuf::from("/usr")));
    assert!(ro.contains(&dir.path().join("tools")));
    assert!(rw.contains(&dir.path().join("work")) && rw.contains(&dir.path().join("other")));
    assert!(
        !rw.contains(&dir.path().to_owned()),
        "the home is split: {rw:?}"
    );
    assert!(
        !rw.iter().any(|p| p.starts_with(dir.path().join("state"))
            && !p.starts_with(dir.path().join("state/sandbox/s"))),
        "the data directory stays hidden: {rw:?}"
    );
    assert!(rw.contains(&p.home));
    let args: Vec<String> = p
        .landlock_args()
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    assert_eq!(args[0], "__sandbox_exec");
    assert!(args.contains(&"--no-network".to_owned()));
}

#[test]
fn programs_in_hidden_places_are_given_their_prefix_only() {
    let dir = tempfile::tempdir().unwrap();
    let mut p = plan(dir.path());
    assert_eq!(p.program_grant(), Some(dir.path().join("tools")));
    p.program = "/usr/bin/node".into();
    assert_eq!(p.program_grant(), None);
    p.program = dir.path().join("server");
    assert_eq!(
        p.program_grant(),
        Some(dir.path().join("server")),
        "never the whole home"
    );
}

#[test]
fn volumes_must_fit_the_backend() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("data")).unwrap();
    let p = plan(dir.path());
    assert!(
        p.check(&Backend::Bubblewrap("/usr/bin/bwrap".into()))
            .is_ok()
    );
    assert!(
        p.check(&Backend::Landlock(Landlock { abi: 6 }))
            .unwrap_err()
            .contains("Landlock cannot show")
    );
    let named = Plan {
        volumes: vec![Volume::parse("cache:/c").unwrap()],
        ..p
    };
    assert!(
        named
            .check(&Backend::Bubblewrap("/b".into()))
            .unwrap_err()
            .contains("named Docker volume")
    );
}
