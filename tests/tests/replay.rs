//! A run is a value: replaying its scenario reaches the same state, at any point, in any order.
//!
//! The page rewinds by rebuilding a run from its scenario (`Run::seek`); a shared link and
//! `hotstuff sim --link` do the same from the decoded scenario. This property test plays random
//! scenarios (random interventions at random moments, made through `Run::intervene` as the page
//! makes them), records the trace digest after every step, then jumps to random recorded points
//! in random order (backward and forward) and checks the digest there. It also replays the
//! recorded scenario from scratch, and through its share link, to the end.

use hotstuff_core::sim::{Intervention, Point, Run, Scenario, SimConfig};
use hotstuff_core::Time;
use proptest::prelude::*;
use std::collections::BTreeMap;

/// One random action: wait `wait_ms`, then make intervention number `kind` on `node`.
#[derive(Debug, Clone)]
struct Action {
    wait_ms: u64,
    kind: u8,
    node: u16,
    amount: u32,
}

fn action() -> impl Strategy<Value = Action> {
    (20u64..1_500, 0u8..10, 0u16..8, 0u32..1_000_000).prop_map(|(wait_ms, kind, node, amount)| Action {
        wait_ms,
        kind,
        node,
        amount,
    })
}

fn intervention(run: &Run, a: &Action) -> Intervention {
    let n = run.sim().config().nodes;
    let node = a.node % n;
    match a.kind {
        0 => Intervention::Crash { node },
        1 => Intervention::Restart { node },
        2 => Intervention::Partition { groups: vec![(0..n).filter(|i| *i != node).collect(), vec![node]] },
        3 => Intervention::Heal,
        4 => Intervention::Loss { ppm: a.amount % 300_000 },
        5 => Intervention::LinkDelay {
            from: node,
            to: (node + 1) % n,
            extra_ms: u64::from(a.amount % 500),
            both_ways: a.amount % 2 == 0,
        },
        6 => Intervention::Behaviour {
            node,
            behaviour: hotstuff_core::sim::Behaviour::ALL.get(a.amount as usize % 6).copied(),
        },
        // A message on the wire, if any (else an id that is gone: a refused intervention).
        7 => Intervention::DropMessage {
            id: run.sim().in_flight().nth(a.amount as usize % 7).map_or(u64::MAX, |m| m.id),
        },
        // A crash between two of the replica's actions, in a later step.
        8 => Intervention::CrashDuringStep { node, after_actions: (a.amount % 5) as u16 + 1 },
        // Out of range: refused, and the run goes on unchanged.
        _ => Intervention::Crash { node: n + 9 },
    }
}

fn digest(run: &Run) -> String {
    hex::encode(run.sim().trace_digest().0)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn replaying_a_scenario_reaches_the_same_state_at_every_point_in_any_order(
        seed in 0u64..1_000,
        nodes in prop::sample::select(vec![4u16, 5, 7]),
        actions in prop::collection::vec(action(), 1..7),
        rewinds in prop::collection::vec(any::<prop::sample::Index>(), 1..8),
    ) {
        let config = SimConfig { nodes, seed, record_trace: true, ..SimConfig::default() };
        let mut run = Run::from_config(config).unwrap();
        // The digest at every point the run passes through: after each step, and after each
        // intervention (which happens between steps).
        let mut states: BTreeMap<Point, String> = BTreeMap::new();
        for a in &actions {
            let until = run.sim().now().plus_ms(a.wait_ms);
            while run.sim().next_event_time().is_some_and(|t| t <= until) && run.sim().violation().is_none() {
                run.step().unwrap();
                states.insert(run.point(), digest(&run));
            }
            let iv = intervention(&run, a);
            let before = digest(&run);
            match run.intervene(iv) {
                Ok(()) => { states.insert(run.point(), digest(&run)); }
                Err(_) => prop_assert_eq!(digest(&run), before, "a refused intervention changes nothing"),
            }
        }
        let end = run.point();
        let end_digest = digest(&run);
        let points: Vec<Point> = states.keys().copied().collect();
        for index in &rewinds {
            let point = points[index.index(points.len())];
            run.seek(point).unwrap();
            prop_assert_eq!(run.point(), point);
            prop_assert_eq!(&digest(&run), &states[&point], "at {:?}", point);
        }
        // Every trace entry of the rebuilt run names a point it passed through.
        let (step, _) = run.sim().trace().last().cloned().unwrap();
        prop_assert!(states.keys().any(|p| p.step == step) || step == 0);
        run.seek(end).unwrap();
        prop_assert_eq!(&digest(&run), &end_digest, "forward to the end again");
        // The scenario alone, and its share link, reproduce the run.
        let mut fresh = Run::new(run.scenario().clone()).unwrap();
        fresh.seek(end).unwrap();
        prop_assert_eq!(&digest(&fresh), &end_digest);
        let (scenario, at) = Scenario::from_link(&run.scenario().to_link(Some(end))).unwrap();
        let mut linked = Run::new(scenario).unwrap();
        linked.seek(at.unwrap()).unwrap();
        prop_assert_eq!(&digest(&linked), &end_digest);
        // And seeking by time lands where advancing a fresh run by time does.
        let half = Time(end.time.as_ms() / 2);
        run.seek_time(half).unwrap();
        let mut timed = Run::new(run.scenario().clone()).unwrap();
        timed.advance_to(half, u64::MAX).unwrap();
        prop_assert_eq!(digest(&run), digest(&timed));
    }
}
