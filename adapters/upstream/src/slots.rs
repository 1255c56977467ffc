//! Start slots: how many local servers start at once.
//!
//! Starting a stdio server is mostly CPU (an interpreter loading its modules). Launched all
//! at once on a small machine, every one of them gets a sliver of the CPU, each misses its
//! `init_timeout`, is killed and tried again, and a cold start of many servers never settles.
//! A server therefore takes a slot before its process is launched and gives it back once its
//! first tool list is in (or the start failed); `init_timeout` is counted from the moment it
//! holds the slot, so waiting for one is never charged to it. Waiting servers are served in
//! the order of their rank (lower first: the servers an agent needs), then first come.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::oneshot;

#[derive(Debug)]
struct State {
    capacity: usize,
    in_use: usize,
    next: u64,
    /// (rank, arrival) → the waiter, woken with its slot already counted in `in_use`.
    waiting: BTreeMap<(usize, u64), oneshot::Sender<Slot>>,
}

/// The slots shared by every supervisor of a pool.
#[derive(Debug, Clone)]
pub struct StartSlots(Arc<Mutex<State>>);

/// A held slot; dropping it hands it to the next waiter.
#[derive(Debug)]
pub struct Slot(Option<StartSlots>);

impl StartSlots {
    pub fn new(capacity: usize) -> Self {
        Self(Arc::new(Mutex::new(State {
            capacity: capacity.max(1),
            in_use: 0,
            next: 0,
            waiting: BTreeMap::new(),
        })))
    }

    /// The slots by default: one per core the proxy may use.
    pub fn by_cores() -> usize {
        std::thread::available_parallelism().map_or(2, std::num::NonZero::get)
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // The state stays consistent at every step: a panic elsewhere cannot break it.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Changes how many servers may start at once; waiters are let in if there is room.
    pub fn set_capacity(&self, capacity: usize) {
        let mut state = self.state();
        state.capacity = capacity.max(1);
        self.wake(&mut state);
    }

    /// The number of slots and how many are taken.
    pub fn usage(&self) -> (usize, usize) {
        let state = self.state();
        (state.capacity, state.in_use)
    }

    /// Waits for a slot; servers of a lower `rank` are let in first.
    pub async fn acquire(&self, rank: usize) -> Slot {
        let waiting = {
            let mut state = self.state();
            if state.in_use < state.capacity && state.waiting.is_empty() {
                state.in_use += 1;
                return Slot(Some(self.clone()));
            }
            let (tx, rx) = oneshot::channel();
            let arrival = state.next;
            state.next += 1;
            state.waiting.insert((rank, arrival), tx);
            rx
        };
        // The sender is dropped only after it sent (it lives in the map until woken), so
        // an error means the slots themselves are gone: run unbounded rather than hang.
        waiting.await.unwrap_or(Slot(None))
    }

    /// Hands free slots to the first waiters still waiting.
    fn wake(&self, state: &mut State) {
        while state.in_use < state.capacity {
            let Some((_, tx)) = state.waiting.pop_first() else {
                return;
            };
            state.in_use += 1;
            if let Err(mut slot) = tx.send(Slot(Some(self.clone()))) {
                // That waiter stopped waiting (its server was stopped): the slot is free
                // again. Forget it without running its drop, which would lock again.
                slot.0 = None;
                state.in_use -= 1;
            }
        }
    }

    fn release(&self) {
        let mut state = self.state();
        state.in_use = state.in_use.saturating_sub(1);
        self.wake(&mut state);
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Some(slots) = self.0.take() {
            slots.release();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn slots_bound_the_starts_and_go_by_rank_then_arrival() {
        let slots = StartSlots::new(2);
        let a = slots.acquire(5).await;
        let b = slots.acquire(5).await;
        assert_eq!(slots.usage(), (2, 2));
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut waiters = Vec::new();
        for (name, rank) in [("late", 9), ("needed", 0), ("next", 9)] {
            let slots = slots.clone();
            let order = order.clone();
            waiters.push(tokio::spawn(async move {
                let slot = slots.acquire(rank).await;
                order.lock().unwrap().push(name);
                slot
            }));
            tokio::task::yield_now().await;
        }
        // Nobody gets in while both slots are held.
        tokio::task::yield_now().await;
        assert!(order.lock().unwrap().is_empty());
        drop(a);
        let first = waiters.remove(1).await.unwrap();
        assert_eq!(*order.lock().unwrap(), ["needed"]);
        drop(b);
        drop(first);
        for w in waiters {
            drop(w.await.unwrap());
        }
        assert_eq!(*order.lock().unwrap(), ["needed", "late", "next"]);
        assert_eq!(slots.usage(), (2, 0));
    }

    #[tokio::test]
    async fn a_waiter_that_gave_up_does_not_keep_a_slot_and_more_room_lets_waiters_in() {
        let slots = StartSlots::new(1);
        let held = slots.acquire(0).await;
        let gave_up = {
            let slots = slots.clone();
            tokio::spawn(async move { slots.acquire(0).await })
        };
        tokio::task::yield_now().await;
        gave_up.abort();
        let _ = gave_up.await;
        let waiter = {
            let slots = slots.clone();
            tokio::spawn(async move { slots.acquire(1).await })
        };
        tokio::task::yield_now().await;
        drop(held);
        let slot = waiter.await.unwrap();
        assert_eq!(slots.usage(), (1, 1));
        drop(slot);
        assert_eq!(slots.usage(), (1, 0));

        let one = slots.acquire(0).await;
        let two = {
            let slots = slots.clone();
            tokio::spawn(async move { slots.acquire(0).await })
        };
        tokio::task::yield_now().await;
        slots.set_capacity(2);
        let two = two.await.unwrap();
        assert_eq!(slots.usage(), (2, 2));
        drop((one, two));
    }
}
