//! Giving memory back to the system after a burst of work (a listing of every session,
//! a bulk load). glibc keeps freed memory in its arenas, one per thread that allocated,
//! so a gateway's daemon would otherwise stay at its high-water mark for good.

/// Returns freed heap memory to the system where the allocator supports it.
pub fn give_back() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free memory; it takes no pointers.
    unsafe {
        libc::malloc_trim(0);
    }
}
