//! The cancel flags of the job runs of this process: a `DELETE /api/jobs/{id}` served here
//! stops its run at once. On AWS the DELETE runs in another invocation, so every run also learns
//! the stored flag from each of its writes (within one step).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use crate::services::Core;

/// Job id → its flag and how many runs of this process hold it (a hand-over to a task of the
/// same process registers the next run before the last one has unregistered).
#[derive(Default)]
pub struct CancelFlags(Mutex<HashMap<String, (Arc<AtomicBool>, usize)>>);

impl CancelFlags {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Arc<AtomicBool>, usize)>> {
        // A panic while holding this lock leaves the map intact: go on with it.
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Sets the flag of the job's run in this process, if one runs here.
    pub(crate) fn raise(&self, job_id: &str) {
        if let Some((flag, _)) = self.lock().get(job_id) {
            flag.store(true, Ordering::Release);
        }
    }

    /// Clears the flag (a take-over that starts the job again).
    pub(crate) fn lower(&self, job_id: &str) {
        if let Some((flag, _)) = self.lock().get(job_id) {
            flag.store(false, Ordering::Release);
        }
    }
}

impl Core {
    /// The flag a run of `job_id` watches; call [`Core::unregister_cancel`] when the run ends.
    pub(crate) fn register_cancel(&self, job_id: &str) -> Arc<AtomicBool> {
        let mut flags = self.cancels.lock();
        let (flag, runs) = flags
            .entry(job_id.to_owned())
            .or_insert_with(|| (Arc::default(), 0));
        *runs += 1;
        flag.clone()
    }

    pub(crate) fn unregister_cancel(&self, job_id: &str) {
        let mut flags = self.cancels.lock();
        if let Some((_, runs)) = flags.get_mut(job_id) {
            *runs -= 1;
            if *runs == 0 {
                flags.remove(job_id);
            }
        }
    }
}
