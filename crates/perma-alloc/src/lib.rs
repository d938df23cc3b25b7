//! perma's global allocator: [`mimalloc`] for blocks under [`LARGE`], a memory mapping of
//! their own for larger ones.
//!
//! Delivery allocates many small, short-lived objects, which mimalloc serves fastest. Image
//! renders allocate a few large buffers (decoded pixels, encoder planes: tens to hundreds of
//! MB) on whichever blocking thread runs them. mimalloc gives freed memory back to the
//! system only after a delay and only when that thread's heap is used again, and glibc
//! keeps blocks under its (growing) mapping threshold in per-thread arenas: either way the
//! process kept what earlier renders freed, and its resident size grew past the render
//! memory budget (bench/render_attack.sh). A block with a mapping of its own is returned to
//! the system the moment it is freed, so the resident size follows the renders in progress.
//!
//! This crate is the one place with `unsafe`: the [`GlobalAlloc`] contract itself. Every
//! block is freed by the allocator that made it, told apart by its size, which the contract
//! guarantees is the same at `dealloc` as at `alloc` (and is the new size after `realloc`).

use std::alloc::{GlobalAlloc, Layout};
use std::ffi::c_void;

use mimalloc::MiMalloc;
use rustix::mm::{mmap_anonymous, mremap, munmap, MapFlags, MremapFlags, ProtFlags};

/// Blocks of at least this many bytes get a mapping of their own (above the 1 MiB buffers
/// that delivery streams with, so its hot path never maps).
pub const LARGE: usize = 2 << 20;

/// Mappings are page-aligned: larger alignments go to mimalloc, whatever the size.
const PAGE: usize = 4096;

/// The split allocator; install it with `#[global_allocator]`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Split;

fn mapped(layout: &Layout) -> bool {
    layout.size() >= LARGE && layout.align() <= PAGE
}

/// A fresh mapping of `size` bytes (zeroed by the kernel), or null.
unsafe fn map(size: usize) -> *mut u8 {
    match mmap_anonymous(
        std::ptr::null_mut(),
        size,
        ProtFlags::READ | ProtFlags::WRITE,
        MapFlags::PRIVATE,
    ) {
        Ok(p) => p.cast(),
        Err(_) => std::ptr::null_mut(),
    }
}

// SAFETY: each method forwards to mimalloc or to the kernel's mappings, chosen by the
// block's layout; a block is always freed or resized by the allocator that made it (see the
// module doc), and a block that crosses the threshold on `realloc` is moved with a copy of
// the smaller of the two sizes. Mappings are page-aligned, which covers every alignment
// they are used for.
unsafe impl GlobalAlloc for Split {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if mapped(&layout) {
            map(layout.size())
        } else {
            MiMalloc.alloc(layout)
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if mapped(&layout) {
            map(layout.size())
        } else {
            MiMalloc.alloc_zeroed(layout)
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if mapped(&layout) {
            let _ = munmap(ptr.cast::<c_void>(), layout.size());
        } else {
            MiMalloc.dealloc(ptr, layout)
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let new_layout = Layout::from_size_align_unchecked(new_size, layout.align());
        match (mapped(&layout), mapped(&new_layout)) {
            (false, false) => MiMalloc.realloc(ptr, layout, new_size),
            (true, true) => {
                match mremap(ptr.cast(), layout.size(), new_size, MremapFlags::MAYMOVE) {
                    Ok(p) => p.cast(),
                    Err(_) => std::ptr::null_mut(),
                }
            }
            _ => {
                let new = self.alloc(new_layout);
                if !new.is_null() {
                    std::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size));
                    self.dealloc(ptr, layout);
                }
                new
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_move_between_the_allocators_intact() {
        unsafe {
            let a = Split;
            let small = Layout::from_size_align(1000, 16).unwrap();
            let p = a.alloc(small);
            assert!(!p.is_null());
            for i in 0..1000 {
                *p.add(i) = (i % 251) as u8;
            }
            // Small → large → larger (mremap) → small, contents kept each time.
            let q = a.realloc(p, small, LARGE + 10);
            assert!(!q.is_null());
            assert!((0..1000).all(|i| *q.add(i) == (i % 251) as u8));
            *q.add(LARGE + 9) = 7;
            let big = Layout::from_size_align(LARGE + 10, 16).unwrap();
            let q = a.realloc(q, big, 3 * LARGE);
            assert!(!q.is_null());
            assert!((0..1000).all(|i| *q.add(i) == (i % 251) as u8));
            assert_eq!(*q.add(LARGE + 9), 7);
            let bigger = Layout::from_size_align(3 * LARGE, 16).unwrap();
            let r = a.realloc(q, bigger, 500);
            assert!((0..500).all(|i| *r.add(i) == (i % 251) as u8));
            a.dealloc(r, Layout::from_size_align(500, 16).unwrap());
            let z = a.alloc_zeroed(big);
            assert!((0..LARGE + 10).step_by(4096).all(|i| *z.add(i) == 0));
            a.dealloc(z, big);
            // A large block with a larger alignment than a page is mimalloc's.
            let odd = Layout::from_size_align(LARGE, 2 * PAGE).unwrap();
            let o = a.alloc(odd);
            assert_eq!(o as usize % (2 * PAGE), 0);
            a.dealloc(o, odd);
        }
    }
}
