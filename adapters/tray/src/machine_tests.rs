use super::*;

use Event as E;
use State as S;

fn feed(m: &mut Machine, events: impl IntoIterator<Item = Event>) {
    for e in events {
        let name = e.name();
        if let Err(r) = m.handle(e) {
            panic!("{name} while building a path: {r}");
        }
    }
}

fn exited(code: i32) -> Event {
    E::CoreExited {
        code: Some(code),
        message: None,
    }
}

/// The machine in `state`, reached the way it is reached in real life.
fn machine_in(state: State) -> Machine {
    let mut m = Machine::new();
    let to_waiting = [E::NoCoreFound, E::CoreStarted { pid: 42 }];
    let to_connected = [
        E::NoCoreFound,
        E::CoreStarted { pid: 42 },
        E::CoreReady,
        E::ApiConnected,
    ];
    let lost = || E::ConnectionLost {
        reason: "stream ended".into(),
    };
    match state {
        S::Initializing => {}
        S::LaunchingCore => feed(&mut m, [E::NoCoreFound]),
        S::WaitingForCore => feed(&mut m, to_waiting),
        S::ConnectingApi => feed(&mut m, to_waiting.into_iter().chain([E::CoreReady])),
        S::Connected => feed(&mut m, to_connected),
        S::Reconnecting => feed(&mut m, to_connected.into_iter().chain([lost()])),
        S::CoreErrorPortConflict => feed(&mut m, to_waiting.into_iter().chain([exited(2)])),
        S::CoreErrorDbLocked => feed(&mut m, to_waiting.into_iter().chain([exited(3)])),
        S::CoreErrorConfig => feed(&mut m, to_waiting.into_iter().chain([exited(4)])),
        S::CoreErrorPermission => feed(&mut m, to_waiting.into_iter().chain([exited(5)])),
        S::CoreErrorGeneral => feed(&mut m, to_waiting.into_iter().chain([exited(1)])),
        S::ShuttingDown => feed(&mut m, to_connected.into_iter().chain([E::Shutdown])),
        S::Failed => {
            feed(&mut m, to_connected);
            for _ in 0..State::Reconnecting.policy().retries {
                feed(&mut m, [lost(), E::Retry, E::Attach, E::ApiConnected]);
            }
            feed(&mut m, [lost()]);
        }
    }
    assert_eq!(m.state(), state, "the path leads to {state}");
    m
}

/// One event of each kind, in the columns' order.
fn sample_events() -> Vec<Event> {
    vec![
        E::Attach,
        E::NoCoreFound,
        E::CoreStarted { pid: 7 },
        E::CoreStartFailed {
            reason: "not found".into(),
        },
        E::CoreReady,
        E::ApiConnected,
        E::ConnectFailed {
            reason: "refused".into(),
        },
        E::ConnectionLost {
            reason: "ended".into(),
        },
        exited(1),
        E::Retry,
        E::Timeout,
        E::RetryNow,
        E::UseNextPort {
            listen: "127.0.0.1:8081".into(),
        },
        E::Shutdown,
    ]
}

fn short(state: State) -> &'static str {
    match state {
        S::Initializing => "In",
        S::LaunchingCore => "La",
        S::WaitingForCore => "Wa",
        S::ConnectingApi => "Co",
        S::Connected => "OK",
        S::Reconnecting => "Re",
        S::CoreErrorPortConflict => "Pc",
        S::CoreErrorDbLocked => "Db",
        S::CoreErrorConfig => "Cf",
        S::CoreErrorPermission => "Pe",
        S::CoreErrorGeneral => "Ge",
        S::ShuttingDown => "Sd",
        S::Failed => "Fa",
    }
}

/// Every state × event: the state it leads to, or `--` where it is refused. Written by hand
/// from the design, not from the code. Columns: attach, no core found, core started, start
/// failed, core ready, api connected, connect failed, connection lost, core exited (code 1),
/// retry, timeout, retry now, use next port, shutdown.
const EXPECTED: &str = "
initializing             Co La -- -- -- -- -- -- -- -- -- -- -- Sd
launching_core           -- -- Wa Ge -- -- -- -- -- -- -- -- -- Sd
waiting_for_core         -- -- -- -- Co -- -- -- Ge -- Ge -- -- Sd
connecting_api           -- -- -- -- -- OK Co Re Re -- Re -- -- Sd
connected                -- -- -- -- -- -- -- Re Re -- OK -- -- Sd
reconnecting             Co Re -- -- -- -- -- -- Re Re -- Re -- Sd
core_error_port_conflict -- -- -- -- -- -- -- -- -- In -- In La Sd
core_error_db_locked     -- -- -- -- -- -- -- -- -- In -- In -- Sd
core_error_config        -- -- -- -- -- -- -- -- -- -- -- In -- Sd
core_error_permission    -- -- -- -- -- -- -- -- -- -- -- In -- Sd
core_error_general       -- -- -- -- -- -- -- -- -- In -- In -- Sd
shutting_down            -- -- -- -- -- -- -- -- Sd -- Sd -- -- Sd
failed                   -- -- -- -- -- -- -- -- Fa -- -- In -- Sd
";

#[test]
fn every_state_and_event_has_the_designed_outcome() {
    let rows: Vec<Vec<&str>> = EXPECTED
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(rows.len(), State::ALL.len(), "one row per state");
    let mut mismatches = Vec::new();
    for (state, row) in State::ALL.into_iter().zip(&rows) {
        assert_eq!(row[0], state.as_str(), "rows follow State::ALL");
        assert_eq!(
            row.len(),
            1 + sample_events().len(),
            "{state}: one cell per event"
        );
        for (event, cell) in sample_events().into_iter().zip(&row[1..]) {
            let mut m = machine_in(state);
            let name = event.name();
            let got = match m.handle(event) {
                Ok(_) => short(m.state()),
                Err(refusal) => {
                    assert_eq!(refusal.state, state);
                    assert_eq!(refusal.event, name);
                    assert!(!refusal.reason.is_empty());
                    assert_eq!(m.state(), state, "a refusal changes nothing");
                    "--"
                }
            };
            if got != *cell {
                mismatches.push(format!("{state} + {name}: expected {cell}, got {got}"));
            }
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

#[test]
fn a_refusal_says_why() {
    let mut m = machine_in(S::Connected);
    let r = m
        .handle(E::UseNextPort {
            listen: "127.0.0.1:1".into(),
        })
        .unwrap_err();
    assert_eq!(
        r.to_string(),
        "use_next_port refused in connected: only after a port conflict"
    );
    let mut m = machine_in(S::CoreErrorConfig);
    let r = m.handle(E::Retry).unwrap_err();
    assert_eq!(
        r.reason, "no retry is due",
        "a config error is not retried by itself"
    );
}

#[test]
fn launching_then_connecting_runs_the_effects_in_order() {
    let mut m = Machine::new();
    assert_eq!(m.start(), vec![Effect::Probe]);
    assert_eq!(
        m.handle(E::NoCoreFound),
        Ok(vec![Effect::Launch { listen: None }])
    );
    assert_eq!(
        m.handle(E::CoreStarted { pid: 9 }),
        Ok(vec![Effect::AwaitReady])
    );
    assert_eq!(m.core(), Core::Launched { pid: 9 });
    let t = m.timer().unwrap();
    assert_eq!((t.kind, t.after), (TimerKind::Timeout, secs(60)));
    assert_eq!(m.handle(E::CoreReady), Ok(vec![Effect::Connect]));
    assert_eq!(m.timer().unwrap().after, secs(10));
    assert_eq!(m.handle(E::ApiConnected), Ok(vec![]));
    assert_eq!(m.timer().unwrap().after, SETTLE, "the settle timer runs");
}

#[test]
fn an_attached_core_is_left_running_on_quit() {
    let mut m = Machine::new();
    assert_eq!(m.handle(E::Attach), Ok(vec![Effect::Connect]));
    assert_eq!(m.core(), Core::Attached);
    m.handle(E::ApiConnected).unwrap();
    assert_eq!(
        m.handle(E::Shutdown),
        Ok(vec![Effect::Disconnect, Effect::Exit])
    );
    assert_eq!(m.state(), S::ShuttingDown);
    assert_eq!(m.timer(), None);
    assert!(
        m.handle(exited(0)).is_err(),
        "an attached core's end is not ours"
    );
}

#[test]
fn quit_stops_the_launched_core_then_kills_it_if_it_lingers() {
    let mut m = machine_in(S::Connected);
    assert_eq!(
        m.handle(E::Shutdown),
        Ok(vec![Effect::Disconnect, Effect::StopCore])
    );
    assert_eq!(m.timer().unwrap().after, STOP_GRACE);
    assert_eq!(m.handle(E::Timeout), Ok(vec![Effect::KillCore]));
    assert_eq!(m.timer().unwrap().after, KILL_GRACE);
    assert_eq!(m.handle(exited(137)), Ok(vec![Effect::Exit]));
    assert_eq!(m.core(), Core::None);
    // A second Quit while the first stops the core kills it at once.
    let mut m = machine_in(S::ShuttingDown);
    assert_eq!(m.handle(E::Shutdown), Ok(vec![Effect::KillCore]));
    assert!(m.handle(E::Shutdown).is_err(), "already killed");
    // A core that never answers within the kill grace: the tray leaves anyway.
    assert_eq!(m.handle(E::Timeout), Ok(vec![Effect::Exit]));
}

#[test]
fn exit_codes_choose_the_error_state_and_keep_the_message() {
    for (code, state) in [
        (Some(2), S::CoreErrorPortConflict),
        (Some(3), S::CoreErrorDbLocked),
        (Some(4), S::CoreErrorConfig),
        (Some(5), S::CoreErrorPermission),
        (Some(1), S::CoreErrorGeneral),
        (None, S::CoreErrorGeneral),
    ] {
        let mut m = machine_in(S::WaitingForCore);
        m.handle(E::CoreExited {
            code,
            message: Some("cannot listen on 127.0.0.1:8080".into()),
        })
        .unwrap();
        assert_eq!(m.state(), state, "exit {code:?}");
        assert_eq!(m.detail(), Some("cannot listen on 127.0.0.1:8080"));
        assert_eq!(m.core(), Core::None);
    }
    let mut m = machine_in(S::WaitingForCore);
    m.handle(E::CoreExited {
        code: None,
        message: None,
    })
    .unwrap();
    assert_eq!(m.detail(), Some("the core was killed by a signal"));
    // A start-up refusal seen while connecting is still that refusal.
    let mut m = machine_in(S::ConnectingApi);
    assert_eq!(m.handle(exited(4)), Ok(vec![Effect::Disconnect]));
    assert_eq!(m.state(), S::CoreErrorConfig);
}

/// The retry delays each error state waits, until its budget is spent.
fn retry_delays(state: State) -> Vec<Duration> {
    let mut m = machine_in(state);
    let mut delays = Vec::new();
    let code = match state {
        S::CoreErrorPortConflict => 2,
        S::CoreErrorDbLocked => 3,
        S::CoreErrorConfig => 4,
        S::CoreErrorPermission => 5,
        _ => 1,
    };
    while let Some(t) = m.timer() {
        assert_eq!(t.kind, TimerKind::Retry);
        delays.push(t.after);
        assert_eq!(m.handle(E::Retry), Ok(vec![Effect::Probe]));
        feed(
            &mut m,
            [E::NoCoreFound, E::CoreStarted { pid: 1 }, exited(code)],
        );
        assert_eq!(m.state(), state);
    }
    delays
}

#[test]
fn error_states_retry_within_their_budget_then_wait_for_the_person() {
    assert_eq!(retry_delays(S::CoreErrorPortConflict), vec![secs(10); 2]);
    assert_eq!(retry_delays(S::CoreErrorDbLocked), vec![secs(5); 3]);
    assert_eq!(retry_delays(S::CoreErrorGeneral), vec![secs(3); 2]);
    assert_eq!(retry_delays(S::CoreErrorConfig), vec![]);
    assert_eq!(retry_delays(S::CoreErrorPermission), vec![]);
    // Retry now refills the budget.
    let mut m = machine_in(S::CoreErrorPortConflict);
    m.timer = None;
    m.spent.insert(S::CoreErrorPortConflict, 2);
    assert_eq!(m.handle(E::RetryNow), Ok(vec![Effect::Probe]));
    feed(
        &mut m,
        [E::NoCoreFound, E::CoreStarted { pid: 1 }, exited(2)],
    );
    assert_eq!(m.timer().map(|t| t.after), Some(secs(10)));
}

#[test]
fn reconnecting_backs_off_doubling_to_30_s_then_fails() {
    let mut m = machine_in(S::Connected);
    let mut delays = Vec::new();
    let lost = || E::ConnectionLost {
        reason: "ended".into(),
    };
    loop {
        m.handle(lost()).unwrap();
        if m.state() == S::Failed {
            break;
        }
        let t = m.timer().unwrap();
        assert_eq!(t.kind, TimerKind::Retry);
        delays.push(t.after.as_secs());
        feed(&mut m, [E::Retry, E::Attach, E::ApiConnected]);
    }
    assert_eq!(delays, vec![1, 2, 4, 8, 16, 30, 30, 30, 30, 30]);
    assert_eq!(m.detail(), Some("ended"));
    assert_eq!(m.timer(), None, "failed waits for the person");
    assert_eq!(m.handle(E::RetryNow), Ok(vec![Effect::Probe]));
    assert_eq!(m.state(), S::Initializing);
    assert_eq!(m.spent(S::Reconnecting), 0);
}

#[test]
fn sixty_seconds_connected_refill_every_budget() {
    let mut m = machine_in(S::Connected);
    feed(
        &mut m,
        [
            E::ConnectionLost { reason: "x".into() },
            E::Retry,
            E::Attach,
            E::ApiConnected,
        ],
    );
    assert_eq!(m.spent(S::Reconnecting), 1);
    assert_eq!(m.handle(E::Timeout), Ok(vec![]));
    assert_eq!(m.spent(S::Reconnecting), 0);
    assert_eq!(m.timer(), None);
}

#[test]
fn a_crashed_core_is_relaunched_after_the_backoff() {
    let mut m = machine_in(S::Connected);
    assert_eq!(
        m.handle(E::CoreExited {
            code: None,
            message: None
        }),
        Ok(vec![Effect::Disconnect])
    );
    assert_eq!(m.state(), S::Reconnecting);
    assert_eq!(m.core(), Core::None);
    assert_eq!(m.timer().map(|t| t.after), Some(secs(1)));
    assert_eq!(m.handle(E::Retry), Ok(vec![Effect::Probe]));
    assert_eq!(
        m.handle(E::NoCoreFound),
        Ok(vec![Effect::Launch { listen: None }])
    );
}

#[test]
fn a_hung_core_is_killed_before_a_new_one_is_launched() {
    let mut m = machine_in(S::Reconnecting);
    assert_eq!(m.core(), Core::Launched { pid: 42 });
    m.handle(E::Retry).unwrap();
    assert_eq!(m.handle(E::NoCoreFound), Ok(vec![Effect::KillCore]));
    assert_eq!(m.timer().map(|t| t.after), Some(KILL_RETRY));
    assert_eq!(m.handle(exited(137)), Ok(vec![]));
    assert_eq!(m.handle(E::Retry), Ok(vec![Effect::Probe]));
    assert_eq!(
        m.handle(E::NoCoreFound),
        Ok(vec![Effect::Launch { listen: None }])
    );
}

#[test]
fn the_next_free_port_is_used_for_every_later_launch() {
    let mut m = machine_in(S::CoreErrorPortConflict);
    let listen = "127.0.0.1:8081".to_owned();
    assert_eq!(
        m.handle(E::UseNextPort {
            listen: listen.clone()
        }),
        Ok(vec![Effect::Launch {
            listen: Some(listen.clone())
        }])
    );
    assert_eq!(m.listen_override(), Some("127.0.0.1:8081"));
    feed(
        &mut m,
        [E::CoreStarted { pid: 3 }, E::CoreReady, E::ApiConnected],
    );
    feed(&mut m, [exited(1), E::Retry]);
    assert_eq!(
        m.handle(E::NoCoreFound),
        Ok(vec![Effect::Launch {
            listen: Some(listen)
        }])
    );
}

#[test]
fn connecting_retries_five_times_a_second_apart_then_reconnects() {
    let mut m = machine_in(S::ConnectingApi);
    for _ in 0..5 {
        assert_eq!(
            m.handle(E::ConnectFailed {
                reason: "503".into()
            }),
            Ok(vec![])
        );
        assert_eq!(m.state(), S::ConnectingApi);
        let t = m.timer().unwrap();
        assert_eq!((t.kind, t.after), (TimerKind::Retry, secs(1)));
        assert_eq!(m.handle(E::Retry), Ok(vec![Effect::Connect]));
        assert_eq!(m.timer().unwrap().kind, TimerKind::Timeout);
    }
    assert_eq!(
        m.handle(E::ConnectFailed {
            reason: "503".into()
        }),
        Ok(vec![Effect::Disconnect])
    );
    assert_eq!(m.state(), S::Reconnecting);
}

#[test]
fn a_core_that_never_answers_is_stopped() {
    let mut m = machine_in(S::WaitingForCore);
    assert_eq!(m.handle(E::Timeout), Ok(vec![Effect::StopCore]));
    assert_eq!(m.state(), S::CoreErrorGeneral);
    assert!(m.detail().unwrap().contains("did not answer within 60 s"));
    assert_eq!(m.core(), Core::Launched { pid: 42 }, "until it exits");
    assert_eq!(m.handle(exited(0)), Ok(vec![]));
    assert_eq!(m.core(), Core::None);
}

#[test]
fn timers_replace_each_other() {
    let mut m = Machine::new();
    feed(&mut m, [E::NoCoreFound, E::CoreStarted { pid: 1 }]);
    let first = m.timer().unwrap().id;
    m.handle(E::CoreReady).unwrap();
    let second = m.timer().unwrap().id;
    assert_ne!(first, second, "a new state, a new timer");
}

#[test]
fn doubling_delay_never_overflows() {
    let d = Delay::Doubling {
        first: secs(1),
        max: secs(30),
    };
    assert_eq!(d.before(1), secs(1));
    assert_eq!(d.before(40), secs(30));
    assert_eq!(d.before(u32::MAX), secs(30));
}

#[test]
fn the_readme_table_is_the_code() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md")).unwrap();
    let table = policy_table();
    assert!(
        readme.contains(&table),
        "README.md must contain the state table as the code has it:\n{table}"
    );
}
