//! Helper threads for reads that span several segments.
//!
//! A lookup page often takes its events from several segments, and reading them is CPU work
//! (decompressing pages, decoding columns, parsing records). The store keeps a few threads, one
//! fewer than the cores, to read some segments while the lookup's own thread reads the others.
//! They live as long as the store: threads started per lookup cost more than they saved, as
//! each new thread began with a cold allocator (measured: the slowest 1% of rare-event lookups
//! took twice as long).

use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use crate::error::{IoContext, Result};

type Job = Box<dyn FnOnce() + Send + 'static>;

/// At most this many helper threads, whatever the cores.
const MAX_HELPERS: usize = 3;

pub(crate) struct ReaderPool {
    /// `None` once the pool is stopping.
    jobs: Option<Sender<Job>>,
    threads: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for ReaderPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReaderPool")
            .field("threads", &self.threads.len())
            .finish()
    }
}

impl ReaderPool {
    /// One helper fewer than the machine's cores (none on one core).
    pub(crate) fn start() -> Result<ReaderPool> {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        ReaderPool::with_helpers((cores - 1).min(MAX_HELPERS))
    }

    fn with_helpers(helpers: usize) -> Result<ReaderPool> {
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        let threads = (0..helpers)
            .map(|i| {
                let queue = queue.clone();
                let name = format!("cairn-store-read-{i}");
                std::thread::Builder::new()
                    .name(name.clone())
                    .spawn(move || help(&queue))
                    .context(|| format!("starting thread {name}"))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(ReaderPool {
            jobs: Some(jobs),
            threads,
        })
    }

    /// Runs every task and returns their results in order: the first share of them on the
    /// calling thread, the others on the helpers, each share about the same `weight`.
    pub(crate) fn run_all<T: Send + 'static>(
        &self,
        mut tasks: Vec<(usize, Box<dyn FnOnce() -> T + Send + 'static>)>,
    ) -> Vec<T> {
        let workers = self.threads.len() + 1;
        let Some(jobs) = self
            .jobs
            .as_ref()
            .filter(|_| workers > 1 && tasks.len() > 1)
        else {
            return tasks.into_iter().map(|(_, task)| task()).collect();
        };
        // Heaviest first, each to the least loaded worker (0 is this thread).
        let mut order: Vec<usize> = (0..tasks.len()).collect();
        order.sort_unstable_by_key(|&i| std::cmp::Reverse(tasks[i].0));
        let mut load = vec![0usize; workers];
        let mut worker_of = vec![0usize; tasks.len()];
        for i in order {
            let worker = (0..workers).min_by_key(|&w| load[w]).unwrap_or(0);
            load[worker] += tasks[i].0.max(1);
            worker_of[i] = worker;
        }
        let mut results: Vec<Option<T>> = (0..tasks.len()).map(|_| None).collect();
        let (done, finished) = mpsc::channel::<(usize, T)>();
        let mut sent = 0;
        let mut mine = Vec::new();
        for (i, (_, task)) in tasks.drain(..).enumerate() {
            if worker_of[i] == 0 {
                mine.push((i, task));
                continue;
            }
            let done = done.clone();
            let job: Job = Box::new(move || {
                let _ = done.send((i, task()));
            });
            match jobs.send(job) {
                Ok(()) => sent += 1,
                // No helper left to take it (cannot happen while the pool lives): do it here.
                Err(mpsc::SendError(job)) => job(),
            }
        }
        drop(done);
        for (i, task) in mine {
            results[i] = Some(task());
        }
        for _ in 0..sent {
            match finished.recv() {
                Ok((i, result)) => results[i] = Some(result),
                // A task panicked on a helper: panic here, as it would have without helpers.
                Err(_) => panic!("a segment read panicked on a helper thread"),
            }
        }
        // Results of tasks run inline by a failed send arrived through `finished` too.
        while let Ok((i, result)) = finished.try_recv() {
            results[i] = Some(result);
        }
        results.into_iter().flatten().collect()
    }
}

/// A helper's life: take jobs until the pool stops; a job's panic ends the job, not the
/// helper (its caller sees it as a missing result).
fn help(queue: &Mutex<Receiver<Job>>) {
    loop {
        let job = match queue.lock() {
            Ok(queue) => queue.recv(),
            Err(_) => return,
        };
        let Ok(job) = job else {
            return;
        };
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
    }
}

impl Drop for ReaderPool {
    fn drop(&mut self) {
        self.jobs = None;
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Task = Box<dyn FnOnce() -> (usize, String) + Send>;

    fn tasks(n: usize) -> Vec<(usize, Task)> {
        (0..n)
            .map(|i| {
                let task: Task = Box::new(move || {
                    let name = std::thread::current().name().unwrap_or("caller").to_owned();
                    (i, name)
                });
                (n - i, task)
            })
            .collect()
    }

    #[test]
    fn every_task_runs_once_and_results_come_back_in_order() {
        for pool in [ReaderPool::with_helpers(0), ReaderPool::with_helpers(2)] {
            let pool = pool.unwrap();
            for n in [0, 1, 2, 7, 40] {
                let results = pool.run_all(tasks(n));
                let order: Vec<usize> = results.iter().map(|(i, _)| *i).collect();
                assert_eq!(order, (0..n).collect::<Vec<_>>());
                if n > 1 && !pool.threads.is_empty() {
                    // The work was shared: some ran on a helper, some on this thread.
                    assert!(
                        results
                            .iter()
                            .any(|(_, t)| t.starts_with("cairn-store-read-"))
                    );
                    assert!(
                        results
                            .iter()
                            .any(|(_, t)| !t.starts_with("cairn-store-read-"))
                    );
                }
            }
        }
    }

    #[test]
    #[should_panic(expected = "panicked on a helper thread")]
    fn a_task_that_panics_on_a_helper_panics_the_caller() {
        let pool = ReaderPool::with_helpers(1).unwrap();
        // The lighter task goes to a helper; the heavier one stays on this thread.
        let heavy: Box<dyn FnOnce() -> u32 + Send> = Box::new(|| 1);
        let failing: Box<dyn FnOnce() -> u32 + Send> = Box::new(|| panic!("boom"));
        pool.run_all(vec![(10, heavy), (1, failing)]);
    }
}
