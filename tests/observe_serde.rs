//! With the `serde` feature, the reports and the thread dump serialise to JSON, and the JSON
//! reads back to the same values.
#![cfg(feature = "serde")]

use std::time::Duration;

use crossbeam_channel::bounded;
use homebound::pipeline::Pipeline;
use homebound::pool::Pool;
use homebound::shutdown::Shutdown;
use homebound::threads::{self, Alert};
use homebound::{Context, periodic};
use serde_json::{Value, json};

const BOUND: Duration = Duration::from_secs(10);

/// Serialises to JSON text and parses it back: the same value as serialising straight to a
/// JSON value.
fn round_trip<T: serde::Serialize>(value: &T) -> Value {
    let text = serde_json::to_string(value).unwrap();
    let back: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(back, serde_json::to_value(value).unwrap());
    back
}

#[test]
fn pool_metrics_and_shutdown_report_round_trip() {
    let pool = Pool::builder().name("json").workers(2).build().unwrap();
    for i in 0..10u64 {
        pool.submit(move |_| i).unwrap().join().unwrap();
    }
    let metrics = round_trip(&pool.metrics());
    assert_eq!(metrics["completed"], json!(10));
    assert_eq!(metrics["workers_live"], json!(2));
    let report = round_trip(&pool.shutdown());
    assert_eq!(report["joined"], json!(2));
    assert_eq!(report["stragglers"], json!([]));
    assert_eq!(report["metrics"]["completed"], json!(10));
    threads::assert_none_alive(BOUND);
}

#[test]
fn shutdown_pipeline_and_periodic_reports_round_trip() {
    let mut shutdown = Shutdown::new();
    shutdown
        .service("once", |_ctx| Ok::<(), String>(()))
        .unwrap();
    let report = round_trip(&shutdown.wait());
    assert_eq!(report["services"][0]["name"], json!("once"));
    assert_eq!(report["services"][0]["outcome"], json!("Ok"));

    let ctx = Context::new();
    let (items, outcome) = Pipeline::from_iter(&ctx, 0..100u32)
        .map(2, |x| x + 1)
        .named("inc")
        .collect()
        .unwrap();
    assert_eq!(items.len(), 100);
    let report = round_trip(outcome.report());
    let stages = report["stages"].as_array().unwrap();
    let inc = stages.iter().find(|s| s["name"] == json!("inc")).unwrap();
    assert_eq!(inc["items_in"], json!(100));
    assert_eq!(report["cancelled"], Value::Null);

    let ctx = Context::new();
    let mut left = 2;
    let report = periodic::every(&ctx, Duration::from_millis(1), |ctx| {
        left -= 1;
        if left == 0 {
            ctx.cancel();
        }
        Ok::<(), String>(())
    })
    .unwrap();
    let report = round_trip(&report);
    assert_eq!(report["runs"], json!(2));
    assert_eq!(report["stopped"], json!("Cancelled"));
    // A panic serialises as its message.
    let panic = homebound::Panicked::catch(|| panic!("tick failed")).unwrap_err();
    assert_eq!(
        round_trip(&periodic::Stop::Panicked(panic)),
        json!({"Panicked": "tick failed"})
    );
    threads::assert_none_alive(BOUND);
}

#[test]
fn the_dump_and_alerts_round_trip() {
    let (release_tx, release) = bounded::<()>(0);
    let h = threads::spawn("json-dump", move || {
        let _ = release.recv();
    })
    .unwrap();
    let dump = round_trip(&threads::dump());
    let me = dump["threads"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["owner"] == json!("json-dump"))
        .unwrap()
        .clone();
    assert!(
        me["name"]
            .as_str()
            .unwrap()
            .starts_with("homebound-json-dump-")
    );
    assert_eq!(me["daemon"], json!(false));
    assert!(
        me["location"]
            .as_str()
            .unwrap()
            .contains("observe_serde.rs")
    );
    let alert = Alert::Growing {
        from: 1,
        to: 4,
        over: Duration::from_millis(1500),
    };
    assert_eq!(
        round_trip(&alert),
        json!({"Growing": {"from": 1, "to": 4, "over": {"secs": 1, "nanos": 500_000_000}}})
    );
    drop(release_tx);
    h.join().unwrap();
    threads::assert_none_alive(BOUND);
}
