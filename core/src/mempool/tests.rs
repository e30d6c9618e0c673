//! Unit tests of the mempool state machine, one rule per test.

use super::*;

const US: NodeId = NodeId(1);

fn params() -> Parameters {
    // Small batches so that a few short transactions fill one; the delay the timings below use.
    Parameters { batch_size_bytes: 100, max_batch_delay_ms: 10, ..Parameters::default() }
}

fn mempool() -> Mempool {
    Mempool::new(US, Committee::from_seed(1, 4), params())
}

fn at(ms: u64) -> Time {
    Time(ms)
}

fn tx(len: usize, fill: u8) -> Transaction {
    vec![fill; len]
}

/// A batch as peer `author` would seal it.
fn peer_batch(author: u16, fill: u8) -> Batch {
    Batch { author: NodeId(author), transactions: vec![tx(10, fill)] }
}

fn batch_message(from: u16, batch: &Batch) -> Input {
    Input::Message { from: NodeId(from), message: MempoolMessage::Batch(batch.clone()) }
}

fn block(n: u8) -> Digest {
    Digest::of(&[b'b', n])
}

fn fetch(block: Digest, payload: &[Digest], author: u16) -> Input {
    Input::FetchPayload { block, payload: payload.to_vec(), author: NodeId(author) }
}

fn request(digests: &[Digest], to: u16) -> Vec<Action> {
    vec![
        Action::Send { to: NodeId(to), message: MempoolMessage::BatchRequest { digests: digests.to_vec() } },
        Action::Observe(Event::BatchesRequested { digests: digests.to_vec(), to: NodeId(to) }),
    ]
}

fn committed(height: Height, author: u16, payload: &[Digest]) -> Input {
    Input::Committed { height, author: NodeId(author), payload: payload.to_vec() }
}

/// The actions that ask `to` for committed batches (the backfill).
fn backfill_request(digests: &[Digest], to: u16) -> Vec<Action> {
    vec![
        Action::Send { to: NodeId(to), message: MempoolMessage::BatchRequest { digests: digests.to_vec() } },
        Action::Observe(Event::CommittedBatchesRequested { digests: digests.to_vec(), to: NodeId(to) }),
    ]
}

fn backfill_timer(deadline: u64) -> Action {
    Action::SetTimer { timer: Timer::Backfill, deadline: at(deadline) }
}

fn retry_timer(deadline: u64) -> Action {
    Action::SetTimer { timer: Timer::FetchRetry, deadline: at(deadline) }
}

/// The actions that seal `batch` (ours), in order.
fn sealed(batch: &Batch, reason: SealReason) -> Vec<Action> {
    let digest = batch.digest();
    vec![
        Action::StoreBatch { digest: batch.digest(), batch: batch.clone() },
        Action::Broadcast { message: MempoolMessage::Batch(batch.clone()) },
        Action::BatchReady(digest),
        Action::Observe(Event::BatchSealed {
            digest,
            transactions: batch.transactions.len() as u32,
            bytes: batch.size_bytes() as u32,
            samples: batch.transactions.iter().filter_map(|t| sample_id(t)).collect(),
            reason,
        }),
    ]
}

/// The actions that receive `batch` from a peer, without the announcement to consensus.
fn received(batch: &Batch) -> Vec<Action> {
    vec![
        Action::StoreBatch { digest: batch.digest(), batch: batch.clone() },
        Action::Observe(Event::BatchReceived { digest: batch.digest(), author: batch.author }),
    ]
}

#[test]
fn batch_is_sealed_when_full() {
    let mut mempool = mempool();
    assert_eq!(
        mempool.handle(at(5), Input::Transaction(tx(60, 1))),
        vec![Action::SetTimer { timer: Timer::Seal(1), deadline: at(15) }]
    );
    assert_eq!(mempool.view().open_batch_transactions, 1);
    let batch = Batch { author: US, transactions: vec![tx(60, 1), tx(40, 2)] };
    assert_eq!(mempool.handle(at(6), Input::Transaction(tx(40, 2))), sealed(&batch, SealReason::Full));
    assert_eq!(mempool.view(), MempoolView { batches_in_memory: 1, ..MempoolView::default() });
}

#[test]
fn a_sealed_batch_reports_the_sample_transactions_it_carries() {
    let sample = |n: u64| [&[0u8][..], &n.to_le_bytes(), &[7; 20]].concat();
    assert_eq!(sample_id(&sample(42)), Some(42));
    assert_eq!(sample_id(&[0, 1, 2]), None, "too short to carry a sample number");
    assert_eq!(sample_id(&tx(30, 1)), None, "first byte 1: an ordinary transaction");
    let mut mempool = mempool();
    for transaction in [sample(3), tx(30, 1), sample(9)] {
        mempool.handle(at(0), Input::Transaction(transaction));
    }
    let actions = mempool.handle(at(10), Input::Timer(Timer::Seal(1)));
    let samples = actions.iter().find_map(|action| match action {
        Action::Observe(Event::BatchSealed { samples, .. }) => Some(samples.clone()),
        _ => None,
    });
    assert_eq!(samples, Some(vec![3, 9]));
}

#[test]
fn batch_is_sealed_after_max_delay() {
    let mut mempool = mempool();
    mempool.handle(at(0), Input::Transaction(tx(10, 1)));
    mempool.handle(at(3), Input::Transaction(tx(10, 2)));
    let batch = Batch { author: US, transactions: vec![tx(10, 1), tx(10, 2)] };
    assert_eq!(mempool.handle(at(10), Input::Timer(Timer::Seal(1))), sealed(&batch, SealReason::Timer));
    assert_eq!(mempool.view().open_batch_transactions, 0);
}

#[test]
fn stale_seal_timer_is_ignored() {
    let mut mempool = mempool();
    mempool.handle(at(0), Input::Transaction(tx(100, 1)));
    // Batch 1 was sealed full; its timer still fires.
    assert_eq!(mempool.handle(at(10), Input::Timer(Timer::Seal(1))), vec![]);
    // Batch 2 is open: batch 1's timer must not seal it, its own does.
    assert_eq!(
        mempool.handle(at(12), Input::Transaction(tx(10, 2))),
        vec![Action::SetTimer { timer: Timer::Seal(2), deadline: at(22) }]
    );
    assert_eq!(mempool.handle(at(12), Input::Timer(Timer::Seal(1))), vec![]);
    assert_eq!(mempool.view().open_batch_transactions, 1);
    let batch = Batch { author: US, transactions: vec![tx(10, 2)] };
    assert_eq!(mempool.handle(at(22), Input::Timer(Timer::Seal(2))), sealed(&batch, SealReason::Timer));
}

#[test]
fn overdue_batch_is_sealed_before_a_new_transaction_joins_it() {
    let mut mempool = mempool();
    mempool.handle(at(0), Input::Transaction(tx(10, 1)));
    // The seal timer (due at 10) has not been delivered yet when the next transaction comes.
    let batch = Batch { author: US, transactions: vec![tx(10, 1)] };
    let mut expected = sealed(&batch, SealReason::Timer);
    expected.push(Action::SetTimer { timer: Timer::Seal(2), deadline: at(21) });
    assert_eq!(mempool.handle(at(11), Input::Transaction(tx(10, 2))), expected);
    assert_eq!(mempool.handle(at(11), Input::Timer(Timer::Seal(1))), vec![]);
}

#[test]
fn oversized_transaction_is_dropped() {
    let mut mempool = mempool();
    assert_eq!(mempool.handle(at(0), Input::Transaction(tx(TRANSACTION_SIZE_MAX + 1, 1))), vec![]);
    assert_eq!(mempool.view(), MempoolView::default());
    // At the limit it is accepted, in a batch of its own since it is over the batch size.
    let actions = mempool.handle(at(0), Input::Transaction(tx(TRANSACTION_SIZE_MAX, 1)));
    assert!(actions.contains(&Action::BatchReady(
        Batch { author: US, transactions: vec![tx(TRANSACTION_SIZE_MAX, 1)] }.digest()
    )));
}

#[test]
fn peer_batches_are_stored_and_announced_once() {
    let mut mempool = mempool();
    let batch = peer_batch(2, 7);
    let mut expected = received(&batch);
    expected.push(Action::BatchReady(batch.digest()));
    assert_eq!(mempool.handle(at(0), batch_message(2, &batch)), expected);
    assert_eq!(mempool.handle(at(1), batch_message(3, &batch)), vec![]);
    assert_eq!(mempool.view().batches_in_memory, 1);
}

#[test]
fn batch_by_a_non_member_is_rejected() {
    let mut mempool = mempool();
    let batch = peer_batch(9, 7);
    assert_eq!(
        mempool.handle(at(0), batch_message(2, &batch)),
        vec![Action::Observe(Event::rejected(NodeId(2), "batch", &Error::UnknownSigner(NodeId(9))))]
    );
    assert_eq!(mempool.view().batches_in_memory, 0);
}

#[test]
fn payload_ready_at_once_when_all_batches_held() {
    let mut mempool = mempool();
    let theirs = peer_batch(2, 7);
    mempool.handle(at(0), batch_message(2, &theirs));
    mempool.handle(at(0), Input::Transaction(tx(100, 1)));
    let ours = Batch { author: US, transactions: vec![tx(100, 1)] };
    assert_eq!(
        mempool.handle(at(1), fetch(block(1), &[theirs.digest(), ours.digest()], 2)),
        vec![Action::PayloadReady(block(1))]
    );
    assert_eq!(mempool.view().blocks_awaiting_payload, 0);
}

#[test]
fn missing_batches_are_requested_after_the_payload_wait_from_author_first() {
    let mut mempool = mempool();
    let missing = peer_batch(2, 7).digest();
    // Not asked right away: the batch is probably in flight (`payload_wait_ms`).
    assert_eq!(mempool.handle(at(0), fetch(block(1), &[missing], 2)), vec![retry_timer(50)]);
    assert_eq!(
        mempool.view(),
        MempoolView { blocks_awaiting_payload: 1, batches_missing: 1, ..MempoolView::default() }
    );
    let mut expected = request(&[missing], 2);
    expected.push(retry_timer(350));
    assert_eq!(mempool.handle(at(50), Input::Timer(Timer::FetchRetry)), expected);
}

#[test]
fn a_block_registered_while_a_retry_is_armed_is_asked_after_its_own_payload_wait() {
    let mut mempool = mempool();
    let first = peer_batch(2, 1).digest();
    let second = peer_batch(3, 2).digest();
    assert_eq!(mempool.handle(at(0), fetch(block(1), &[first], 2)), vec![retry_timer(50)]);
    let mut expected = request(&[first], 2);
    expected.push(retry_timer(350));
    assert_eq!(mempool.handle(at(50), Input::Timer(Timer::FetchRetry)), expected);
    // The retry of the first block is armed for 350; the second is due at 250: brought forward.
    assert_eq!(mempool.handle(at(200), fetch(block(2), &[second], 3)), vec![retry_timer(250)]);
    let mut expected = request(&[second], 3);
    expected.push(retry_timer(350));
    assert_eq!(mempool.handle(at(250), Input::Timer(Timer::FetchRetry)), expected);
}

#[test]
fn retries_alternate_between_the_author_and_the_other_peers_and_skip_self() {
    // We are n1; the author is n3: every other attempt asks n3, the others n0, n2 (skipping
    // n1) in turn.
    let mut mempool = mempool();
    let missing = peer_batch(3, 7).digest();
    mempool.handle(at(0), fetch(block(1), &[missing], 3));
    for (i, peer) in [3, 0, 3, 2, 3, 0].into_iter().enumerate() {
        let now = 50 + 300 * i as u64;
        let mut expected = request(&[missing], peer);
        expected.push(retry_timer(now + 300));
        assert_eq!(mempool.handle(at(now), Input::Timer(Timer::FetchRetry)), expected, "attempt {i}");
    }
}

#[test]
fn fetch_gives_up_after_asking_every_peer_fetch_rounds_max_times() {
    let mut mempool = mempool();
    let missing = peer_batch(2, 7).digest();
    mempool.handle(at(0), fetch(block(1), &[missing], 2));
    let attempts = FETCH_ROUNDS_MAX as u64 * 3;
    for i in 1..=attempts {
        let actions = mempool.handle(at(300 * i), Input::Timer(Timer::FetchRetry));
        assert_eq!(actions.len(), 3, "attempt {i} asks and re-arms");
    }
    assert_eq!(mempool.handle(at(300 * (attempts + 1)), Input::Timer(Timer::FetchRetry)), vec![]);
    assert_eq!(mempool.view(), MempoolView::default());
    // The batch arriving now is just an unsolicited batch.
    let batch = peer_batch(2, 7);
    assert!(!mempool.handle(at(10_000), batch_message(2, &batch)).contains(&Action::PayloadReady(block(1))));
}

#[test]
fn payload_ready_when_last_missing_batch_arrives() {
    let mut mempool = mempool();
    let (a, b) = (peer_batch(2, 1), peer_batch(3, 2));
    mempool.handle(at(0), fetch(block(1), &[a.digest(), b.digest()], 2));
    mempool.handle(at(0), fetch(block(2), &[b.digest()], 3));
    assert_eq!(mempool.view().batches_missing, 2);
    assert_eq!(mempool.handle(at(10), batch_message(2, &a)), received(&a));
    let mut expected = received(&b);
    expected.extend([Action::PayloadReady(block(1)), Action::PayloadReady(block(2))]);
    assert_eq!(mempool.handle(at(20), batch_message(3, &b)), expected);
    assert_eq!(mempool.view().blocks_awaiting_payload, 0);
    // Nothing left to fetch: the retry neither asks nor re-arms.
    assert_eq!(mempool.handle(at(300), Input::Timer(Timer::FetchRetry)), vec![]);
}

#[test]
fn fetched_batches_are_not_announced_to_consensus() {
    let mut mempool = mempool();
    let batch = peer_batch(2, 7);
    mempool.handle(at(0), fetch(block(1), &[batch.digest()], 2));
    mempool.handle(at(300), Input::Timer(Timer::FetchRetry));
    let actions = mempool.handle(at(310), batch_message(2, &batch));
    assert!(!actions.contains(&Action::BatchReady(batch.digest())));
    let mut expected = received(&batch);
    expected.push(Action::PayloadReady(block(1)));
    assert_eq!(actions, expected);
}

#[test]
fn a_batch_missing_for_two_blocks_is_requested_once() {
    let mut mempool = mempool();
    let (shared, other) = (peer_batch(2, 1).digest(), peer_batch(3, 2).digest());
    mempool.handle(at(0), fetch(block(1), &[shared], 2));
    mempool.handle(at(0), fetch(block(2), &[shared, other], 3));
    let mut requested: Vec<Digest> = mempool
        .handle(at(300), Input::Timer(Timer::FetchRetry))
        .into_iter()
        .filter_map(|action| match action {
            Action::Send { message: MempoolMessage::BatchRequest { digests, .. }, .. } => Some(digests),
            _ => None,
        })
        .flatten()
        .collect();
    requested.sort();
    let mut expected = vec![shared, other];
    expected.sort();
    assert_eq!(requested, expected);
}

#[test]
fn requests_are_served_from_memory_or_store() {
    let mut mempool = mempool();
    let held = peer_batch(2, 1);
    let gone = peer_batch(3, 2).digest();
    mempool.handle(at(0), batch_message(2, &held));
    let ask = |digests: Vec<Digest>, requester: u16| Input::Message {
        from: NodeId(requester),
        message: MempoolMessage::BatchRequest { digests },
    };
    assert_eq!(
        mempool.handle(at(1), ask(vec![held.digest(), gone, held.digest()], 0)),
        vec![
            Action::Send { to: NodeId(0), message: MempoolMessage::Batch(held.clone()) },
            Action::ServeFromStore { digests: vec![gone], to: NodeId(0) },
        ]
    );
    assert_eq!(
        mempool.handle(at(2), ask(vec![held.digest()], 3)),
        vec![Action::Send { to: NodeId(3), message: MempoolMessage::Batch(held.clone()) }]
    );
    // Our own requests (echoed back) and requests for nobody are ignored.
    assert_eq!(mempool.handle(at(3), ask(vec![held.digest()], US.0)), vec![]);
    assert_eq!(mempool.handle(at(3), ask(vec![held.digest()], 9)), vec![]);
}

#[test]
fn requests_are_bounded() {
    let mut mempool = mempool();
    let digests: Vec<Digest> =
        (0..BATCH_REQUEST_DIGESTS_MAX as u32 + 10).map(|i| Digest::of(&i.to_le_bytes())).collect();
    let input = Input::Message {
        from: NodeId(0),
        message: MempoolMessage::BatchRequest { digests: digests.clone() },
    };
    assert_eq!(
        mempool.handle(at(0), input),
        vec![Action::ServeFromStore {
            digests: digests[..BATCH_REQUEST_DIGESTS_MAX].to_vec(),
            to: NodeId(0)
        }]
    );
}

#[test]
fn committed_batches_leave_memory() {
    let mut mempool = mempool();
    let batch = peer_batch(2, 1);
    mempool.handle(at(0), batch_message(2, &batch));
    assert_eq!(mempool.handle(at(1), committed(1, 2, &[batch.digest()])), vec![]);
    assert_eq!(mempool.view().batches_in_memory, 0);
    // Still available (the store has it): a block carrying it needs no fetch...
    assert_eq!(
        mempool.handle(at(2), fetch(block(1), &[batch.digest()], 2)),
        vec![Action::PayloadReady(block(1))]
    );
    // ...the batch is not taken in again...
    assert_eq!(mempool.handle(at(3), batch_message(3, &batch)), vec![]);
    // ...and peers asking for it are served from the store.
    let ask = Input::Message {
        from: NodeId(0),
        message: MempoolMessage::BatchRequest { digests: vec![batch.digest()] },
    };
    assert_eq!(
        mempool.handle(at(4), ask),
        vec![Action::ServeFromStore { digests: vec![batch.digest()], to: NodeId(0) }]
    );
}

#[test]
fn block_waiting_on_a_committed_batch_is_dropped() {
    let mut mempool = mempool();
    let (a, b) = (peer_batch(2, 1), peer_batch(2, 2));
    mempool.handle(at(0), fetch(block(1), &[a.digest(), b.digest()], 2));
    // The block committed without its batches here: they are backfilled, no longer fetched for
    // a vote.
    // Asked in digest order within the height, spread over peers: the first of the two from the
    // author, the second from the next peer.
    let (first, second) = (a.digest().min(b.digest()), a.digest().max(b.digest()));
    let mut backfill = backfill_request(&[first], 2);
    backfill.extend(backfill_request(&[second], 3));
    backfill.push(backfill_timer(301));
    assert_eq!(mempool.handle(at(1), committed(1, 2, &[a.digest(), b.digest()])), backfill);
    assert_eq!(mempool.view(), MempoolView { batches_backfilling: 2, ..MempoolView::default() });
    // Nothing to ask for the vote any more; the batch arriving is no reason to release the block.
    assert_eq!(mempool.handle(at(300), Input::Timer(Timer::FetchRetry)), vec![]);
    assert!(!mempool.handle(at(301), batch_message(2, &a)).contains(&Action::PayloadReady(block(1))));
}

#[test]
fn a_committed_block_whose_batches_are_not_here_has_them_fetched_from_its_author_and_stored() {
    let mut mempool = mempool();
    let batch = peer_batch(2, 1);
    let mut expected = backfill_request(&[batch.digest()], 2);
    expected.push(backfill_timer(300));
    assert_eq!(mempool.handle(at(0), committed(7, 2, &[batch.digest()])), expected);
    assert_eq!(mempool.view().batches_backfilling, 1);
    // Stored for the commit stream; not held in memory, not offered to consensus (committed).
    assert_eq!(mempool.handle(at(20), batch_message(2, &batch)), received(&batch));
    assert_eq!(mempool.view(), MempoolView::default());
    // Nothing more to ask.
    assert_eq!(mempool.handle(at(300), Input::Timer(Timer::Backfill)), vec![]);
}

#[test]
fn a_committed_batch_not_served_is_asked_again_of_another_peer() {
    let mut mempool = mempool();
    let batch = peer_batch(2, 1);
    mempool.handle(at(0), committed(7, 2, &[batch.digest()]));
    let mut expected = backfill_request(&[batch.digest()], 3);
    expected.push(backfill_timer(600));
    assert_eq!(mempool.handle(at(300), Input::Timer(Timer::Backfill)), expected);
}

#[test]
fn the_backfill_asks_a_bounded_window_lowest_heights_first_and_refills_it_as_batches_arrive() {
    let mut mempool = mempool();
    let batches: Vec<Batch> = (0..BACKFILL_IN_FLIGHT_MAX as u32 + 10)
        .map(|i| Batch { author: NodeId(2), transactions: vec![i.to_le_bytes().to_vec()] })
        .collect();
    let asked = |actions: &[Action]| -> Vec<Digest> {
        actions
            .iter()
            .filter_map(|action| match action {
                Action::Observe(Event::CommittedBatchesRequested { digests, .. }) => Some(digests.clone()),
                _ => None,
            })
            .flatten()
            .collect()
    };
    let mut all = Vec::new();
    for (i, batch) in batches.iter().enumerate() {
        all.extend(asked(&mempool.handle(at(0), committed(i as u64 + 1, 2, &[batch.digest()]))));
    }
    let window: Vec<Digest> = batches[..BACKFILL_IN_FLIGHT_MAX].iter().map(Batch::digest).collect();
    let mut sorted = all.clone();
    sorted.sort();
    let mut expected = window.clone();
    expected.sort();
    assert_eq!(sorted, expected, "the lowest heights' batches, each asked once, and no more");
    assert_eq!(mempool.view().batches_backfilling, batches.len());
    // One arrives: the next height's batch is asked.
    let next = asked(&mempool.handle(at(10), batch_message(2, &batches[0])));
    assert_eq!(next, vec![batches[BACKFILL_IN_FLIGHT_MAX].digest()]);
}

#[test]
fn a_committed_batch_no_peer_serves_is_given_up_after_rounds_of_asking_every_peer() {
    let mut mempool = mempool();
    let batch = peer_batch(2, 1);
    mempool.handle(at(0), committed(7, 2, &[batch.digest()]));
    let mut now = 0;
    let mut requests = 1;
    let given_up = loop {
        now += 300;
        let actions = mempool.handle(at(now), Input::Timer(Timer::Backfill));
        if let Some(event) = actions.iter().find_map(|action| match action {
            Action::Observe(event @ Event::CommittedBatchesGivenUp { .. }) => Some(event.clone()),
            _ => None,
        }) {
            break event;
        }
        requests += 1;
        assert!(requests <= 100, "never given up");
    };
    assert_eq!(given_up, Event::CommittedBatchesGivenUp { height: 7, batches: 1 });
    assert_eq!(requests, BACKFILL_ROUNDS_MAX * 3, "each of the three peers asked that many times");
    assert_eq!(mempool.view(), MempoolView::default());
}

#[test]
fn a_restarted_mempool_backfills_what_its_store_lacks_and_takes_no_committed_batch_it_holds_for_news() {
    let batch = peer_batch(0, 1);
    let kept = peer_batch(0, 2);
    let committed = crate::store::CommittedBatches {
        missing: vec![(9, NodeId(0), vec![batch.digest()])],
        stored: vec![kept.digest()],
    };
    let mut mempool = Mempool::new(US, Committee::from_seed(1, 4), params()).recovering(committed);
    let mut expected = backfill_request(&[batch.digest()], 0);
    expected.push(backfill_timer(305));
    // Any input: here a seal timer of the batch it was filling before the crash.
    assert_eq!(mempool.handle(at(5), Input::Timer(Timer::Seal(1))), expected);
    // A committed batch it holds, arriving late: not news, not offered to consensus again.
    assert_eq!(mempool.handle(at(6), batch_message(0, &kept)), vec![]);
    assert_eq!(
        mempool.handle(at(7), fetch(block(1), &[kept.digest()], 0)),
        vec![Action::PayloadReady(block(1))]
    );
}

#[test]
fn unsolicited_batches_are_capped_but_requested_ones_are_kept() {
    let mut mempool = mempool();
    let batches: Vec<Batch> = (0..=BATCHES_IN_MEMORY_MAX as u32)
        .map(|i| Batch { author: NodeId(2), transactions: vec![i.to_le_bytes().to_vec()] })
        .collect();
    let (extra, fill) = batches.split_last().expect("non-empty");
    for batch in fill {
        mempool.handle(at(0), batch_message(2, batch));
    }
    assert_eq!(mempool.view().batches_in_memory, BATCHES_IN_MEMORY_MAX);
    assert_eq!(mempool.handle(at(1), batch_message(2, extra)), vec![]);
    assert_eq!(mempool.view().batches_in_memory, BATCHES_IN_MEMORY_MAX);
    // Asked for, it is kept: the oldest batch moves out to the store to make room, and still
    // counts as available.
    mempool.handle(at(2), fetch(block(1), &[extra.digest()], 2));
    let mut expected = received(extra);
    expected.push(Action::PayloadReady(block(1)));
    assert_eq!(mempool.handle(at(3), batch_message(2, extra)), expected);
    assert_eq!(mempool.view().batches_in_memory, BATCHES_IN_MEMORY_MAX);
    assert_eq!(
        mempool.handle(at(4), fetch(block(2), &[fill[0].digest()], 2)),
        vec![Action::PayloadReady(block(2))]
    );
}

#[test]
fn waiting_blocks_are_bounded_oldest_dropped_first() {
    let mut mempool = mempool();
    let digests: Vec<Digest> = (0..=AWAITING_BLOCKS_MAX as u8).map(|i| peer_batch(2, i).digest()).collect();
    for (i, digest) in digests.iter().enumerate() {
        mempool.handle(at(0), fetch(block(i as u8), &[*digest], 2));
    }
    assert_eq!(mempool.view().blocks_awaiting_payload, AWAITING_BLOCKS_MAX);
    assert_eq!(mempool.view().batches_missing, AWAITING_BLOCKS_MAX);
    // The first block was dropped: its batch now arrives as an ordinary, unasked batch.
    let first = peer_batch(2, 0);
    let mut expected = received(&first);
    expected.push(Action::BatchReady(first.digest()));
    assert_eq!(mempool.handle(at(1), batch_message(2, &first)), expected);
    let last = peer_batch(2, AWAITING_BLOCKS_MAX as u8);
    let mut expected = received(&last);
    expected.push(Action::PayloadReady(block(AWAITING_BLOCKS_MAX as u8)));
    assert_eq!(mempool.handle(at(1), batch_message(2, &last)), expected);
}

#[test]
fn batch_transactions_encode_as_byte_strings_with_the_same_bytes_as_number_sequences() {
    // What serde's derive would have written for the batch without `transaction_bytes`.
    #[derive(Serialize)]
    struct PlainBatch {
        author: NodeId,
        transactions: Vec<Vec<u8>>,
    }
    let transactions = vec![vec![], tx(1, 7), tx(300, 9), (0..=255).collect()];
    let batch = Batch { author: NodeId(3), transactions: transactions.clone() };
    let encoded = postcard::to_allocvec(&batch).unwrap();
    assert_eq!(encoded, postcard::to_allocvec(&PlainBatch { author: NodeId(3), transactions }).unwrap());
    assert_eq!(postcard::from_bytes::<Batch>(&encoded).unwrap(), batch);
}

/// A peer is served at most `budget::BATCHES_SERVED` batches at once: before, a member could
/// ask for 4,096 batches (up to 2 GB) with every request of a few kilobytes, and each was served.
#[test]
fn a_peer_asking_past_its_allowance_of_batches_is_refused_until_it_refills() {
    let mut mempool = mempool();
    let digests: Vec<Digest> =
        (0..BATCH_REQUEST_DIGESTS_MAX as u32).map(|i| Digest::of(&i.to_le_bytes())).collect();
    let request = || Input::Message {
        from: NodeId(0),
        message: MempoolMessage::BatchRequest { digests: digests.clone() },
    };
    let served = Action::ServeFromStore { digests: digests.clone(), to: NodeId(0) };
    assert_eq!(mempool.handle(at(0), request()), vec![served.clone()]);
    assert_eq!(mempool.handle(at(0), request()), vec![served.clone()]);
    let refused = mempool.handle(at(0), request());
    assert!(
        matches!(&refused[..], [Action::Observe(Event::MessageRejected { from: NodeId(0), .. })]),
        "{refused:?}"
    );
    // The allowance comes back at its rate: a block's worth in half a second.
    assert_eq!(mempool.handle(at(500), request()), vec![served]);
}

#[test]
fn a_committed_batch_given_up_and_arriving_later_is_stored_and_never_offered_to_consensus() {
    let mut mempool = mempool();
    let batch = peer_batch(2, 1);
    mempool.handle(at(0), committed(7, 2, &[batch.digest()]));
    let mut now = 0;
    loop {
        now += 300;
        let actions = mempool.handle(at(now), Input::Timer(Timer::Backfill));
        if actions.iter().any(|a| matches!(a, Action::Observe(Event::CommittedBatchesGivenUp { .. }))) {
            break;
        }
    }
    // A late answer: consensus would propose it again (it may be far below the window in which
    // consensus recognises committed batches), so it is only stored.
    assert_eq!(mempool.handle(at(now + 1), batch_message(3, &batch)), received(&batch));
}

#[test]
fn committed_batches_below_what_peers_keep_are_given_up_at_once() {
    let mut mempool = mempool();
    let retain = params().retain_heights;
    let (old, new) = (peer_batch(2, 1), peer_batch(2, 2));
    mempool.handle(at(0), committed(5, 2, &[old.digest()]));
    let actions = mempool.handle(at(1), committed(5 + retain, 2, &[new.digest()]));
    assert!(actions.contains(&Action::Observe(Event::CommittedBatchesGivenUp { height: 5, batches: 1 })));
    assert_eq!(mempool.view().batches_backfilling, 1, "only the batch peers still keep");
}
