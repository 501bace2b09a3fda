//! The dump nests threads in the owner tree (service → pool → group → pipeline), with each
//! owner's and thread's location in the user's code, not homebound's.

use std::time::{Duration, Instant};

use crossbeam_channel::{Sender, bounded, unbounded};
use homebound::group::Group;
use homebound::pipeline::Pipeline;
use homebound::pool::Pool;
use homebound::shutdown::Shutdown;
use homebound::threads::{self, Dump, ThreadDump};

const BOUND: Duration = Duration::from_secs(10);

/// Takes dumps until one shows a thread of `owner`; panics with the last dump after `BOUND`.
fn dump_with(owner: &str) -> (Dump, ThreadDump) {
    let deadline = Instant::now() + BOUND;
    loop {
        let dump = threads::dump();
        if let Some(t) = dump.threads().iter().find(|t| t.owner() == owner) {
            let t = t.clone();
            return (dump, t);
        }
        assert!(Instant::now() < deadline, "no {owner} in:\n{dump}");
        std::thread::yield_now();
    }
}

/// The line the user's code created each owner on, as the nested closures report them.
type Lines = Sender<(&'static str, u32)>;

/// Inside a pool task: a group whose task starts a pipeline whose one stage blocks until
/// `release` closes, after saying so on `stuck`.
fn group_then_pipeline(
    ctx: &homebound::Context,
    lines: Lines,
    stuck: Sender<()>,
    release: crossbeam_channel::Receiver<()>,
) {
    let group = Group::builder().name("tree-group").build().unwrap();
    let task_lines = lines.clone();
    lines.send(("group", line!() + 1)).unwrap();
    let r = group.run(ctx, |g| {
        g.spawn(move |ctx| {
            let stage = move |x: u32| {
                stuck.send(()).unwrap();
                let _ = release.recv();
                x
            };
            let pipeline = Pipeline::from_iter(ctx, 0..1u32)
                .map(1, stage)
                .named("tree-stage");
            task_lines.send(("pipeline", line!() + 1)).unwrap();
            let (items, _) = pipeline.collect().unwrap();
            assert_eq!(items, [0]);
            Ok::<_, ()>(())
        });
    });
    r.unwrap();
}

#[test]
fn dump_nests_service_pool_group_pipeline_with_the_users_locations() {
    // Made first, dropped last: a failed assertion releases the stage before the shutdown's
    // drop waits for its service.
    let mut shutdown = Shutdown::new();
    let (lines_tx, lines_rx) = unbounded();
    let (stuck_tx, stuck) = bounded::<()>(1);
    let (release_tx, release) = bounded::<()>(0);
    let service_lines = lines_tx.clone();
    let service = move |_ctx| {
        let builder = Pool::builder().name("tree-pool").workers(1);
        let pool = builder.build().unwrap();
        service_lines.send(("pool", line!() - 1)).unwrap();
        let task_lines = service_lines.clone();
        let task = pool
            .submit(move |ctx| group_then_pipeline(ctx, task_lines, stuck_tx, release))
            .unwrap();
        task.join().unwrap();
        pool.shutdown();
        Ok::<(), String>(())
    };
    shutdown.service("tree-api", service).unwrap();
    lines_tx.send(("service", line!() - 1)).unwrap();
    stuck.recv().unwrap(); // the stage is blocked: every owner is alive

    let (dump, stage) = dump_with("tree-stage");
    let path = dump.owner_path(&stage);
    let kinds: Vec<&str> = path.iter().map(|o| o.kind()).collect();
    assert_eq!(kinds, ["service", "pool", "group", "pipeline"], "{dump}");
    let names: Vec<&str> = path.iter().map(|o| o.name()).collect();
    assert_eq!(names[..3], ["tree-api", "tree-pool", "tree-group"]);
    assert!(names[3].contains("tree-stage"), "{}", names[3]);
    // Parent links: each owner's parent is the one before it, the service is a root.
    assert_eq!(path[0].parent(), None);
    for pair in path.windows(2) {
        assert_eq!(pair[1].parent(), Some(pair[0].id()));
    }

    // Each owner's location is the user's call in this file, and so is its threads' (a group's
    // task thread shows its own `spawn` line instead: see the test below).
    let lines: Vec<(&str, u32)> = lines_rx.try_iter().collect();
    assert_eq!(lines.len(), 4, "{lines:?}"); // all sent before the stage said it is stuck
    for (kind, line) in lines {
        let owner = path.iter().find(|o| o.kind() == kind).unwrap();
        let at = format!("observe_tree.rs:{line}:");
        assert!(
            owner.location().contains(&at),
            "{kind}: {}",
            owner.location()
        );
        let thread = dump
            .threads()
            .iter()
            .find(|t| t.owned_by() == Some(owner.id()))
            .unwrap();
        if kind != "group" {
            assert!(thread.location().contains(&at), "{kind}: {thread}");
        }
    }

    // The text nests each owner two spaces deeper than its parent, its threads two more.
    let text = dump.to_string();
    let indent_of = |needle: &str| {
        let line = text.lines().find(|l| l.contains(needle)).unwrap();
        line.len() - line.trim_start().len()
    };
    assert_eq!(indent_of("service 'tree-api' at "), 2, "{text}");
    assert_eq!(indent_of("pool 'tree-pool' at "), 4, "{text}");
    assert_eq!(indent_of("group 'tree-group' at "), 6, "{text}");
    assert_eq!(indent_of("pipeline '"), 8, "{text}");
    assert_eq!(indent_of("homebound-tree-stage-"), 10, "{text}");
    assert_eq!(indent_of("homebound-tree-pool-"), 6, "{text}");
    assert_eq!(indent_of("homebound-service-tree-api-"), 4, "{text}");

    #[cfg(feature = "serde")]
    json_keeps_the_tree(&dump, &stage);

    drop(release_tx);
    let report = shutdown.wait();
    assert_eq!(report.exit_code(), 0, "{report:?}");
    threads::assert_none_alive(BOUND);
}

/// The JSON form keeps the tree: the stage's `owned_by` leads, through `parent` ids, to the
/// service, and the text round-trips.
#[cfg(feature = "serde")]
fn json_keeps_the_tree(dump: &Dump, stage: &ThreadDump) {
    use serde_json::Value;
    let text = serde_json::to_string(dump).unwrap();
    let json: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(json, serde_json::to_value(dump).unwrap());
    let me = json["threads"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == stage.name())
        .unwrap();
    let owners = json["owners"].as_array().unwrap();
    let mut kinds = Vec::new();
    let mut next = me["owned_by"].clone();
    while let Some(id) = next.as_u64() {
        let owner = owners.iter().find(|o| o["id"] == id).unwrap();
        kinds.push(owner["kind"].as_str().unwrap().to_string());
        next = owner["parent"].clone();
    }
    assert_eq!(kinds, ["pipeline", "group", "pool", "service"]);
}

#[test]
fn a_thread_started_outside_any_owner_is_a_root_and_grouped_by_name() {
    let (release_tx, release) = bounded::<()>(0);
    let h = threads::spawn("tree-loose", move || {
        let _ = release.recv();
    })
    .unwrap();
    let (dump, t) = dump_with("tree-loose");
    assert_eq!(t.owned_by(), None);
    assert!(dump.owner_path(&t).is_empty());
    assert!(dump.to_string().contains("  tree-loose (1 thread(s)):"));
    drop(release_tx);
    h.join().unwrap();
    threads::assert_none_alive(BOUND);
}

#[test]
fn a_thread_spawned_in_a_pool_task_belongs_to_the_pool() {
    let pool = Pool::builder()
        .name("tree-spawner")
        .workers(1)
        .build()
        .unwrap();
    let (release_tx, release) = bounded::<()>(0);
    let (started_tx, started) = bounded::<()>(1);
    let task = pool
        .submit(move |_ctx| {
            let h = threads::spawn("tree-child", move || {
                started_tx.send(()).unwrap();
                let _ = release.recv();
            });
            let line = line!() - 4;
            h.unwrap().join().unwrap();
            line
        })
        .unwrap();
    started.recv().unwrap();
    let (dump, child) = dump_with("tree-child");
    let pool_owner = dump.owner(child.owned_by().unwrap()).unwrap();
    assert_eq!(
        (pool_owner.kind(), pool_owner.name()),
        ("pool", "tree-spawner")
    );
    drop(release_tx);
    let line = task.join().unwrap();
    // A plain spawn keeps its own location: the `threads::spawn` call in the task.
    assert!(
        child
            .location()
            .contains(&format!("observe_tree.rs:{line}:")),
        "{child}"
    );
    pool.shutdown();
    threads::assert_none_alive(BOUND);
}

#[test]
fn a_group_task_thread_shows_its_spawn_line_inside_the_group() {
    let (started_tx, started) = bounded::<()>(1);
    let (release_tx, release) = bounded::<()>(0);
    let (lines_tx, lines) = unbounded::<u32>();
    let ctx = homebound::Context::new();
    let driver = threads::spawn("tree-group-driver", move || {
        lines_tx.send(line!() + 1).unwrap();
        homebound::scope(&ctx, |g| {
            lines_tx.send(line!() + 1).unwrap();
            g.spawn_named("tree-task", move |_ctx| {
                started_tx.send(()).unwrap();
                let _ = release.recv();
                Ok::<_, ()>(())
            });
        })
    })
    .unwrap();
    started.recv().unwrap();
    let (scope_line, spawn_line) = (lines.recv().unwrap(), lines.recv().unwrap());
    let (dump, task) = dump_with("tree-task");
    let group = dump.owner(task.owned_by().unwrap()).unwrap();
    assert_eq!(group.kind(), "group");
    let at = |line: u32| format!("observe_tree.rs:{line}:");
    assert!(group.location().contains(&at(scope_line)), "{group}");
    assert!(task.location().contains(&at(spawn_line)), "{task}");
    drop(release_tx);
    driver.join().unwrap().unwrap();
    threads::assert_none_alive(BOUND);
}
