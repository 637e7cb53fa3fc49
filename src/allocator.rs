//! The allocator policy of the local server: memory freed after a burst goes back to the system.
//!
//! glibc's defaults keep it: a freed large block raises the mmap threshold to its size, so the
//! next 19 MiB Argon2 buffer comes from a per-thread arena instead of its own mapping, and the
//! trim threshold rises with it, so the arena keeps the block for good (64 concurrent logins
//! took the server from 18 MB to 700 MB, never returned). Fixed thresholds turn that adaptation
//! off: blocks of 256 KiB and more are mapped and unmapped on their own, arenas give back free
//! tops above 256 KiB, and at most two arenas per core exist.

/// Applies the policy; to be called before any thread starts.
pub fn return_memory_to_the_system() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        const LARGE: libc::c_int = 256 * 1024;
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let arenas = libc::c_int::try_from(2 * cores).unwrap_or(libc::c_int::MAX);
        // SAFETY: mallopt only sets allocator parameters; no thread allocates concurrently yet.
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, LARGE);
            libc::mallopt(libc::M_TRIM_THRESHOLD, LARGE);
            libc::mallopt(libc::M_ARENA_MAX, arenas);
        }
    }
}
